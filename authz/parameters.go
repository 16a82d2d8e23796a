package authz

// Request parameters and backend parameters (docs/configuration.md,
// "Parameters"): Check validates the declared request parameters, applies
// their defaults, and sets the backend parameters only it knows (mapped
// values, query constants, the caller's identity, authorizer context),
// through the OK response's header and query-parameter mutations. What
// Envoy knows per route (path rewrites, header constants, the client
// address, the request id) the route sets (xds/parameters.go). A
// deployment without parameters has a nil plan: Check does nothing more.

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/model"
)

// paramPlan is a deployment's parameters, compiled.
type paramPlan struct {
	req []reqParam
	// query maps a request query parameter's name to its index in req.
	query map[string]int
	// managedQuery are the query names whose client values must not reach
	// the backend unless Check sets them (moved request parameters and
	// backend query parameters): also removed in any percent-encoded
	// spelling of the name.
	managedQuery map[string]bool
	// sets are the backend parameters Check sets.
	sets []paramSet
	// removeHeaders and removeQuery are removed from every request:
	// request parameters moved elsewhere, and headers the route sets
	// (so that a client value never survives an empty formatter).
	removeHeaders []string
	removeQuery   []string
	// inPlace: no backend parameters, so request parameters pass through
	// as sent, defaults added where they are missing.
	inPlace bool
	hops    uint32 // listener.xff_num_trusted_hops, for source_ip
}

type reqParam struct {
	model.RequestParameter
	seg    int    // path parameters: index of the segment in the request path
	detail string // "parameter <name> (<in>) "
}

// paramSet is one backend parameter Check sets.
type paramSet struct {
	in     model.ParamLocation // InHeader or InQuery
	name   string
	src    model.ParamSource
	req    int    // FromRequest: index in paramPlan.req
	value  string // FromConstant, and system values known per deployment
	system string // FromSystem values known per request ("" when value is set)
	header string // caller-derived systems: the caller header carrying it
}

// compileParams returns the plan of a deployment, nil without parameters.
func compileParams(snap *model.Snapshot, api *model.API, env string) *paramPlan {
	ps := api.Parameters
	if ps.Empty() {
		return nil
	}
	p := &paramPlan{inPlace: len(ps.Backend) == 0, hops: snap.Listener.XFFNumTrustedHops}
	base := 0
	if g := groupOf(snap, api.Group); g != nil && g.PathEnvironments != nil {
		base = 1 // the environment segment
	}
	segs := strings.Split(api.Path, "/")
	for _, rp := range ps.Request {
		q := reqParam{RequestParameter: rp, seg: -1, detail: "parameter " + strconv.Quote(rp.Name) + " (" + rp.In.String() + ") "}
		if rp.In == model.InPath {
			q.seg = slices.Index(segs, "{"+rp.Name+"}") + base
		}
		if rp.In == model.InQuery {
			if p.query == nil {
				p.query = map[string]int{}
			}
			p.query[rp.Name] = len(p.req)
		}
		p.req = append(p.req, q)
	}
	backendHas := func(in model.ParamLocation, name string) bool {
		return slices.ContainsFunc(ps.Backend, func(b model.BackendParameter) bool { return b.In == in && b.Name == name })
	}
	if !p.inPlace {
		for _, rp := range ps.Request {
			switch {
			case rp.In == model.InHeader && !backendHas(model.InHeader, rp.Name):
				p.removeHeaders = append(p.removeHeaders, rp.Name)
			case rp.In == model.InQuery && !backendHas(model.InQuery, rp.Name):
				p.removeQuery = append(p.removeQuery, rp.Name)
			}
		}
	}
	for _, n := range p.removeQuery {
		p.addManaged(n)
	}
	for _, bp := range ps.Backend {
		if bp.SetByEnvoy() {
			if bp.In == model.InHeader {
				p.removeHeaders = append(p.removeHeaders, bp.Name)
			}
			continue
		}
		s := paramSet{in: bp.In, name: bp.Name, src: bp.Source, value: bp.Value}
		switch bp.Source {
		case model.FromRequest:
			s.req = slices.IndexFunc(p.req, func(r reqParam) bool { return r.Name == bp.From })
		case model.FromSystem:
			s.value, s.system, s.header = systemStatic(api, env, bp.System)
		}
		if bp.In == model.InQuery {
			p.addManaged(bp.Name)
		}
		p.sets = append(p.sets, s)
	}
	return p
}

func (p *paramPlan) addManaged(name string) {
	if p.managedQuery == nil {
		p.managedQuery = map[string]bool{}
	}
	p.managedQuery[name] = true
}

// systemStatic resolves a system name as far as the deployment allows: a
// value known now, or the system name to compute per request and, for the
// caller's identity, the caller header that carries it.
func systemStatic(api *model.API, env, name string) (value, system, header string) {
	switch name {
	case model.SystemAPIID:
		return api.ID, "", ""
	case model.SystemAPIName:
		return api.Name, "", ""
	case model.SystemGroup:
		return api.Group, "", ""
	case model.SystemStage:
		return env, "", ""
	case model.SystemAppID:
		return "", name, model.HeaderAppID
	case model.SystemAppKey:
		return "", name, model.HeaderAppKey
	case model.SystemUserID:
		return "", name, model.HeaderUserID
	case model.SystemAccount:
		return "", name, model.HeaderAccount
	case model.SystemAccessKey:
		return "", name, model.HeaderAccessKey
	case model.SystemKeyID:
		return "", name, model.HeaderKeyID
	case model.SystemProjectID:
		return "", name, model.HeaderProjectID
	}
	if key, ok := strings.CutPrefix(name, model.SystemAuthorizerPrefix); ok {
		return "", name, contextHeaderPrefix + strings.ToLower(key)
	}
	return "", name, ""
}

// paramValues are a request's request-parameter values, by index in
// paramPlan.req; ok[i] false: absent. rawQuery lists the percent-encoded
// spellings of managed query names the client sent.
type paramValues struct {
	vals     []string
	ok       []bool
	rawQuery []string
	badQuery uint64 // bit i: query parameter i is not valid percent-encoding (at most 50 parameters)
}

// validate reads and checks the request parameters of r: APIG.0201 400
// naming the first parameter missing or invalid.
func (p *paramPlan) validate(r *request) (*paramValues, *apigerr.Error) {
	pv := &paramValues{vals: make([]string, len(p.req)), ok: make([]bool, len(p.req))}
	path, query, _ := strings.Cut(r.target, "?")
	if p.query != nil || p.managedQuery != nil {
		p.readQuery(query, pv)
	}
	for i := range p.req {
		rp := &p.req[i]
		var v string
		var ok bool
		switch rp.In {
		case model.InPath:
			if raw, found := segment(path, rp.seg); found {
				dec, err := url.PathUnescape(raw)
				if err != nil || strings.ContainsAny(dec, "\x00\r\n") {
					return nil, apigerr.WithDetail(apigerr.RequestError, rp.detail+"is not valid percent-encoding")
				}
				v, ok = dec, true
			}
		case model.InQuery:
			if pv.badQuery&(1<<i) != 0 {
				return nil, apigerr.WithDetail(apigerr.RequestError, rp.detail+"is not valid percent-encoding")
			}
			v, ok = pv.vals[i], pv.ok[i]
		case model.InHeader:
			v, ok = r.header(rp.Name)
		}
		if !ok || v == "" {
			switch {
			case rp.HasDefault:
				v, ok = rp.Default, true
			case rp.Required:
				return nil, apigerr.WithDetail(apigerr.RequestError, rp.detail+"is required")
			default:
				pv.ok[i] = false
				continue
			}
		} else if msg := model.CheckParameterValue(&rp.RequestParameter, v); msg != "" {
			return nil, apigerr.WithDetail(apigerr.RequestError, rp.detail+msg)
		}
		pv.vals[i], pv.ok[i] = v, ok
	}
	return pv, nil
}

// readQuery records the first value of each declared query parameter, and
// the encoded spellings of managed names.
func (p *paramPlan) readQuery(query string, pv *paramValues) {
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		rawKey, rawVal, _ := strings.Cut(pair, "=")
		key := rawKey
		if strings.ContainsAny(rawKey, "%+") {
			k, err := url.QueryUnescape(rawKey)
			if err != nil {
				continue
			}
			key = k
			if p.managedQuery[key] {
				pv.rawQuery = append(pv.rawQuery, rawKey)
			}
		}
		i, declared := p.query[key]
		if !declared || pv.ok[i] {
			continue
		}
		v, err := url.QueryUnescape(rawVal)
		if err != nil || strings.ContainsAny(v, "\x00\r\n") {
			pv.badQuery |= 1 << i
		}
		pv.vals[i], pv.ok[i] = v, true
	}
}

// segment returns the n-th "/"-separated segment of path (0 is before the
// first "/").
func segment(path string, n int) (string, bool) {
	if n < 0 {
		return "", false
	}
	for ; n > 0; n-- {
		i := strings.IndexByte(path, '/')
		if i < 0 {
			return "", false
		}
		path = path[i+1:]
	}
	if i := strings.IndexByte(path, '/'); i >= 0 {
		path = path[:i]
	}
	return path, true
}

// apply adds the backend parameters to an allowed answer.
func (p *paramPlan) apply(ok *authv3.OkHttpResponse, pv *paramValues, r *request, c *caller, now time.Time) {
	var setNames []string
	setHeaderParam := func(name, v string) {
		ok.Headers = append(slices.Clip(ok.Headers), setHeader(name, v))
		setNames = append(setNames, name)
	}
	setQuery := func(name, v string) {
		ok.QueryParametersToSet = append(ok.QueryParametersToSet, &corev3.QueryParameter{Key: url.QueryEscape(name), Value: url.QueryEscape(v)})
	}
	if p.inPlace {
		for i := range p.req {
			rp := &p.req[i]
			if !pv.ok[i] || !rp.HasDefault || pv.vals[i] != rp.Default {
				continue
			}
			switch rp.In {
			case model.InHeader:
				if v, sent := r.header(rp.Name); !sent || v == "" {
					setHeaderParam(rp.Name, rp.Default)
				}
			case model.InQuery:
				setQuery(rp.Name, rp.Default)
			}
		}
	}
	for i := range p.sets {
		s := &p.sets[i]
		v, has := s.value, true
		switch s.src {
		case model.FromRequest:
			v, has = pv.vals[s.req], pv.ok[s.req]
		case model.FromSystem:
			if s.system != "" {
				v = systemValue(s, r, c, p.hops, now)
				has = v != ""
			}
		}
		switch {
		case has && s.in == model.InHeader:
			setHeaderParam(s.name, v)
		case has:
			setQuery(s.name, v)
		case s.in == model.InHeader:
			ok.HeadersToRemove = append(slices.Clip(ok.HeadersToRemove), s.name)
		default:
			ok.QueryParametersToRemove = append(ok.QueryParametersToRemove, s.name)
		}
	}
	if len(p.removeHeaders) > 0 {
		ok.HeadersToRemove = append(slices.Clip(ok.HeadersToRemove), p.removeHeaders...)
	}
	if len(setNames) > 0 {
		ok.HeadersToRemove = keepHeaders(ok.HeadersToRemove, setNames...)
	}
	ok.QueryParametersToRemove = append(ok.QueryParametersToRemove, p.removeQuery...)
	ok.QueryParametersToRemove = append(ok.QueryParametersToRemove, pv.rawQuery...)
}

// systemValue computes a system value known per request.
func systemValue(s *paramSet, r *request, c *caller, hops uint32, now time.Time) string {
	switch s.system {
	case model.SystemSourceIP:
		if ip, ok := r.clientIP(hops); ok {
			return ip.String()
		}
		return ""
	case model.SystemRequestID:
		return r.requestID
	case model.SystemMethod:
		return r.method
	case model.SystemServerTime:
		return strconv.FormatInt(now.UnixMilli(), 10)
	}
	if c == nil || s.header == "" {
		return ""
	}
	for _, h := range c.headers {
		if h.GetHeader().GetKey() == s.header {
			return h.GetHeader().GetValue()
		}
	}
	return ""
}
