package authz

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/status"

	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/model"
)

// deny builds the answer to a denied request: the group's gateway response
// set when it customises the error's type, else the built-in answer of the
// group's dialect. Only denials pay for this; allowed requests never look
// at the set.
func (d decision) deny(e *apigerr.Error, r *request) *authv3.CheckResponse {
	if d.dep != nil && d.dep.api.Responses != nil {
		if out, ok := d.dep.api.Responses.Render(e, r.requestID); ok {
			return customDenied(e, out)
		}
	}
	return denied(e, d.dialect(r), r.requestID)
}

// customDenied is denied for an answer rendered from a response set.
func customDenied(e *apigerr.Error, out model.Rendered) *authv3.CheckResponse {
	headers := make([]*corev3.HeaderValueOption, 0, 1+len(out.Headers))
	headers = append(headers, jsonContentType)
	for _, h := range out.Headers {
		headers = append(headers, setHeader(h[0], h[1]))
	}
	return &authv3.CheckResponse{
		Status: &status.Status{Code: int32(code.Code_PERMISSION_DENIED), Message: e.ID},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(out.Status)},
			Headers: headers,
			Body:    string(out.Body),
		}},
	}
}

// missingCredential marks e as an authentication failure without a
// credential (response type AUTH_HEADER_MISSING).
func missingCredential(e *apigerr.Error) *apigerr.Error {
	e.CredentialMissing = true
	return e
}
