package authz

import (
	"encoding/base64"
	"slices"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/internal/model"
)

// Headers a signature key sets upstream.
const (
	headerAuthorization = "authorization"
	headerSdkDate       = "x-sdk-date"
	headerContentSha256 = "x-sdk-content-sha256"
)

// upstreamSigner signs the requests of one deployment for its backend
// (signature_keys): it knows the request as the backend will receive it —
// the Host Envoy sends and the path after the route's rewrite, computed as
// xds/backends.go rewritePath configures Envoy.
type upstreamSigner struct {
	key   *model.SignatureKey
	hmac  *signing.UpstreamSigner
	basic *corev3.HeaderValueOption // basic: the fixed Authorization
	// host is the Host the backend receives; "" keeps the client's (a
	// channel without host_header).
	host string
	// match, apiPath and target drive the path rewrite: target is the
	// backend path ("" keeps the request path).
	match    model.MatchKind
	apiPath  string
	target   string
	pathEnvs bool // the first path segment selects the environment
}

// compileSigner returns the signer of a deployment, nil without a key.
func compileSigner(snap *model.Snapshot, api *model.API, dep *model.Deployment) *upstreamSigner {
	k := dep.SignatureKey
	if k == nil {
		return nil
	}
	g := groupOf(snap, api.Group)
	s := &upstreamSigner{key: k, match: api.Match, apiPath: api.Path, target: dep.Backend.Path}
	s.pathEnvs = g != nil && g.PathEnvironments != nil
	s.host = dep.Backend.HostHeader
	if s.host == "" && dep.Backend.Kind == model.BackendURL && dep.Backend.URL != nil {
		s.host = dep.Backend.URL.Host
	}
	switch k.Type {
	case model.SignatureHMAC:
		var err error
		if s.hmac, err = signing.NewUpstreamSigner(k.Key, k.Secret.Bytes()); err != nil {
			return nil // refused by validation
		}
	case model.SignatureBasic:
		s.basic = setHeader(headerAuthorization, "Basic "+base64.StdEncoding.EncodeToString([]byte(k.Key+":"+string(k.Secret.Bytes()))))
	}
	return s
}

// groupOf returns the group named name in snap.
func groupOf(snap *model.Snapshot, name string) *model.Group {
	for _, g := range snap.Groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

// upstreamTarget is the path plus query the backend receives for a request
// whose target (as Envoy routed it) is target: the rewrite of
// xds/backends.go rewritePath.
func (s *upstreamSigner) upstreamTarget(target string) string {
	path, query := target, ""
	if i := strings.IndexByte(target, '?'); i >= 0 {
		path, query = target[:i], target[i:]
	}
	matched := s.apiPath
	backend := s.target
	if s.pathEnvs {
		seg := strings.TrimPrefix(path, "/")
		if i := strings.IndexByte(seg, '/'); i >= 0 {
			seg = seg[:i]
		}
		matched = "/" + seg + s.apiPath
		if backend == "" {
			backend = s.apiPath // the environment segment is not sent upstream
		}
	}
	if backend == "" || len(path) < len(matched) {
		return target
	}
	rest := path[len(matched):]
	switch {
	case s.match == model.MatchExact:
		path = backend
	case strings.HasSuffix(matched, "/"):
		if !strings.HasSuffix(backend, "/") {
			backend += "/"
		}
		path = backend + rest
	default:
		if p := strings.TrimSuffix(backend, "/"); p != "" {
			path = p + rest
		} else {
			path = "/" + strings.TrimPrefix(rest, "/")
		}
	}
	return path + query
}

// signUpstream adds the deployment's signature to an allowed answer. The
// gateway's Authorization replaces the client's: the client's credential
// (if any) was verified and consumed by the gateway.
func (s *Service) signUpstream(d decision, r *request, resp *authv3.CheckResponse) {
	sg := d.dep.signer
	if sg == nil {
		return
	}
	ok := resp.GetOkResponse()
	if sg.basic != nil {
		ok.Headers = append(slices.Clip(ok.Headers), sg.basic)
		ok.HeadersToRemove = keepHeaders(ok.HeadersToRemove, headerAuthorization)
		return
	}
	host := sg.host
	if host == "" {
		host = r.host
	}
	u := signing.Upstream{
		Method: r.method,
		Target: sg.upstreamTarget(r.target),
		Host:   host,
		Date:   s.now().UTC().Format(signing.DateFormat),
		Body:   r.body,
		// Envoy forwards the whole body to Check (with_request_body up to
		// max_body_size); when it did not, the body cannot be signed.
		Unsigned: r.size > int64(len(r.body)),
	}
	auth, err := sg.hmac.Sign(&u)
	if err != nil {
		// Validation makes this unreachable (key and secret are required).
		s.log.Error("signature key: cannot sign", "key", sg.key.Name, "error", err)
		return
	}
	ok.Headers = append(slices.Clip(ok.Headers), setHeader(headerAuthorization, auth), setHeader(headerSdkDate, u.Date))
	ok.HeadersToRemove = keepHeaders(ok.HeadersToRemove, headerAuthorization, headerSdkDate)
	if u.Unsigned {
		ok.Headers = append(ok.Headers, setHeader(headerContentSha256, signing.UnsignedPayload))
		ok.HeadersToRemove = keepHeaders(ok.HeadersToRemove, headerContentSha256)
	} else if _, sent := r.header(headerContentSha256); sent {
		// A client's content hash would replace the body hash the backend
		// computes.
		ok.HeadersToRemove = append(slices.Clip(ok.HeadersToRemove), headerContentSha256)
	}
}

// keepHeaders returns list without names (a copy when it changes: list may
// be shared).
func keepHeaders(list []string, names ...string) []string {
	if !slices.ContainsFunc(list, func(h string) bool { return slices.Contains(names, h) }) {
		return list
	}
	return slices.DeleteFunc(slices.Clone(list), func(h string) bool { return slices.Contains(names, h) })
}
