package authz

import (
	"net/netip"
	"strings"
	"unsafe"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/internal/model"
)

// request is the Check phases' view of an Envoy CheckRequest.
type request struct {
	apiID, env string
	dialect    string // from the route, for requests without a known API
	peer       string // connection peer address as Envoy reports it
	tls        bool   // the client connection is TLS, as Envoy knows it
	peerCert   string // the verified client certificate (URL-encoded PEM), auth mtls
	sni        string // the TLS server name the client sent
	ip         netip.Addr
	ipOK       bool
	ipResolved bool
	method     string
	protocol   string // "HTTP/1.1", "HTTP/2"
	target     string // raw path with query, as Envoy forwards it
	host       string
	requestID  string
	headers    signing.Header
	mapHeaders map[string]string // set when headers come as Envoy's map
	// body is the request body, READ-ONLY: when Envoy sends it as the
	// string field body (pack_as_bytes off) it is a view of that string's
	// memory (see bodyView), and writing to it would corrupt an
	// immutable string. Hash it, compare it, slice it; never modify it.
	body []byte
	size int64 // declared body size (-1 unknown)
	// credHeader is the (lower-case) header the request authenticated
	// with, set by the identity phase; hide_credentials removes it.
	credHeader string
}

// newRequest reads the parts of req the phases use. Envoy sends headers
// either as a lower-cased map (repeated headers comma-joined) or, with
// encode_raw_headers, as header_map with raw values: both are handled.
func newRequest(req *authv3.CheckRequest) request {
	attrs := req.GetAttributes()
	ctxExt := attrs.GetContextExtensions()
	h := attrs.GetRequest().GetHttp()
	r := request{
		apiID:    ctxExt[model.ContextKeyAPI],
		env:      ctxExt[model.ContextKeyEnv],
		dialect:  ctxExt[model.ContextKeyDialect],
		peer:     attrs.GetSource().GetAddress().GetSocketAddress().GetAddress(),
		method:   h.GetMethod(),
		protocol: h.GetProtocol(),
		target:   h.GetPath(),
		host:     h.GetHost(),
		size:     h.GetSize(),
		body:     h.GetRawBody(),
	}
	if len(r.body) == 0 && h.GetBody() != "" {
		r.body = bodyView(h.GetBody())
	}
	if m := h.GetHeaders(); len(m) > 0 || h.GetHeaderMap() == nil {
		r.mapHeaders = m
		r.headers = signing.MapHeader(m)
	} else {
		list := h.GetHeaderMap().GetHeaders()
		pairs := make(signing.PairHeader, 0, len(list))
		for _, hv := range list {
			v := hv.GetValue()
			if raw := hv.GetRawValue(); len(raw) > 0 {
				v = string(raw)
			}
			pairs = append(pairs, signing.HeaderPair{Name: hv.GetKey(), Value: v})
		}
		r.headers = pairs
	}
	if r.host == "" {
		r.host, _ = r.header(":authority")
	}
	if r.method == "" {
		r.method, _ = r.header(":method")
	}
	if r.target == "" {
		r.target, _ = r.header(":path")
	}
	r.tls = connectionTLS(attrs, &r)
	r.peerCert, r.sni = peerTLS(attrs)
	if rid, ok := r.header("x-request-id"); ok {
		r.requestID = rid
	} else {
		r.requestID = h.GetId()
	}
	return r
}

// bodyView returns the bytes of s without copying them: a read-only view
// of the string's memory (unsafe.StringData), valid as long as s is, which
// is the request's lifetime. Envoy sends the body as a string unless the
// filter sets pack_as_bytes; copying it cost a whole allocation and copy of
// the body (up to settings.max_body_size) on every Check. Nothing in Check
// writes to a body: the verifiers hash it.
func bodyView(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// connectionTLS reports whether the client's connection to Envoy is TLS,
// from what Envoy knows of the connection: TLS attributes (a TLS session,
// a local or peer principal, a client certificate — reported when the
// listener terminates TLS), else x-forwarded-proto. The listener sets
// use_remote_address, so Envoy overwrites x-forwarded-proto with the
// connection's scheme unless the peer is a trusted proxy
// (listener.xff_num_trusted_hops > 0), whose value it keeps. The request's
// :scheme (request.http.scheme) is not used: an h2c client sends any
// :scheme it likes over plain TCP.
func connectionTLS(attrs *authv3.AttributeContext, r *request) bool {
	if attrs.GetTlsSession() != nil || attrs.GetDestination().GetPrincipal() != "" ||
		attrs.GetSource().GetPrincipal() != "" || attrs.GetSource().GetCertificate() != "" {
		return true
	}
	xfp, _ := r.header("x-forwarded-proto")
	return strings.EqualFold(strings.TrimSpace(xfp), "https")
}

// header returns the first value of the lower-case header name.
func (r *request) header(name string) (string, bool) {
	if r.mapHeaders != nil {
		v, ok := r.mapHeaders[name]
		return v, ok
	}
	return signing.FirstValue(r.headers, name)
}

// signingRequest is the verifier's view of r. Envoy forwards the whole
// body to Check (the xDS side sets with_request_body without partial
// messages, up to settings.max_body_size, beyond which Envoy answers 413),
// so the body is complete, an empty one included, unless Envoy reports a
// larger size than it sent.
func (r *request) signingRequest() signing.Request {
	return signing.Request{
		Method:  r.method,
		Target:  r.target,
		Host:    r.host,
		Header:  r.headers,
		Body:    r.body,
		HasBody: r.size <= int64(len(r.body)),
	}
}

// eachHeaderName calls fn with the name of every request header (lower
// case in the map form, as received in the header_map form; repeated
// names may repeat).
func (r *request) eachHeaderName(fn func(name string)) {
	if r.mapHeaders != nil {
		for k := range r.mapHeaders {
			fn(k)
		}
		return
	}
	if pairs, ok := r.headers.(signing.PairHeader); ok {
		for i := range pairs {
			fn(pairs[i].Name)
		}
	}
}
