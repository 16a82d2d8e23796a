package openapi

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// Options tune Import.
type Options struct {
	// Group names the group made (required).
	Group string
	// Backend, when set, is the backend base URL for operations without
	// x-apigateway-backend, in place of the document's servers (needed
	// when they are relative, as "/api/v3").
	Backend string
	// Domains, when set, are the group's domains (default ["*"], or
	// x-apigw-group's).
	Domains []string
}

// Result is an imported document.
type Result struct {
	Group *configv1.Group
	// Policies are the throttle policies x-apigateway-ratelimits defines,
	// bound to the group's APIs that name them.
	Policies []*configv1.ThrottlePolicy
	// Bindings are the bindings to throttle policies the document names
	// but does not define: policy name -> API ids (in the target file).
	Bindings map[string][]string
	// Warnings are what was imported loosely or ignored.
	Warnings []Problem
}

var reName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Import turns a parsed document into a group. Every refusal is an *Error.
func Import(d *Document, opts Options) (*Result, error) {
	if !reName.MatchString(opts.Group) {
		return nil, &Error{[]Problem{{Message: fmt.Sprintf("%q is not a valid group name (letters, digits, _ . -; at most 64)", opts.Group)}}}
	}
	im := &importer{d: d, opts: opts, res: &Result{Group: &configv1.Group{Name: opts.Group}, Bindings: map[string][]string{}}, names: map[string]bool{}, routes: map[string]route{}, warned: map[string]bool{}}
	im.group()
	im.readPolicies()
	if len(opts.Domains) > 0 {
		im.res.Group.Domains = opts.Domains
	}
	for _, o := range d.ops {
		im.operation(o)
	}
	if len(im.errs) > 0 {
		return nil, &Error{im.errs}
	}
	for _, p := range im.res.Policies {
		if len(p.Bindings) == 0 {
			im.warn("#/"+extRatelimits+"/"+escape(p.Name), 0, "throttle policy %q is bound to no operation: imported without bindings", p.Name)
		}
	}
	return im.res, nil
}

type importer struct {
	d        *Document
	opts     Options
	res      *Result
	errs     []Problem
	names    map[string]bool
	routes   map[string]route // method+match+path -> the first operation's
	policies map[string]*configv1.ThrottlePolicy
	warned   map[string]bool
	// components are the document's component schemas as JSON trees
	// (for inlining body schemas), built on first use.
	components map[string]any
}

func (im *importer) fail(ptr string, line int, format string, args ...any) {
	im.errs = append(im.errs, Problem{Pointer: ptr, Line: line, Message: fmt.Sprintf(format, args...)})
}

func (im *importer) warn(ptr string, line int, format string, args ...any) {
	im.res.Warnings = append(im.res.Warnings, Problem{Pointer: ptr, Line: line, Message: fmt.Sprintf(format, args...)})
}

// group reads the document's top level: x-apigw-group, and warns of the
// platform extensions that are not supported.
func (im *importer) group() {
	for i := 0; i+1 < len(im.d.root.Content); i += 2 {
		k, v := im.d.root.Content[i], im.d.root.Content[i+1]
		switch {
		case k.Value == extGroup:
			g := &configv1.Group{}
			if err := decodeProto(v, g); err != nil {
				im.fail(pointer(k.Value), v.Line, "%v", err)
				continue
			}
			g.Name, g.Apis = im.opts.Group, nil
			im.res.Group = g
		case k.Value == extRatelimits:
		case strings.HasPrefix(k.Value, "x-apigateway-"):
			im.warn(pointer(k.Value), k.Line, "%s is not supported: ignored", k.Value)
		}
	}
}

// decodeProto decodes a node holding the protojson form of m.
func decodeProto(n *yaml.Node, m proto.Message) error {
	var v any
	if err := n.Decode(&v); err != nil {
		return err
	}
	js, err := json.Marshal(jsonable(v))
	if err != nil {
		return err
	}
	if err := protojson.Unmarshal(js, m); err != nil {
		return fmt.Errorf("not a valid %s: %v", m.ProtoReflect().Descriptor().Name(), err)
	}
	return nil
}

// readPolicies reads x-apigateway-ratelimits.
func (im *importer) readPolicies() {
	im.policies = map[string]*configv1.ThrottlePolicy{}
	rl := get(im.d.root, extRatelimits)
	if rl == nil {
		return
	}
	base := pointer(extRatelimits)
	if rl.Kind != yaml.MappingNode {
		im.fail(base, rl.Line, "must map policy names to policies")
		return
	}
	for i := 0; i+1 < len(rl.Content); i += 2 {
		name, v := rl.Content[i].Value, rl.Content[i+1]
		at := base + "/" + escape(name)
		if !reName.MatchString(name) {
			im.fail(at, v.Line, "%q is not a valid throttle policy name (letters, digits, _ . -; at most 64)", name)
			continue
		}
		if v.Kind != yaml.MappingNode {
			im.fail(at, v.Line, "a throttle policy must be a mapping")
			continue
		}
		p := &configv1.ThrottlePolicy{Name: name, Unit: "second"}
		for j := 0; j+1 < len(v.Content); j += 2 {
			k, x := v.Content[j].Value, v.Content[j+1]
			kat := at + "/" + escape(k)
			num := func() uint32 {
				n, err := strconv.ParseUint(x.Value, 10, 32)
				if x.Kind != yaml.ScalarNode || err != nil {
					im.fail(kat, x.Line, "%q is not a non-negative whole number", x.Value)
				}
				return uint32(n)
			}
			switch k {
			case "api-limit":
				p.ApiLimit = num()
			case "user-limit":
				p.UserLimit = num()
			case "app-limit":
				p.AppLimit = num()
			case "ip-limit":
				p.IpLimit = num()
			case "interval":
				if n := num(); n != 1 {
					im.fail(kat, x.Line, "interval %d is not supported: the gateway counts per one unit (write the limit per second, minute, hour or day)", n)
				}
			case "unit":
				switch u := strings.ToLower(x.Value); u {
				case "second", "minute", "hour", "day":
					p.Unit = u
				default:
					im.fail(kat, x.Line, "%q is not SECOND, MINUTE, HOUR or DAY", x.Value)
				}
			case "shared":
				if x.Value == "true" {
					im.warn(kat, x.Line, "shared limits are not supported: each bound API is counted on its own")
				}
			case "special":
				if x.Kind != yaml.SequenceNode {
					im.fail(kat, x.Line, "must be a list")
					continue
				}
				for s, it := range x.Content {
					sat := kat + "/" + strconv.Itoa(s)
					sp := &configv1.SpecialThreshold{}
					t := get(it, "type")
					lim := get(it, "limit")
					inst := get(it, "instance")
					switch {
					case t == nil || (!strings.EqualFold(t.Value, "app") && !strings.EqualFold(t.Value, "user")):
						im.fail(sat, it.Line, "special needs type APP or USER")
						continue
					case lim == nil || inst == nil || inst.Value == "":
						im.fail(sat, it.Line, "special needs limit and instance")
						continue
					}
					n, err := strconv.ParseUint(lim.Value, 10, 32)
					if err != nil {
						im.fail(sat+"/limit", lim.Line, "%q is not a non-negative whole number", lim.Value)
						continue
					}
					sp.Type, sp.Name, sp.Limit = strings.ToLower(t.Value), inst.Value, uint32(n)
					p.Special = append(p.Special, sp)
				}
			default:
				im.warn(kat, x.Line, "%s is not supported: ignored", k)
			}
		}
		im.policies[name] = p
		im.res.Policies = append(im.res.Policies, p)
	}
}

// operation makes one API.
func (im *importer) operation(o opRef) {
	at := pointer("paths", o.path, o.key)
	method := "ANY"
	var op *openapi3.Operation
	if o.key != extAnyMethod {
		method = strings.ToUpper(o.key)
		if pi := im.d.T.Paths.Value(o.path); pi != nil {
			op = pi.GetOperation(method)
		}
	}
	if o.node.Kind != yaml.MappingNode {
		im.fail(at, o.node.Line, "an operation must be a mapping")
		return
	}
	api := &configv1.Api{Method: method}
	nerr := len(im.errs)

	// Name: operationId, sanitised and unique.
	id := ""
	if n := get(o.node, "operationId"); n != nil {
		id = n.Value
	}
	api.Name = im.name(id, method, o.path)
	if n := get(o.node, "description"); n != nil && n.Value != "" {
		api.Description = n.Value
	} else if n := get(o.node, "summary"); n != nil {
		api.Description = n.Value
	}

	// Path and match.
	matchMode := ""
	if n := get(o.node, extMatchMode); n != nil {
		switch strings.ToUpper(n.Value) {
		case "SWA":
			matchMode = "prefix"
		case "NORMAL":
			matchMode = "exact"
		default:
			im.fail(at+"/"+extMatchMode, n.Line, "%q is not NORMAL or SWA", n.Value)
		}
	}
	path, templated, ok := im.path(o.path, at, o.node.Line, matchMode)
	if !ok {
		return
	}
	api.Path = path
	if templated || matchMode == "prefix" {
		api.Match = "prefix"
	}
	// exact: a template kept whole, its {name} segments path parameters.
	exact := !templated && strings.Contains(path, "{")

	// Authentication.
	auth, appCode := im.auth(o, op, at)
	if auth != "app" {
		api.Auth = auth
	}
	api.AppCode = appCode

	params := im.parameters(o, at, auth)
	im.requestParameters(params, exact, api)
	im.requestBody(op, at, o.node.Line, api)

	// Backend.
	api.Backend = im.backend(o, op, at, method, exact)
	if n := get(o.node, extBackend); n != nil && get(n, "parameters") != nil {
		im.backendParameters(get(n, "parameters"), at+"/"+extBackend+"/parameters", api)
	} else if exact {
		if v := passThrough(api); v != "" {
			im.fail(at+"/"+extBackend, o.node.Line, "the backend path names {%s}, which is no path parameter of the API (and the backend declares no parameters)", v)
		}
	}

	// The other extensions.
	var extra *configv1.Api
	for i := 0; i+1 < len(o.node.Content); i += 2 {
		k, v := o.node.Content[i], o.node.Content[i+1]
		kat := at + "/" + escape(k.Value)
		switch k.Value {
		case extBackend, extMatchMode:
		case extRequestType:
			if v.Value != "public" && v.Value != "private" {
				im.fail(kat, v.Line, "%q is not public or private", v.Value)
			}
		case extCors:
			switch v.Value {
			case "true":
				api.Cors = &configv1.Cors{AllowOrigins: []string{"*"}, AllowMethods: platformCORSMethods, AllowHeaders: platformCORSHeaders, MaxAge: platformCORSMaxAge}
			case "false":
			default:
				im.fail(kat, v.Line, "%q is not true or false", v.Value)
			}
		case extRatelimit:
			if v.Kind != yaml.ScalarNode || v.Value == "" {
				im.fail(kat, v.Line, "must name a throttle policy")
				continue
			}
			apiID := im.opts.Group + "/" + api.Name
			if p := im.policies[v.Value]; p != nil {
				p.Bindings = append(p.Bindings, &configv1.Binding{Api: apiID})
			} else {
				im.res.Bindings[v.Value] = append(im.res.Bindings[v.Value], apiID)
			}
		case extAPI:
			extra = &configv1.Api{}
			if err := decodeProto(v, extra); err != nil {
				im.fail(kat, v.Line, "%v", err)
				extra = nil
			}
		default:
			if strings.HasPrefix(k.Value, "x-apigateway-") {
				im.warn(kat, k.Line, "%s is not supported: ignored", k.Value)
			}
		}
	}
	if extra != nil {
		if extra.Cors != nil {
			api.Cors, extra.Cors = extra.Cors, nil
		}
		if extra.Auth != "" {
			api.Auth = extra.Auth
			if api.Auth == "app" {
				api.Auth = ""
			}
		}
		proto.Merge(api, extra)
	}

	key := api.Method + " " + api.Match + " " + routePath(api.Path)
	if first, dup := im.routes[key]; dup {
		if sameRoute(first.api, api) {
			// Two templates with one literal prefix (/pet/{id} and
			// /pet/{id}/uploadImage) and the same backend, auth and
			// policies: the first's prefix route already serves both.
			im.warn(at, o.node.Line, "%s %s (match prefix) is served by the API %q made from %s: not imported separately", api.Method, api.Path, first.api.Name, first.at)
			for _, p := range im.policies {
				for i, b := range p.Bindings {
					if b.Api == im.opts.Group+"/"+api.Name {
						p.Bindings = append(p.Bindings[:i], p.Bindings[i+1:]...)
						break
					}
				}
			}
			delete(im.names, api.Name)
			return
		}
		im.fail(at, o.node.Line, "%s %s (match %s) is also the route of %s, with another backend, auth or settings: the two operations cannot be told apart by an Envoy path match", api.Method, api.Path, orExact(api.Match), first.at)
	} else {
		im.routes[key] = route{at, api}
	}
	if len(im.errs) == nerr {
		im.res.Group.Apis = append(im.res.Group.Apis, api)
	}
}

type route struct {
	at  string
	api *configv1.Api
}

// sameRoute reports whether two APIs differ only by name and description.
func sameRoute(a, b *configv1.Api) bool {
	x, y := proto.Clone(a).(*configv1.Api), proto.Clone(b).(*configv1.Api)
	x.Name, x.Description, y.Name, y.Description = "", "", "", ""
	return proto.Equal(x, y)
}

func orExact(m string) string {
	if m == "" {
		return "exact"
	}
	return m
}

var (
	reNameChar    = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)
	reUnderscores = regexp.MustCompile(`__+`)
)

// name makes an API name: the operationId, else method_path, with the
// characters the configuration refuses replaced by "_", at most 64, made
// unique with _2, _3...
func (im *importer) name(id, method, path string) string {
	n := id
	if n == "" {
		n = strings.ToLower(method) + "_" + path
	}
	n = strings.Trim(reUnderscores.ReplaceAllString(reNameChar.ReplaceAllString(n, "_"), "_"), "_.-")
	if n == "" {
		n = strings.ToLower(method) + "_root"
	}
	if len(n) > 60 {
		n = n[:60]
	}
	base := n
	for i := 2; im.names[n]; i++ {
		n = base + "_" + strconv.Itoa(i)
	}
	im.names[n] = true
	return n
}

// path maps a path template to the configuration's path: a path without
// {parameters} as it is (exact), a template as it is (exact, with path
// parameters) when the configuration's rules allow, else (or with match
// mode prefix) the prefix before its first parameter. It refuses what no
// exact or prefix match can express. The second result says prefix.
func (im *importer) path(p, at string, line int, matchMode string) (string, bool, bool) {
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?# \t\r\n") || len(p) > 1024 {
		im.fail(at, line, "path %q must start with / and contain no query, fragment or spaces", p)
		return "", false, false
	}
	i := strings.IndexByte(p, '{')
	if i < 0 {
		if strings.Contains(p, "}") {
			im.fail(at, line, "path template %q has a } without its {: it cannot be expressed as an Envoy match", p)
			return "", false, false
		}
		return p, false, true
	}
	depth := 0
	for _, c := range p {
		switch c {
		case '{':
			depth++
		case '}':
			depth--
		}
		if depth < 0 || depth > 1 {
			break
		}
	}
	if depth != 0 || strings.Contains(p, "{}") {
		im.fail(at, line, "path template %q has unbalanced or empty braces: it cannot be expressed as an Envoy match", p)
		return "", false, false
	}
	if matchMode != "prefix" {
		rule := templateRule(p)
		if rule == "" {
			return p, false, true
		}
		im.warn(at, line, "path template %q imported as the prefix %q (match prefix, its path parameters not checked): as an exact path with parameters it breaks the rule: %s", p, p[:i], rule)
	}
	prefix := p[:i]
	if prefix == "/" {
		im.fail(at, line, "path template %q starts with a parameter: its only Envoy match would be the prefix / (every request of the group); give the path a literal first segment", p)
		return "", false, false
	}
	return prefix, true, true
}

// auth maps the operation's security requirement to an auth type.
func (im *importer) auth(o opRef, op *openapi3.Operation, at string) (string, bool) {
	var reqs []map[string][]string
	explicit := false
	if n := get(o.node, "security"); n != nil {
		explicit = true
		_ = n.Decode(&reqs)
	} else if im.d.T.Security != nil {
		explicit = true
		for _, r := range im.d.T.Security {
			reqs = append(reqs, r)
		}
	}
	if !explicit {
		im.warn(at, o.node.Line, "no security requirement: imported with auth app (the gateway's secure default); write security: [] to make it public")
		return "app", false
	}
	if len(reqs) == 0 {
		return "none", false
	}
	for _, r := range reqs {
		if len(r) == 0 {
			return "none", false
		}
	}
	r := reqs[0]
	if len(reqs) > 1 {
		im.warn(at+"/security", o.node.Line, "%d alternative security requirements: the first is used", len(reqs))
	}
	if len(r) > 1 {
		im.warn(at+"/security/0", o.node.Line, "a requirement with %d schemes: one is used", len(r))
	}
	for name := range r {
		return im.scheme(name, at)
	}
	return "app", false
}

// scheme maps a security scheme to an auth type and app_code.
func (im *importer) scheme(name, at string) (string, bool) {
	var ss *openapi3.SecurityScheme
	if im.d.T.Components != nil {
		if r := im.d.T.Components.SecuritySchemes[name]; r != nil {
			ss = r.Value
		}
	}
	sat := "#/components/securitySchemes/" + escape(name)
	if im.d.Version == "2.0" {
		sat = "#/securityDefinitions/" + escape(name)
	}
	if ss == nil {
		im.fail(at+"/security", 0, "security scheme %q is not defined", name)
		return "app", false
	}
	appCode := false
	if opt, ok := ss.Extensions[extAuthOpt].(map[string]any); ok {
		if t, _ := opt["appcode-auth-type"].(string); strings.EqualFold(t, "header") {
			appCode = true
		}
	}
	if t, ok := ss.Extensions[extAuthType]; ok {
		s, _ := t.(string)
		switch strings.ToLower(s) {
		case "appsigv1", "app":
			return "app", appCode
		case "iam":
			return "iam", false
		case "none":
			return "none", false
		case "app_code", "token", "hmac", "authorizer":
			return strings.ToLower(s), false
		default:
			im.fail(sat+"/"+extAuthType, 0, "%q is not AppSigv1, IAM, NONE (or apigw's app_code, token, hmac, authorizer)", s)
			return "app", false
		}
	}
	if ss.Type == "http" && strings.EqualFold(ss.Scheme, "bearer") {
		return "token", false
	}
	if !im.warned[sat] {
		im.warned[sat] = true
		im.warn(sat, 0, "security scheme %q (type %s) has no gateway equivalent: its operations are imported with auth app", name, ss.Type)
	}
	return "app", false
}

var reHeaderName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// parameters checks the operation's and its path item's parameters and
// returns them (the operation's replacing its path item's of the same name
// and location).
func (im *importer) parameters(o opRef, at, auth string) []paramNode {
	var out []paramNode
	index := map[string]int{}
	check := func(list *yaml.Node, lat string) {
		if list == nil {
			return
		}
		if list.Kind != yaml.SequenceNode {
			im.fail(lat, list.Line, "parameters must be a list")
			return
		}
		seen := map[string]bool{}
		for i, p := range list.Content {
			pat := lat + "/" + strconv.Itoa(i)
			if r := get(p, "$ref"); r != nil {
				if p = resolve(im.d.root, r.Value); p == nil {
					continue // reported by checkRefs
				}
			}
			name, in := get(p, "name"), get(p, "in")
			switch {
			case name == nil || name.Value == "":
				im.fail(pat, p.Line, "a parameter needs a name")
				continue
			case in == nil:
				im.fail(pat, p.Line, "parameter %q needs in (query, header, path)", name.Value)
				continue
			}
			key := in.Value + ":" + strings.ToLower(name.Value)
			if seen[key] {
				im.fail(pat, p.Line, "parameter %q in %s is listed twice", name.Value, in.Value)
			}
			seen[key] = true
			if j, ok := index[key]; ok {
				out[j] = paramNode{p, pat}
			} else {
				index[key] = len(out)
				out = append(out, paramNode{p, pat})
			}
			switch in.Value {
			case "query", "body", "formData":
			case "path":
				if !strings.Contains(o.path, "{"+name.Value+"}") {
					im.fail(pat, p.Line, "path parameter %q does not appear in the path %q", name.Value, o.path)
				}
			case "header":
				if !reHeaderName.MatchString(name.Value) {
					im.fail(pat, p.Line, "%q is not a valid header name", name.Value)
				}
				if auth == "iam" && strings.EqualFold(name.Value, "X-Auth-Token") {
					im.fail(pat, p.Line, "request header X-Auth-Token is reserved on IAM APIs (it carries the IAM token): rename the parameter or choose another auth")
				}
			case "cookie":
				im.warn(pat, p.Line, "cookie parameter %q: the gateway does not read cookies", name.Value)
			default:
				im.fail(pat, in.Line, "parameter %q: in %q is not supported (query, header, path, cookie; Swagger 2.0 also body, formData)", name.Value, in.Value)
			}
		}
	}
	if pi := resolve(im.d.root, pointer("paths", o.path)); pi != nil {
		check(get(pi, "parameters"), pointer("paths", o.path, "parameters"))
	}
	check(get(o.node, "parameters"), at+"/parameters")
	return out
}

// routePath is a path as routing sees it: the names of path parameters
// do not matter (/orders/{id} and /orders/{oid} are one route).
func routePath(p string) string {
	if !strings.Contains(p, "{") {
		return p
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if len(s) >= 2 && s[0] == '{' && s[len(s)-1] == '}' {
			segs[i] = "{}"
		}
	}
	return strings.Join(segs, "/")
}

// backend maps x-apigateway-backend, else the servers (or Options.Backend).
func (im *importer) backend(o opRef, op *openapi3.Operation, at, method string, exact bool) *configv1.Backend {
	b := &configv1.Backend{}
	// An exact API with path parameters keeps the backend path's template
	// (its {name} filled by backend parameters); a prefix route keeps the
	// literal prefix, the rest of the client's path appended.
	route := literal
	if exact {
		route = func(p string) string { return p }
	}
	n := get(o.node, extBackend)
	if n == nil {
		base := im.opts.Backend
		servers := im.d.T.Servers
		if op != nil && op.Servers != nil && len(*op.Servers) > 0 {
			servers = *op.Servers
		} else if pi := im.d.T.Paths.Value(o.path); pi != nil && len(pi.Servers) > 0 {
			servers = pi.Servers
		}
		srv := ""
		if len(servers) > 0 {
			s := servers[0]
			srv = s.URL
			for name, v := range s.Variables {
				srv = strings.ReplaceAll(srv, "{"+name+"}", v.Default)
			}
		}
		u, err := url.Parse(srv)
		switch {
		case base != "":
			if err == nil && u.Host != "" {
				srv = u.Path
			}
			srv = strings.TrimRight(base, "/") + "/" + strings.TrimLeft(srv, "/")
		case srv == "":
			im.fail(at, o.node.Line, "no backend: the document has no servers and the operation no %s (give --backend URL)", extBackend)
			return b
		case err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https"):
			im.fail(at, o.node.Line, "no backend: server URL %q is not an absolute http(s) URL and the operation has no %s (give --backend URL)", srv, extBackend)
			return b
		}
		b.Url = strings.TrimRight(srv, "/") + route(o.path)
		return b
	}
	bat := at + "/" + extBackend
	typ := get(n, "type")
	if typ == nil {
		im.fail(bat, n.Line, "type is required (HTTP, HTTP-VPC or MOCK)")
		return b
	}
	endpoint := func(key string) *yaml.Node {
		e := get(n, key)
		if e == nil || e.Kind != yaml.MappingNode {
			im.fail(bat+"/"+key, n.Line, "type %s needs %s", typ.Value, key)
			return nil
		}
		return e
	}
	common := func(e *yaml.Node, eat string) string {
		if t := get(e, "timeout"); t != nil {
			ms, err := strconv.ParseUint(t.Value, 10, 32)
			if err != nil || ms < 1 || ms > 60000 {
				im.fail(eat+"/timeout", t.Line, "timeout %q must be 1-60000 (milliseconds)", t.Value)
			} else {
				b.Timeout = (time.Duration(ms) * time.Millisecond).String()
			}
		}
		if m := get(e, "method"); m != nil && !strings.EqualFold(m.Value, method) && !strings.EqualFold(m.Value, "ANY") && method != "ANY" {
			im.warn(eat+"/method", m.Line, "backend method %s differs from the API's %s: the gateway forwards the client's method", m.Value, method)
		}
		scheme := "http"
		if s := get(e, "scheme"); s != nil {
			scheme = strings.ToLower(s.Value)
			if scheme != "http" && scheme != "https" {
				im.fail(eat+"/scheme", s.Line, "%q is not http or https", s.Value)
			}
		}
		p := ""
		if pp := get(e, "path"); pp != nil {
			p = route(pp.Value)
			if strings.Contains(pp.Value, "{") && !strings.Contains(o.path, "{") {
				im.warn(eat+"/path", pp.Line, "backend path %q has parameters but the API path has none: the path %q is sent", pp.Value, p)
			}
		}
		return scheme + "\x00" + p
	}
	switch strings.ToUpper(typ.Value) {
	case "HTTP":
		e := endpoint("httpEndpoints")
		if e == nil {
			return b
		}
		eat := bat + "/httpEndpoints"
		sp := strings.SplitN(common(e, eat), "\x00", 2)
		addr := get(e, "address")
		a := ""
		if addr != nil && addr.Kind == yaml.SequenceNode && len(addr.Content) > 0 {
			a = addr.Content[0].Value
			if len(addr.Content) > 1 {
				im.warn(eat+"/address", addr.Line, "%d addresses: the first is used (use a channel to balance)", len(addr.Content))
			}
		} else if addr != nil && addr.Kind == yaml.ScalarNode {
			a = addr.Value
		}
		if a == "" {
			im.fail(eat+"/address", e.Line, "address is required (host[:port])")
			return b
		}
		b.Url = sp[0] + "://" + a + sp[1]
	case "HTTP-VPC":
		e := endpoint("httpVpcEndpoints")
		if e == nil {
			return b
		}
		eat := bat + "/httpVpcEndpoints"
		sp := strings.SplitN(common(e, eat), "\x00", 2)
		name := get(e, "name")
		if name != nil && name.Kind == yaml.SequenceNode && len(name.Content) > 0 {
			name = name.Content[0]
		}
		if name == nil || name.Value == "" {
			im.fail(eat+"/name", e.Line, "name (the channel) is required")
			return b
		}
		b.Channel, b.Path = name.Value, sp[1]
	case "MOCK":
		e := endpoint("mockEndpoints")
		if e == nil {
			return b
		}
		b.Mock = &configv1.Mock{}
		if rc := get(e, "result-content"); rc != nil {
			b.Mock.Body = rc.Value
		}
	case "FUNCTION":
		im.fail(bat+"/type", typ.Line, "FUNCTION backends are not supported (HTTP, HTTP-VPC and MOCK are)")
	default:
		im.fail(bat+"/type", typ.Line, "%q is not HTTP, HTTP-VPC or MOCK", typ.Value)
	}
	return b
}

// literal is a path up to its first template parameter.
func literal(p string) string {
	if i := strings.IndexByte(p, '{'); i >= 0 {
		return p[:i]
	}
	return p
}
