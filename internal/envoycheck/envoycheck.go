// Package envoycheck builds the ext_authz CheckRequest that Envoy sends for
// an HTTP request, for tests and benchmarks that call the Check service the
// way Envoy does.
package envoycheck

import (
	"net/http"
	"strconv"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/apigwio/apigw/internal/model"
)

// RequestID is the x-request-id the built requests carry.
const RequestID = "req-123"

// FromHTTP returns the CheckRequest Envoy sends for r with body on the route
// of apiID in env: headers lower-cased and comma-joined, the pseudo-headers
// set, :path raw with the query, the body packed as bytes, and the route's
// context extensions.
func FromHTTP(r *http.Request, body []byte, apiID, env string) *authv3.CheckRequest {
	return WithContext(r, body, map[string]string{model.ContextKeyAPI: apiID, model.ContextKeyEnv: env})
}

// WithContext is FromHTTP with the route's context extensions as given
// (what the matched route's ExtAuthzPerRoute carries).
func WithContext(r *http.Request, body []byte, contextExtensions map[string]string) *authv3.CheckRequest {
	headers := map[string]string{"x-request-id": RequestID}
	for k, vs := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	host := r.Host
	if host == "" {
		host = r.URL.Host
	}
	headers[":authority"] = host
	headers[":method"] = r.Method
	headers[":path"] = r.URL.RequestURI()
	if len(body) > 0 {
		headers["content-length"] = strconv.Itoa(len(body))
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		ContextExtensions: contextExtensions,
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id:      "1234",
			Method:  r.Method,
			Path:    r.URL.RequestURI(),
			Host:    host,
			Scheme:  "http",
			Headers: headers,
			RawBody: body,
			Size:    int64(len(body)),
		}},
	}}
}
