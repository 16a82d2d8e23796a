// Package explain tells what the gateway would do with one request, without
// Envoy: the virtual host and route Envoy would match (from the same
// translation the xDS server publishes), the API and environment the route
// names, the Check service's verdict (the real Check, in-process), the
// policies that apply and the request that would go upstream.
package explain

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/apigwio/apigw/authz"
	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/envoycheck"
	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/xds"
	"github.com/apigwio/apigw/xds/xdsmatch"
)

// Request is the HTTP request to explain.
type Request struct {
	Method string
	// URL is absolute: its host is the Host header unless Header has one.
	URL    *url.URL
	Header http.Header
	Body   []byte
	// ClientIP is the connection peer Envoy would see (default 127.0.0.1).
	ClientIP string
}

// Options tune Explain.
type Options struct {
	// Now is the Check service's clock (default time.Now).
	Now func() time.Time
	// RequestID is the x-request-id Envoy would generate (default
	// DefaultRequestID); a client-sent one wins, as Envoy keeps it.
	RequestID string
}

// DefaultRequestID is the request id of explained requests without one.
const DefaultRequestID = "apigw-check"

// Outcomes.
const (
	// OutcomeForwarded: allowed, sent to the backend.
	OutcomeForwarded = "forwarded"
	// OutcomeMock: allowed, answered by the route's mock (direct response).
	OutcomeMock = "mock"
	// OutcomePreflight: a CORS preflight, answered by the CORS filter.
	OutcomePreflight = "cors_preflight"
	// OutcomeDenied: refused by the Check service.
	OutcomeDenied = "denied"
	// OutcomeNotFound: no virtual host or API route (404 APIG.0101).
	OutcomeNotFound = "not_found"
)

// Report is what the gateway would do. Field names are stable (the JSON of
// `apigw check -o json`).
type Report struct {
	// Allowed is true for the outcomes forwarded, mock and cors_preflight.
	Allowed bool   `json:"allowed"`
	Outcome string `json:"outcome"`
	// Status is the HTTP status the client gets, when the gateway answers
	// itself (0 when the backend answers).
	Status   int          `json:"status,omitempty"`
	Request  RequestView  `json:"request"`
	Route    RouteView    `json:"route"`
	API      *APIView     `json:"api,omitempty"`
	Auth     *AuthView    `json:"auth,omitempty"`
	Policies *PolicyView  `json:"policies,omitempty"`
	Response *Response    `json:"response,omitempty"`
	Upstream *UpstreamReq `json:"upstream,omitempty"`
	Notes    []string     `json:"notes,omitempty"`
}

// RequestView is the request as Envoy routes it.
type RequestView struct {
	Method string `json:"method"`
	Host   string `json:"host"`
	// Path is :path after normalize_path and merge_slashes, with the query.
	Path string `json:"path"`
	// RawPath is the path as sent, when normalisation changed it.
	RawPath string `json:"raw_path,omitempty"`
}

// RouteView is Envoy's routing decision.
type RouteView struct {
	VirtualHost string `json:"virtual_host,omitempty"`
	Name        string `json:"name,omitempty"`
	// Index is the route's position in the virtual host (0-based; -1 none).
	Index int `json:"index"`
	// Match describes the route's matcher ("path /hello, :method GET, ...").
	Match string `json:"match,omitempty"`
	// ExtAuthz is "check" (Check is called with the context extensions
	// below) or "disabled".
	ExtAuthz          string            `json:"ext_authz,omitempty"`
	ContextExtensions map[string]string `json:"context_extensions,omitempty"`
	// Rerouted is true when Check set a header a backend policy matches
	// on and Envoy re-resolved the route (clear_route_cache).
	Rerouted bool `json:"rerouted,omitempty"`
}

// APIView is the API and environment the route names.
type APIView struct {
	ID          string `json:"id"`
	Group       string `json:"group"`
	Name        string `json:"name"`
	Environment string `json:"environment"`
	Method      string `json:"method"`
	Path        string `json:"path"`
	Match       string `json:"match"`
	Auth        string `json:"auth"`
}

// AuthView is the Check service's verdict.
type AuthView struct {
	// Scheme is how the request authenticated or tried to: the API's auth
	// type and, for signatures, the Authorization algorithm.
	Scheme  string `json:"scheme"`
	Allowed bool   `json:"allowed"`
	// Caller: the identity headers Check set ("app": "demo-app", ...).
	Caller map[string]string `json:"caller,omitempty"`
	// Code, Status and Body are a denial's: the exact JSON body sent.
	Code   string `json:"code,omitempty"`
	Status int    `json:"status,omitempty"`
	Body   string `json:"body,omitempty"`
}

// PolicyView lists what applies to the deployment.
type PolicyView struct {
	ACLs       []ACLView     `json:"acls,omitempty"`
	Throttle   *ThrottleView `json:"throttle,omitempty"`
	UsagePlans []string      `json:"usage_plans,omitempty"`
	// Grant is the app's grant for this API and environment.
	Grant *GrantView `json:"grant,omitempty"`
	// BackendPolicy names the backend policy whose route matched.
	BackendPolicy string `json:"backend_policy,omitempty"`
}

// ACLView is one access-control policy.
type ACLView struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	Action string   `json:"action"`
	Values []string `json:"values"`
}

// ThrottleView is the deployment's throttle policy (limits per unit; 0
// none).
type ThrottleView struct {
	Name      string `json:"name"`
	Unit      string `json:"unit"`
	APILimit  uint32 `json:"api_limit,omitempty"`
	UserLimit uint32 `json:"user_limit,omitempty"`
	AppLimit  uint32 `json:"app_limit,omitempty"`
	IPLimit   uint32 `json:"ip_limit,omitempty"`
}

// GrantView is an app's grant.
type GrantView struct {
	App     string `json:"app"`
	Granted bool   `json:"granted"`
}

// Response is an answer the gateway sends itself (mock, preflight, local
// reply).
type Response struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body"`
}

// UpstreamReq is the request sent to the backend on an allow.
type UpstreamReq struct {
	Cluster string `json:"cluster"`
	// URL is scheme://endpoint/path?query of the first endpoint.
	URL       string   `json:"url"`
	Endpoints []string `json:"endpoints,omitempty"`
	// Host is the Host header sent (host_rewrite_literal, or as received).
	Host    string `json:"host"`
	Path    string `json:"path"`
	Timeout string `json:"timeout,omitempty"`
	Retries uint32 `json:"retries,omitempty"`
	// HeadersAdded are the headers Check sets; HeadersRemoved the ones
	// removed (client-sent identity headers, Envoy-internal headers).
	HeadersAdded   map[string]string `json:"headers_added,omitempty"`
	HeadersRemoved []string          `json:"headers_removed,omitempty"`
}

// Explainer explains requests against one snapshot.
type Explainer struct {
	snap  *model.Snapshot
	res   *xds.Resources
	authz *authz.Service
	opts  Options
}

// New translates snap as the xDS server does and starts an in-process
// Check service on it (which may load token issuers' keys).
func New(ctx context.Context, snap *model.Snapshot, opts Options) (*Explainer, error) {
	res, err := xds.Translate(snap, xds.Options{})
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RequestID == "" {
		opts.RequestID = DefaultRequestID
	}
	svc, err := authz.New(ctx, snap, authz.Options{Now: opts.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	return &Explainer{snap: snap, res: res, authz: svc, opts: opts}, nil
}

// Close stops the Check service's background work.
func (e *Explainer) Close() { e.authz.Close() }

// Explain tells what the gateway would do with req. Its error is an
// *xdsmatch.UnsupportedError when the route cannot be evaluated.
func (e *Explainer) Explain(ctx context.Context, req Request) (*Report, error) {
	rc := e.res.Routes[0]
	host := req.Header.Get("Host")
	if host == "" {
		host = req.URL.Host
	}
	target := req.URL.RequestURI()
	headers := map[string][]string{}
	for k, vs := range req.Header {
		headers[strings.ToLower(k)] = vs
	}
	rid := e.opts.RequestID
	if v := req.Header.Get("X-Request-Id"); v != "" {
		rid = v
	}
	headers["x-request-id"] = []string{rid}
	// internal_only_headers: client-sent identity headers are removed
	// before routing.
	var removed []string
	for _, h := range rc.GetInternalOnlyHeaders() {
		if _, ok := headers[h]; ok {
			delete(headers, h)
			removed = append(removed, h)
		}
	}
	mreq := xdsmatch.Request{Method: req.Method, Path: target, Authority: host, Scheme: req.URL.Scheme, Headers: headers}
	m, err := xdsmatch.Match(rc, mreq)
	rep := &Report{Request: RequestView{Method: req.Method, Host: host, Path: m.Path}, Route: RouteView{Index: -1}}
	if m.Path != target {
		rep.Request.RawPath = target
	}
	if err != nil {
		return rep, err
	}
	for _, h := range removed {
		rep.Notes = append(rep.Notes, fmt.Sprintf("client-sent %s removed before routing (internal_only_headers)", h))
	}
	if m.VirtualHost == nil {
		rep.Notes = append(rep.Notes, fmt.Sprintf("no virtual host has a domain matching %q", host))
		e.notFound(rep, nil, rid)
		return rep, nil
	}
	rep.Route.VirtualHost = m.VirtualHost.GetName()
	group := e.group(m.VirtualHost.GetName())
	if m.Route == nil {
		e.notFound(rep, group, rid)
		return rep, nil
	}
	nearMisses := func() {
		for _, r := range m.VirtualHost.GetRoutes() {
			if f := xdsmatch.NearMiss(r, mreq); f != "" {
				rep.Notes = append(rep.Notes, fmt.Sprintf("route %s has this path but %s does not match (%s)", r.GetName(), f, describeMatch(r.GetMatch())))
			}
		}
	}
	e.describeRoute(rep, m)
	ext, authzOn, err := perRouteAuthz(m.Route)
	if err != nil {
		return rep, err
	}
	if !authzOn {
		rep.Route.ExtAuthz = "disabled"
		switch {
		case m.Route.GetTypedPerFilterConfig()[xds.FilterCORS] != nil:
			e.preflight(rep, m.Route, req)
		default:
			// The catch-all and the miss routes: the undefined cluster
			// gives 404 with the NC flag, which the local reply maps.
			e.notFound(rep, group, rid)
			nearMisses()
		}
		return rep, nil
	}
	rep.Route.ExtAuthz = "check"
	rep.Route.ContextExtensions = ext
	env := ext[model.ContextKeyEnv]
	api := e.snap.LookupAPI(ext[model.ContextKeyAPI], env)
	var dep *model.Deployment
	if api != nil {
		dep = api.Deployments[env]
		rep.API = &APIView{ID: api.ID, Group: api.Group, Name: api.Name, Environment: env, Method: api.Method,
			Path: api.Path, Match: api.Match.String(), Auth: api.Auth.String()}
		rep.Policies = policies(dep)
		rep.Policies.Grant = e.grant(req.Header, api, env)
	}

	// The real Check, with the request Envoy would send.
	cr := e.checkRequest(req, host, m.Path, ext, rid, headers)
	resp, err := e.authz.Check(ctx, cr)
	if err != nil {
		return rep, fmt.Errorf("check: %v", err)
	}
	rep.Auth = &AuthView{Scheme: scheme(api, req.Header)}
	if d := resp.GetDeniedResponse(); d != nil {
		rep.Auth.Code = resp.GetStatus().GetMessage()
		rep.Auth.Status = int(d.GetStatus().GetCode())
		rep.Auth.Body = d.GetBody()
		rep.Outcome, rep.Status = OutcomeDenied, rep.Auth.Status
		rep.Response = &Response{Status: rep.Auth.Status, Headers: optionHeaders(d.GetHeaders()), Body: d.GetBody()}
		return rep, nil
	}
	ok := resp.GetOkResponse()
	rep.Auth.Allowed = true
	added := optionHeaders(ok.GetHeaders())
	rep.Auth.Caller = caller(added)

	// clear_route_cache: a backend policy on a header Check set.
	route := m.Route
	if reroute := e.rerouteHeaders(); len(reroute) > 0 {
		changed := false
		for _, h := range reroute {
			if v, ok := added[h]; ok {
				headers[h] = []string{v}
				changed = true
			}
		}
		if changed {
			m2, err := xdsmatch.Match(rc, mreq)
			if err != nil {
				return rep, err
			}
			if m2.Route != nil && m2.Route != route {
				rep.Route.Rerouted = true
				e.describeRoute(rep, m2)
				route = m2.Route
			}
		}
	}
	if p := policyName(route.GetName()); p != "" && rep.Policies != nil {
		rep.Policies.BackendPolicy = p
	}
	rep.Allowed = true
	if dr := route.GetDirectResponse(); dr != nil {
		rep.Outcome, rep.Status = OutcomeMock, int(dr.GetStatus())
		body := dr.GetBody().GetInlineString()
		if body == "" {
			body = string(dr.GetBody().GetInlineBytes())
		}
		rep.Response = &Response{Status: int(dr.GetStatus()), Headers: optionHeaders(route.GetResponseHeadersToAdd()), Body: body}
		return rep, nil
	}
	rep.Outcome = OutcomeForwarded
	up := e.upstream(route, applyQuery(m.Path, ok.GetQueryParametersToSet(), ok.GetQueryParametersToRemove()), host)
	for _, h := range route.GetRequestHeadersToAdd() { // after Check's: the router's
		if added == nil {
			added = map[string]string{}
		}
		added[h.GetHeader().GetKey()] = h.GetHeader().GetValue()
	}
	up.HeadersAdded = added
	up.HeadersRemoved = slices.Sorted(slices.Values(append(append(append([]string(nil), removed...), ok.GetHeadersToRemove()...), rc.GetRequestHeadersToRemove()...)))
	up.HeadersRemoved = slices.Compact(up.HeadersRemoved)
	rep.Upstream = up
	return rep, nil
}

// group returns the group of a virtual host (named after it).
func (e *Explainer) group(name string) *model.Group {
	for _, g := range e.snap.Groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

// notFound is Envoy's NR/NC local reply: 404 APIG.0101 (the tencent
// dialect's message in a tencent group).
func (e *Explainer) notFound(rep *Report, g *model.Group, rid string) {
	rep.Outcome, rep.Status = OutcomeNotFound, 404
	d := apigerr.APIG
	if g != nil && g.Dialect == apigerr.Tencent {
		d = apigerr.Tencent
		rep.Notes = append(rep.Notes, "tencent group: the miss routes answer 404 with \"There is no api match ...\" (the message depends on the miss route; see docs/xds.md)")
	}
	_, body := apigerr.New(apigerr.APINotFound).Render(d, rid)
	rep.Response = &Response{Status: 404, Headers: map[string]string{"content-type": "application/json"}, Body: string(body)}
}

// preflight is the CORS filter's answer to a preflight.
func (e *Explainer) preflight(rep *Report, r *routev3.Route, req Request) {
	rep.Outcome, rep.Status, rep.Allowed = OutcomePreflight, 200, true
	var cp corsv3.CorsPolicy
	if err := r.GetTypedPerFilterConfig()[xds.FilterCORS].UnmarshalTo(&cp); err != nil {
		rep.Notes = append(rep.Notes, "cannot read the route's CORS policy: "+err.Error())
		rep.Response = &Response{Status: 200}
		return
	}
	origin := req.Header.Get("Origin")
	h := map[string]string{}
	allowed := false
	for _, sm := range cp.GetAllowOriginStringMatch() {
		if ok, _ := xdsmatch.StringMatch(sm, origin); ok {
			allowed = true
			break
		}
	}
	if allowed {
		h["access-control-allow-origin"] = origin
		h["access-control-allow-methods"] = cp.GetAllowMethods()
		if v := cp.GetAllowHeaders(); v != "" {
			h["access-control-allow-headers"] = v
		}
		if v := cp.GetMaxAge(); v != "" {
			h["access-control-max-age"] = v
		}
		if cp.GetAllowCredentials().GetValue() {
			h["access-control-allow-credentials"] = "true"
		}
	} else {
		rep.Notes = append(rep.Notes, fmt.Sprintf("origin %q is not allowed: 200 without Access-Control-Allow-* headers, which browsers refuse", origin))
	}
	rep.Response = &Response{Status: 200, Headers: h}
}

// perRouteAuthz decodes the route's ext_authz per-route configuration:
// its context extensions, and whether Check is called.
func perRouteAuthz(r *routev3.Route) (map[string]string, bool, error) {
	a := r.GetTypedPerFilterConfig()[xds.FilterExtAuthz]
	if a == nil {
		return nil, true, nil
	}
	var pr extauthzv3.ExtAuthzPerRoute
	if err := a.UnmarshalTo(&pr); err != nil {
		return nil, false, fmt.Errorf("route %q: ext_authz per-route configuration: %v", r.GetName(), err)
	}
	if pr.GetDisabled() {
		return nil, false, nil
	}
	return pr.GetCheckSettings().GetContextExtensions(), true, nil
}

// checkRequest is the CheckRequest Envoy sends: the normalised :path, the
// headers after routing (internal-only ones removed), the peer address
// appended to X-Forwarded-For (use_remote_address).
func (e *Explainer) checkRequest(req Request, host, path string, ext map[string]string, rid string, headers map[string][]string) *authv3.CheckRequest {
	hr, _ := http.NewRequest(req.Method, req.URL.String(), nil)
	hr.Host = host
	hr.Header = http.Header{}
	for k, vs := range headers {
		hr.Header[k] = vs
	}
	peer := req.ClientIP
	if peer == "" {
		peer = "127.0.0.1"
	}
	if xff := hr.Header.Get("x-forwarded-for"); xff != "" {
		hr.Header["x-forwarded-for"] = []string{xff + "," + peer}
	} else {
		hr.Header["x-forwarded-for"] = []string{peer}
	}
	cr := envoycheck.WithContext(hr, req.Body, ext)
	h := cr.GetAttributes().GetRequest().GetHttp()
	h.Path = path
	h.Headers[":path"] = path
	h.Headers["x-request-id"] = rid
	h.Scheme = "http"
	if req.URL.Scheme == "https" {
		h.Scheme = "https"
	}
	h.Headers[":scheme"] = h.Scheme
	cr.Attributes.Source = &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
		SocketAddress: &corev3.SocketAddress{Address: peer, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 50000}},
	}}}
	return cr
}

// scheme names the authentication the request uses.
func scheme(api *model.API, h http.Header) string {
	if api == nil {
		return "unknown API"
	}
	s := api.Auth.String()
	if a := h.Get("Authorization"); a != "" {
		if cred, err := signing.ParseAuthorization(a); err == nil {
			return s + " (" + cred.Algorithm.String() + ", key " + cred.Access + ")"
		}
		alg, _, _ := strings.Cut(a, " ")
		return s + " (Authorization " + alg + ")"
	}
	if h.Get("X-Apig-AppCode") != "" {
		return s + " (app code)"
	}
	return s
}

// caller names the identity from the headers Check set upstream.
func caller(added map[string]string) map[string]string {
	names := map[string]string{
		model.HeaderAppID: "app", model.HeaderAppKey: "app_key", model.HeaderUserID: "user",
		model.HeaderAccount: "account", model.HeaderAccessKey: "access_key", model.HeaderProjectID: "project",
		model.HeaderKeyID: "key_pair",
	}
	out := map[string]string{}
	for h, n := range names {
		if v, ok := added[h]; ok {
			out[n] = v
		}
	}
	if len(out) == 0 {
		return nil // anonymous
	}
	return out
}

// grant is the signing app's grant for api in env (nil when the request
// is not signed by a known app).
func (e *Explainer) grant(h http.Header, api *model.API, env string) *GrantView {
	a := h.Get("Authorization")
	if a == "" || (api.Auth != model.AuthApp) {
		return nil
	}
	cred, err := signing.ParseAuthorization(a)
	if err != nil {
		return nil
	}
	app := e.snap.Apps[cred.Access]
	if app == nil {
		return nil
	}
	return &GrantView{App: app.Name, Granted: app.Granted(api, env)}
}

func policies(dep *model.Deployment) *PolicyView {
	p := &PolicyView{}
	if dep == nil {
		return p
	}
	for _, a := range dep.ACLs {
		action := "deny"
		if a.Allow {
			action = "allow"
		}
		typ := "ip"
		if a.Type != model.ACLIP {
			typ = "account"
		}
		p.ACLs = append(p.ACLs, ACLView{Name: a.Name, Type: typ, Action: action, Values: a.Values})
	}
	if t := dep.Throttle; t != nil {
		p.Throttle = &ThrottleView{Name: t.Name, Unit: t.Unit, APILimit: t.APILimit, UserLimit: t.UserLimit, AppLimit: t.AppLimit, IPLimit: t.IPLimit}
	}
	for _, u := range dep.UsagePlans {
		p.UsagePlans = append(p.UsagePlans, u.Name)
	}
	return p
}

// policyName is the backend policy of a route name "api|env|policy:name".
func policyName(route string) string {
	_, p, ok := strings.Cut(route, "|policy:")
	if !ok {
		return ""
	}
	return p
}

// rerouteHeaders are the headers whose change by Check re-resolves the
// route (the ext_authz filter's clear_route_cache_headers).
func (e *Explainer) rerouteHeaders() []string {
	for _, l := range e.res.Listeners {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				var hcm hcmv3.HttpConnectionManager
				if f.GetName() != xds.FilterHCM || f.GetTypedConfig().UnmarshalTo(&hcm) != nil {
					continue
				}
				for _, hf := range hcm.GetHttpFilters() {
					var ea extauthzv3.ExtAuthz
					if hf.GetName() == xds.FilterExtAuthz && hf.GetTypedConfig().UnmarshalTo(&ea) == nil && ea.GetClearRouteCache() {
						return ea.GetClearRouteCacheHeaders()
					}
				}
			}
		}
	}
	return nil
}

func (e *Explainer) describeRoute(rep *Report, m xdsmatch.Result) {
	rep.Route.Name = m.Route.GetName()
	rep.Route.Index = m.Index
	rep.Route.Match = describeMatch(m.Route.GetMatch())
}

// describeMatch renders a RouteMatch on one line.
func describeMatch(m *routev3.RouteMatch) string {
	var parts []string
	switch p := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		parts = append(parts, "prefix "+p.Prefix)
	case *routev3.RouteMatch_Path:
		parts = append(parts, "path "+p.Path)
	case *routev3.RouteMatch_PathSeparatedPrefix:
		parts = append(parts, "path_separated_prefix "+p.PathSeparatedPrefix)
	case *routev3.RouteMatch_PathMatchPolicy:
		parts = append(parts, "path_template "+matchTemplate(m))
	}
	for _, h := range m.GetHeaders() {
		parts = append(parts, h.GetName()+" "+describeHeader(h))
	}
	for _, q := range m.GetQueryParameters() {
		s := "present"
		if sm := q.GetStringMatch(); sm != nil {
			s = describeString(sm.GetExact(), sm.GetSafeRegex().GetRegex())
		}
		parts = append(parts, "?"+q.GetName()+" "+s)
	}
	return strings.Join(parts, ", ")
}

func describeHeader(h *routev3.HeaderMatcher) string {
	s := "present"
	if sm := h.GetStringMatch(); sm != nil {
		s = describeString(sm.GetExact(), sm.GetSafeRegex().GetRegex())
	}
	if h.GetInvertMatch() {
		s = "not " + s
	}
	if h.GetTreatMissingHeaderAsEmpty() && !strings.HasPrefix(s, "absent") {
		s += " (missing = empty)"
	}
	return s
}

var defaultEnvRegex = regexp.MustCompile(`^\^\(\?:(.*)\)\?\$$`)

func describeString(exact, re string) string {
	switch {
	case re == "":
		return strconv.Quote(exact)
	case defaultEnvRegex.MatchString(re):
		return "absent, empty or " + strconv.Quote(defaultEnvRegex.FindStringSubmatch(re)[1])
	}
	return "~ " + re
}

// upstream describes the request the router sends for route.
func (e *Explainer) upstream(r *routev3.Route, path, host string) *UpstreamReq {
	a := r.GetRoute()
	up := &UpstreamReq{Cluster: a.GetCluster(), Host: host}
	if h := a.GetHostRewriteLiteral(); h != "" {
		up.Host = h
	}
	p, query, hasQuery := strings.Cut(path, "?")
	p = rewrite(r.GetMatch(), a, p)
	if hasQuery {
		p += "?" + query
	}
	up.Path = p
	if a.GetTimeout() != nil {
		up.Timeout = a.GetTimeout().AsDuration().String()
	}
	up.Retries = a.GetRetryPolicy().GetNumRetries().GetValue()
	scheme := "http"
	if c := e.cluster(up.Cluster); c != nil {
		if c.GetTransportSocket() != nil {
			scheme = "https"
		}
		up.Endpoints = e.endpoints(c)
	}
	target := up.Host
	if len(up.Endpoints) > 0 {
		target = up.Endpoints[0]
	}
	up.URL = scheme + "://" + target + p
	return up
}

// rewrite applies prefix_rewrite or regex_rewrite to path (no query).
func rewrite(m *routev3.RouteMatch, a *routev3.RouteAction, path string) string {
	if pol := a.GetPathRewritePolicy(); pol != nil {
		out, _ := templateRewrite(m, pol, path)
		return out
	}
	if pr := a.GetPrefixRewrite(); pr != "" {
		matched := m.GetPrefix() + m.GetPath() + m.GetPathSeparatedPrefix()
		return pr + strings.TrimPrefix(path, matched)
	}
	if rr := a.GetRegexRewrite(); rr != nil {
		re, err := regexp.Compile(rr.GetPattern().GetRegex())
		if err == nil {
			return re.ReplaceAllLiteralString(path, rr.GetSubstitution())
		}
	}
	return path
}

func (e *Explainer) cluster(name string) *clusterv3.Cluster {
	for _, c := range e.res.Clusters {
		if c.GetName() == name {
			return c
		}
	}
	return nil
}

// endpoints lists a cluster's addresses: its load assignment, its EDS
// assignment, or (DNS clusters) the names it resolves.
func (e *Explainer) endpoints(c *clusterv3.Cluster) []string {
	la := c.GetLoadAssignment()
	if la == nil {
		for _, cla := range e.res.Endpoints {
			if cla.GetClusterName() == c.GetName() {
				la = cla
			}
		}
	}
	var out []string
	for _, lep := range la.GetEndpoints() {
		for _, ep := range lep.GetLbEndpoints() {
			sa := ep.GetEndpoint().GetAddress().GetSocketAddress()
			if sa == nil {
				continue
			}
			a := sa.GetAddress()
			if strings.Contains(a, ":") {
				a = "[" + a + "]"
			}
			out = append(out, a+":"+strconv.Itoa(int(sa.GetPortValue())))
		}
	}
	return out
}

// optionHeaders flattens header options (last value wins).
func optionHeaders(hs []*corev3.HeaderValueOption) map[string]string {
	if len(hs) == 0 {
		return nil
	}
	out := make(map[string]string, len(hs))
	for _, h := range hs {
		out[strings.ToLower(h.GetHeader().GetKey())] = h.GetHeader().GetValue()
	}
	return out
}
