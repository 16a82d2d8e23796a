package authz

import (
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/status"

	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/model"
)

var (
	okStatus        = &status.Status{Code: int32(code.Code_OK)}
	jsonContentType = setHeader("content-type", "application/json")
)

// response builds the OK answer: the caller's and the API's identity headers
// upstream, every other x-apig-* header the client sent (forged identity
// headers among them) removed, and the caller's identity as dynamic
// metadata for rate limiting where the deployment's rate limits read it
// (deployment.metadata: Envoy copies each metadata field into the request's
// stream info, ~10k instructions per request, for nothing where no
// descriptor reads it). A header the request does not have is not
// named for removal: removing it would change nothing upstream, and each
// name costs Envoy a header-mutation check and a header-map lookup per
// request (with apigw's xDS configuration, the strip_client_headers early
// header mutation has already removed the client's x-apig-* headers, so
// the list is usually empty).
func (d decision) response(r *request) *authv3.CheckResponse {
	ok := &authv3.OkHttpResponse{}
	resp := &authv3.CheckResponse{
		Status:       okStatus,
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
	}
	hide := d.dep.api.HideCredentials
	keepAppCode := hide != nil && !*hide
	metadata := anonymousMetadata
	switch d.caller {
	case nil:
		ok.Headers = d.dep.headers
	default:
		ok.Headers = make([]*corev3.HeaderValueOption, 0, len(d.dep.headers)+len(d.caller.headers))
		ok.Headers = append(append(ok.Headers, d.dep.headers...), d.caller.headers...)
		metadata = d.caller.metadata
	}
	ok.HeadersToRemove = gatewayRemovals(r, ok.Headers, keepAppCode)
	if d.dep.metadata {
		resp.DynamicMetadata = metadata
	}
	// hide_credentials: unset hides app codes only (done above: the
	// x-apig- namespace), true every scheme's credential header.
	if c := r.credHeader; c != "" && hide != nil && *hide && !slices.Contains(ok.HeadersToRemove, c) {
		ok.HeadersToRemove = append(slices.Clip(ok.HeadersToRemove), c)
	}
	return resp
}

// gatewayRemovals returns, sorted, every header of the gateway's namespace
// (x-apig-*) the client sent that Check does not set (set headers are
// overwritten, not removed), but X-Apig-AppCode when keepAppCode
// (hide_credentials: false); nil when there is none.
func gatewayRemovals(r *request, set []*corev3.HeaderValueOption, keepAppCode bool) []string {
	var out []string
	r.eachHeaderName(func(name string) {
		if name, ok := gatewayRemoval(name, out, set, nil, keepAppCode); ok {
			out = append(out, name)
		}
	})
	slices.Sort(out) // the map form comes in random order
	return out
}

// gatewayRemoval reports whether the request header name is one
// gatewayRemovals adds to removed (the headers set being set and set2),
// and its lower-case form.
func gatewayRemoval(name string, removed []string, set, set2 []*corev3.HeaderValueOption, keepAppCode bool) (string, bool) {
	const prefix = model.GatewayHeaderPrefix
	if len(name) <= len(prefix) || !strings.EqualFold(name[:len(prefix)], prefix) {
		return "", false
	}
	name = strings.ToLower(name)
	if slices.Contains(removed, name) || isSet(set, name) || isSet(set2, name) || keepAppCode && name == HeaderAppCode {
		return "", false
	}
	return name, true
}

// isSet reports whether name is among the headers set.
func isSet(set []*corev3.HeaderValueOption, name string) bool {
	for _, h := range set {
		if h.GetHeader().GetKey() == name {
			return true
		}
	}
	return false
}

// denied builds the error answer: the JSON body of the dialect, with its
// status.
func denied(e *apigerr.Error, d apigerr.Dialect, requestID string) *authv3.CheckResponse {
	st, body := e.Render(d, requestID)
	headers := []*corev3.HeaderValueOption{jsonContentType}
	for _, h := range e.Headers {
		headers = append(headers, setHeader(h[0], h[1]))
	}
	return &authv3.CheckResponse{
		Status: &status.Status{Code: int32(code.Code_PERMISSION_DENIED), Message: e.ID},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(st)},
			Headers: headers,
			Body:    string(body),
		}},
	}
}

// InternalErrorResponse is the answer to a Check that failed inside the
// service (a recovered panic): 500 APIG.0601 in the platform's JSON, with
// the request id Envoy sent.
func InternalErrorResponse(req *authv3.CheckRequest) *authv3.CheckResponse {
	// Only nil-safe getters: the request itself may be what failed.
	h := req.GetAttributes().GetRequest().GetHttp()
	rid := h.GetHeaders()["x-request-id"]
	if rid == "" {
		rid = h.GetId()
	}
	return denied(apigerr.New(apigerr.InternalError), apigerr.APIG, rid)
}

// dialect is the error dialect of a denial: its API's group's, or the one
// the route names (for requests that matched no published API).
func (d decision) dialect(r *request) apigerr.Dialect {
	if d.dep != nil {
		return d.dep.api.Dialect
	}
	if r.dialect == "tencent" {
		return apigerr.Tencent
	}
	return apigerr.APIG
}
