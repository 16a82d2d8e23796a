package config

// Request parameters (api.request.parameters) and backend parameters
// (api.backend.parameters): docs/configuration.md, "Parameters".

import (
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

var (
	rePathVar     = model.PathVarName
	reQueryName   = model.QueryParamName
	rePathLiteral = model.PathLiteral
	// reContextKey is an authorizer context key (authz/authorizer.go).
	reContextKey = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
)

// maxPathVariables is Envoy's limit on the variables of a URI template.
const maxPathVariables = 5

// reservedBackendHeaders may not be backend parameters: Envoy or the
// gateway owns them.
var reservedBackendHeaders = map[string]bool{
	"host": true, "content-length": true, "transfer-encoding": true, "connection": true,
	"upgrade": true, "te": true, "keep-alive": true, "proxy-connection": true, "x-envoy-original-path": true,
}

func paramLocation(s string) model.ParamLocation {
	switch s {
	case "path":
		return model.InPath
	case "query":
		return model.InQuery
	case "header":
		return model.InHeader
	}
	return 0
}

// validParamName reports whether name can be a parameter in loc, with a
// hint when not.
func validParamName(loc model.ParamLocation, name string) (bool, string) {
	switch loc {
	case model.InPath:
		return rePathVar.MatchString(name), "a path variable: a letter, then letters, digits or _; at most 16"
	case model.InQuery:
		return reQueryName.MatchString(name), "a query parameter name: letters, digits and . _ ~ - ! $ ' ( ) * , ; : @ / ?; at most 128"
	case model.InHeader:
		return reHeader.MatchString(name), "a header name"
	}
	return false, ""
}

// pathTemplate checks the {name} segments of an API path (match exact)
// and returns its variables.
func (b *builder) pathTemplate(path string, api *model.API) []string {
	vars := model.PathVariables(api.Path)
	if len(vars) == 0 {
		return nil
	}
	if api.Match != model.MatchExact {
		b.ps.add(field(path, "path"), "%q: path parameters ({name} segments) need match exact", api.Path)
		return nil
	}
	seen := map[string]bool{}
	for _, seg := range strings.Split(api.Path, "/") {
		if !strings.ContainsAny(seg, "{}") {
			if !rePathLiteral.MatchString(seg) {
				b.ps.add(field(path, "path"), "%q: segment %q of a path with parameters may only use letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = : @", api.Path, seg)
			}
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(seg, "{"), "}")
		switch {
		case len(seg) < 2 || seg[0] != '{' || seg[len(seg)-1] != '}' || strings.ContainsAny(name, "{}"):
			b.ps.add(field(path, "path"), "%q: a path parameter is a whole segment {name}", api.Path)
			return nil
		case !rePathVar.MatchString(name):
			b.ps.add(field(path, "path"), "%q: %q is not a path parameter name (a letter, then letters, digits or _; at most 16)", api.Path, name)
			return nil
		case seen[name]:
			b.ps.add(field(path, "path"), "%q: path parameter %q appears twice", api.Path, name)
			return nil
		}
		seen[name] = true
	}
	if len(vars) > maxPathVariables {
		b.ps.add(field(path, "path"), "%q has %d path parameters, more than the %d Envoy's path templates allow", api.Path, len(vars), maxPathVariables)
		return nil
	}
	return vars
}

// parameters builds the API's request and backend parameters; nil when it
// declares none.
func (b *builder) parameters(path string, a *configv1.Api, api *model.API) *model.Parameters {
	vars := b.pathTemplate(path, api)
	reqs := a.GetRequest().GetParameters()
	backs := a.GetBackend().GetParameters()
	for i, p := range a.GetBackendPolicies() {
		if len(p.GetBackend().GetParameters()) > 0 {
			b.ps.add(field(idx(field(path, "backend_policies"), i), "backend.parameters"), "backend parameters are declared on the API's backend only (they apply to its backend policies too)")
		}
	}
	if len(vars) == 0 && len(reqs) == 0 && len(backs) == 0 {
		return nil
	}
	ps := &model.Parameters{}
	rpath := field(path, "request.parameters")
	if len(reqs) > model.MaxParameters {
		b.ps.add(rpath, "%d request parameters: at most %d", len(reqs), model.MaxParameters)
		return nil
	}
	byName := map[string]model.ParamLocation{}
	for i, p := range reqs {
		pp := idx(rpath, i)
		rp, ok := b.requestParameter(pp, p, vars)
		if !ok {
			continue
		}
		if loc, dup := byName[rp.Name]; dup {
			if loc == rp.In {
				b.ps.add(field(pp, "name"), "%s parameter %q is declared twice", rp.In, p.GetName())
			} else {
				b.ps.add(field(pp, "name"), "a parameter named %q is already declared in %s (backend parameters name request parameters by name: give each its own)", p.GetName(), loc)
			}
			continue
		}
		byName[rp.Name] = rp.In
		ps.Request = append(ps.Request, rp)
	}
	// The path's variables not declared are plain required strings.
	for _, v := range vars {
		if !b.findRequest(ps.Request, v, model.InPath) {
			if loc, dup := byName[v]; dup {
				b.ps.add(field(path, "path"), "path parameter %q has the name of a %s parameter (give each its own)", v, loc)
				continue
			}
			ps.Request = append(ps.Request, model.RequestParameter{Name: v, In: model.InPath, Type: model.ParamString, Required: true, MinLength: -1, MaxLength: -1})
		}
	}
	bpath := field(path, "backend.parameters")
	if len(backs) > model.MaxParameters {
		b.ps.add(bpath, "%d backend parameters: at most %d", len(backs), model.MaxParameters)
		return ps
	}
	if len(backs) > 0 && a.GetBackend().GetMock() != nil {
		b.ps.add(bpath, "a mock backend takes no backend parameters")
		return ps
	}
	seen := map[[2]string]bool{}
	for i, p := range backs {
		pp := idx(bpath, i)
		bp, ok := b.backendParameter(pp, p, ps.Request, api)
		if !ok {
			continue
		}
		key := [2]string{bp.In.String(), bp.Name}
		if seen[key] {
			b.ps.add(field(pp, "name"), "%s parameter %q is declared twice", bp.In, p.GetName())
			continue
		}
		seen[key] = true
		ps.Backend = append(ps.Backend, bp)
	}
	return ps
}

// findRequest reports whether list has a parameter name in loc (header
// names case-insensitively).
func (b *builder) findRequest(list []model.RequestParameter, name string, loc model.ParamLocation) bool {
	for _, p := range list {
		if p.In == loc && (p.Name == name || loc == model.InHeader && strings.EqualFold(p.Name, name)) {
			return true
		}
	}
	return false
}

func (b *builder) requestParameter(path string, p *configv1.RequestParameter, vars []string) (model.RequestParameter, bool) {
	rp := model.RequestParameter{Name: p.GetName(), In: paramLocation(p.GetIn()), Required: p.GetRequired(), MinLength: -1, MaxLength: -1}
	if rp.In == 0 {
		b.ps.add(field(path, "in"), "%q is not path, query or header", p.GetIn())
		return rp, false
	}
	if ok, hint := validParamName(rp.In, rp.Name); !ok {
		b.ps.add(field(path, "name"), "%q is not %s", rp.Name, hint)
		return rp, false
	}
	if rp.In == model.InHeader {
		rp.Name = strings.ToLower(rp.Name)
	}
	ok := true
	if rp.In == model.InPath {
		if !slices.Contains(vars, rp.Name) {
			b.ps.add(field(path, "name"), "path parameter %q is not a {%s} segment of the API path", rp.Name, rp.Name)
			ok = false
		}
		if p.Default != nil {
			b.ps.add(field(path, "default"), "a path parameter has no default (the route needs the segment)")
			ok = false
		}
		rp.Required = true
	}
	switch p.GetType() {
	case "", "string":
		rp.Type = model.ParamString
	case "number":
		rp.Type = model.ParamNumber
	case "boolean":
		rp.Type = model.ParamBoolean
	default:
		b.ps.add(field(path, "type"), "%q is not string, number or boolean", p.GetType())
		return rp, false
	}
	only := func(name string, set bool, t model.ParamType) {
		if set && rp.Type != t {
			b.ps.add(field(path, name), "%s applies to %s parameters only", name, t)
			ok = false
		}
	}
	only("min_length", p.MinLength != nil, model.ParamString)
	only("max_length", p.MaxLength != nil, model.ParamString)
	only("pattern", p.GetPattern() != "", model.ParamString)
	only("min_value", p.MinValue != nil, model.ParamNumber)
	only("max_value", p.MaxValue != nil, model.ParamNumber)
	if len(p.GetEnum()) > 0 && rp.Type == model.ParamBoolean {
		b.ps.add(field(path, "enum"), "enum applies to string and number parameters")
		ok = false
	}
	if !ok {
		return rp, false
	}
	if p.MinLength != nil {
		rp.MinLength = int(p.GetMinLength())
	}
	if p.MaxLength != nil {
		rp.MaxLength = int(p.GetMaxLength())
		if rp.MaxLength < rp.MinLength {
			b.ps.add(field(path, "max_length"), "%d is less than min_length %d", rp.MaxLength, rp.MinLength)
			ok = false
		}
	}
	for _, v := range []struct {
		name string
		p    *float64
		dst  **float64
	}{{"min_value", p.MinValue, &rp.MinValue}, {"max_value", p.MaxValue, &rp.MaxValue}} {
		if v.p == nil {
			continue
		}
		if math.IsNaN(*v.p) || math.IsInf(*v.p, 0) {
			b.ps.add(field(path, v.name), "not a finite number")
			ok = false
			continue
		}
		x := *v.p
		*v.dst = &x
	}
	if rp.MinValue != nil && rp.MaxValue != nil && *rp.MaxValue < *rp.MinValue {
		b.ps.add(field(path, "max_value"), "%g is less than min_value %g", *rp.MaxValue, *rp.MinValue)
		ok = false
	}
	if pat := p.GetPattern(); pat != "" {
		re, err := regexp.Compile(`^(?:` + pat + `)$`)
		if err != nil || len(pat) > 1024 {
			b.ps.add(field(path, "pattern"), "%q is not an RE2 regular expression of at most 1024 bytes", pat)
			ok = false
		} else {
			rp.Pattern = re
		}
	}
	for i, e := range p.GetEnum() {
		if msg := model.CheckParameterValue(&model.RequestParameter{Type: rp.Type, MinLength: -1, MaxLength: -1}, e); msg != "" {
			b.ps.add(idx(field(path, "enum"), i), "%q %s", e, msg)
			ok = false
		}
	}
	rp.Enum = p.GetEnum()
	if p.Default != nil && ok {
		rp.HasDefault, rp.Default = true, p.GetDefault()
		if msg := model.CheckParameterValue(&rp, rp.Default); msg != "" || rp.Default == "" {
			if msg == "" {
				msg = "is empty"
			}
			b.ps.add(field(path, "default"), "%q %s", rp.Default, msg)
			ok = false
		}
	}
	return rp, ok
}

func (b *builder) backendParameter(path string, p *configv1.BackendParameter, reqs []model.RequestParameter, api *model.API) (model.BackendParameter, bool) {
	bp := model.BackendParameter{Name: p.GetName(), In: paramLocation(p.GetIn())}
	if bp.In == 0 {
		b.ps.add(field(path, "in"), "%q is not path, query or header", p.GetIn())
		return bp, false
	}
	if ok, hint := validParamName(bp.In, bp.Name); !ok {
		b.ps.add(field(path, "name"), "%q is not %s", bp.Name, hint)
		return bp, false
	}
	if bp.In == model.InHeader {
		bp.Name = strings.ToLower(bp.Name)
		if reservedBackendHeaders[bp.Name] || slices.Contains(model.IdentityHeaders, bp.Name) {
			b.ps.add(field(path, "name"), "header %q is the gateway's or Envoy's to set", p.GetName())
			return bp, false
		}
	}
	n := 0
	if p.GetFrom() != "" {
		n++
		bp.Source, bp.From = model.FromRequest, p.GetFrom()
	}
	if p.Constant != nil {
		n++
		bp.Source, bp.Value = model.FromConstant, p.GetConstant()
	}
	if p.GetSystem() != "" {
		n++
		bp.Source, bp.System = model.FromSystem, p.GetSystem()
	}
	if n != 1 {
		b.ps.add(path, "set exactly one of from, constant, system")
		return bp, false
	}
	switch bp.Source {
	case model.FromRequest:
		var src *model.RequestParameter
		for i := range reqs {
			if reqs[i].Name == bp.From || reqs[i].In == model.InHeader && strings.EqualFold(reqs[i].Name, bp.From) {
				src = &reqs[i]
			}
		}
		if src == nil {
			b.ps.add(field(path, "from"), "request parameter %q is not declared (request.parameters, or a {name} segment of the API path)", bp.From)
			return bp, false
		}
		bp.From = src.Name
		if bp.In == model.InPath && src.In != model.InPath {
			b.ps.add(field(path, "from"), "a backend path parameter comes from a path parameter or a constant (Envoy rewrites the path; %q is a %s parameter)", bp.From, src.In)
			return bp, false
		}
	case model.FromConstant:
		if strings.ContainsAny(bp.Value, "\r\n\x00") || !utf8.ValidString(bp.Value) || len(bp.Value) > 4096 {
			b.ps.add(field(path, "constant"), "not a header-safe value of at most 4096 bytes")
			return bp, false
		}
		if bp.In == model.InPath && (bp.Value == "" || !rePathLiteral.MatchString(bp.Value) || bp.Value == "." || bp.Value == "..") {
			b.ps.add(field(path, "constant"), "%q is not a path segment (letters, digits and - . _ ~ ! $ & ' ( ) * + , ; = : @)", bp.Value)
			return bp, false
		}
	case model.FromSystem:
		if key, ok := strings.CutPrefix(bp.System, model.SystemAuthorizerPrefix); ok {
			if !reContextKey.MatchString(key) {
				b.ps.add(field(path, "system"), "%q: an authorizer context key has letters, digits and - (at most 64)", bp.System)
				return bp, false
			}
			if api.Auth != model.AuthAuthorizer {
				b.ps.add(field(path, "system"), "%q needs auth authorizer", bp.System)
				return bp, false
			}
		} else if !slices.Contains(model.SystemParameters, bp.System) {
			b.ps.add(field(path, "system"), "%q is not a system parameter (%s, authorizer.<key>)", bp.System, strings.Join(model.SystemParameters, ", "))
			return bp, false
		}
		if bp.In == model.InPath {
			b.ps.add(field(path, "system"), "a backend path parameter comes from a path parameter or a constant")
			return bp, false
		}
	}
	return bp, true
}

// backendPathTemplate checks the {name} segments of a backend path
// against the API's backend path parameters: each names one, and the
// API's own backend (main) uses every one.
func (b *builder) backendPathTemplate(path string, api *model.API, be model.Backend, main bool) {
	if be.Kind == model.BackendMock {
		return
	}
	vars := model.PathVariables(be.Path)
	var declared []string
	if api.Parameters != nil {
		for _, p := range api.Parameters.Backend {
			if p.In == model.InPath {
				declared = append(declared, p.Name)
			}
		}
	}
	if len(vars) == 0 && len(declared) == 0 {
		return
	}
	if api.Match != model.MatchExact {
		b.addOnce(path, "%q: backend path parameters need match exact", be.Path)
		return
	}
	for _, seg := range strings.Split(be.Path, "/") {
		if !strings.ContainsAny(seg, "{}") {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(seg, "{"), "}")
		if len(seg) < 2 || seg[0] != '{' || seg[len(seg)-1] != '}' || strings.ContainsAny(name, "{}") {
			b.addOnce(path, "%q: a path parameter is a whole segment {name}", be.Path)
			return
		}
		if !slices.Contains(declared, name) {
			b.addOnce(path, "%q names {%s}, which is not a backend path parameter (backend.parameters with in: path)", be.Path, name)
		}
	}
	if !main {
		return
	}
	for _, d := range declared {
		if !slices.Contains(vars, d) {
			b.addOnce(path, "%q does not use backend path parameter {%s}", be.Path, d)
		}
	}
	if n := len(vars); n != len(slices.Compact(slices.Sorted(slices.Values(vars)))) {
		b.addOnce(path, "%q names a path parameter twice", be.Path)
	}
}

// backendPathField is where a backend's path is written: path, else the
// URL's path.
func backendPathField(path string, be *configv1.Backend) string {
	if be.GetPath() != "" || be.GetUrl() == "" {
		return field(path, "path")
	}
	return field(path, "url")
}

// changesTarget reports whether parameters change the path or the query
// the backend receives.
func changesTarget(ps *model.Parameters) bool {
	if ps == nil {
		return false
	}
	for _, r := range ps.Request {
		if r.In == model.InPath || r.In == model.InQuery {
			return true
		}
	}
	for _, b := range ps.Backend {
		if b.In == model.InPath || b.In == model.InQuery {
			return true
		}
	}
	return false
}

// routePath is the API path as routing sees it: path parameters' names
// do not matter (/orders/{id} and /orders/{oid} are the same route).
func routePath(api *model.API) string {
	if api.Match != model.MatchExact || !strings.Contains(api.Path, "{") {
		return api.Path
	}
	segs := strings.Split(api.Path, "/")
	for i, s := range segs {
		if len(s) >= 2 && s[0] == '{' && s[len(s)-1] == '}' {
			segs[i] = "{}"
		}
	}
	return strings.Join(segs, "/")
}
