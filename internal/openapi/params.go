package openapi

// Parameters: an operation's (and its path item's) path, query and header
// parameters become the API's request.parameters; x-apigateway-backend's
// parameters its backend.parameters; a path template /orders/{id} an
// exact API path with a path parameter when the configuration's rules
// allow. Export writes them back. docs/openapi.md, "Parameters".

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/proto"

	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// The configuration's rules (internal/model/names.go).
var (
	rePathVar     = model.PathVarName
	reQueryName   = model.QueryParamName
	rePathLiteral = model.PathLiteral
	reCfgHeader   = model.HeaderName
)

const maxPathVariables = 5

// templateRule returns "" when the path template p can be an exact API
// path with path parameters, else the configuration's rule it breaks.
func templateRule(p string) string {
	seen := map[string]bool{}
	n := 0
	for _, seg := range strings.Split(p, "/") {
		if !strings.ContainsAny(seg, "{}") {
			if !rePathLiteral.MatchString(seg) {
				return fmt.Sprintf("the literal segments of a path with parameters use RFC 3986 path characters only (%q)", seg)
			}
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(seg, "{"), "}")
		switch {
		case len(seg) < 2 || seg[0] != '{' || seg[len(seg)-1] != '}' || strings.ContainsAny(name, "{}"):
			return fmt.Sprintf("a path parameter is a whole segment {name} (%q)", seg)
		case !rePathVar.MatchString(name):
			return fmt.Sprintf("a path parameter name is a letter, then letters, digits or _, at most 16 (%q)", name)
		case seen[name]:
			return fmt.Sprintf("path parameter %q appears twice", name)
		}
		seen[name] = true
		n++
	}
	if n > maxPathVariables {
		return fmt.Sprintf("at most %d path parameters (%d)", maxPathVariables, n)
	}
	return ""
}

// paramNode is a parameter of an operation, its $ref resolved.
type paramNode struct {
	n  *yaml.Node
	at string
}

// scalarOf returns n's scalar value, or false.
func scalarOf(n *yaml.Node) (string, bool) {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", false
	}
	return n.Value, true
}

// requestParameters maps the operation's parameters (checked by
// parameters) to api.request.parameters. exact says the API path is a
// template with path parameters (else path parameters are not stored).
func (im *importer) requestParameters(list []paramNode, exact bool, api *configv1.Api) {
	byName := map[string]string{}
	var out []*configv1.RequestParameter
	for _, pn := range list {
		p, pat := pn.n, pn.at
		name, _ := scalarOf(get(p, "name"))
		in, _ := scalarOf(get(p, "in"))
		switch in {
		case "path":
			if !exact {
				continue // a prefix route: the path's rule was warned of
			}
		case "query":
			if !reQueryName.MatchString(name) {
				im.warn(pat, p.Line, "query parameter %q not imported: a query parameter name is letters, digits and . _ ~ - ! $ ' ( ) * , ; : @ / ? (at most 128)", name)
				continue
			}
		case "header":
			if !reCfgHeader.MatchString(name) {
				im.warn(pat, p.Line, "header parameter %q not imported: at most 128 characters", name)
				continue
			}
		default:
			continue // cookie (warned), body and formData (the request body)
		}
		if loc, dup := byName[strings.ToLower(name)]; dup && (in != "header" || loc != "header") {
			im.warn(pat, p.Line, "%s parameter %q not imported: a %s parameter has the same name (the configuration names request parameters by name)", in, name, loc)
			continue
		}
		rp := &configv1.RequestParameter{Name: name, In: in}
		if r, _ := scalarOf(get(p, "required")); r == "true" || in == "path" {
			rp.Required = true
		}
		if d, ok := scalarOf(get(p, "description")); ok {
			rp.Description = d
		}
		// The schema: OpenAPI 3's schema, Swagger 2.0's fields on the
		// parameter itself.
		s := get(p, "schema")
		if s == nil {
			s = p
		} else if r := get(s, "$ref"); r != nil {
			s = resolve(im.d.root, r.Value)
		}
		if s == nil || get(p, "content") != nil {
			im.warn(pat, p.Line, "%s parameter %q not imported: it has no schema (content is not supported)", in, name)
			continue
		}
		if !im.paramSchema(s, pat, p.Line, rp) {
			continue
		}
		if in == "path" && rp.Type == "" && rp.Description == "" && proto0(rp) {
			// A plain required string: what {name} alone declares.
			byName[strings.ToLower(name)] = in
			continue
		}
		byName[strings.ToLower(name)] = in
		out = append(out, rp)
	}
	if len(out) > model.MaxParameters {
		im.warn("", 0, "API %s: %d parameters, the first %d imported", api.Name, len(out), model.MaxParameters)
		out = out[:model.MaxParameters]
	}
	if len(out) > 0 {
		if api.Request == nil {
			api.Request = &configv1.ApiRequest{}
		}
		api.Request.Parameters = out
	}
}

// proto0 reports whether rp has no constraint.
func proto0(rp *configv1.RequestParameter) bool {
	return rp.Default == nil && len(rp.Enum) == 0 && rp.MinLength == nil && rp.MaxLength == nil && rp.MinValue == nil && rp.MaxValue == nil && rp.Pattern == ""
}

// paramSchema maps a parameter's schema; false when the parameter is not
// imported (a warning says why).
func (im *importer) paramSchema(s *yaml.Node, pat string, line int, rp *configv1.RequestParameter) bool {
	typ, _ := scalarOf(get(s, "type"))
	switch typ {
	case "", "string":
	case "number":
		rp.Type = "number"
	case "integer":
		rp.Type = "number"
		im.warn(pat, line, "%s parameter %q: integer imported as number (the gateway's type accepts any finite number, 1.5 too)", rp.In, rp.Name)
	case "boolean":
		rp.Type = "boolean"
	case "array":
		im.warn(pat, line, "%s parameter %q: array imported as a string (required only: its items are not checked)", rp.In, rp.Name)
		return true
	default:
		im.warn(pat, line, "%s parameter %q not imported: type %s is not string, number, integer, boolean or array", rp.In, rp.Name, typ)
		return false
	}
	isString := rp.Type == ""
	dropped := func(what string) {
		im.warn(pat, line, "%s parameter %q: %s not imported (%s)", rp.In, rp.Name, what, "it applies to "+map[bool]string{true: "string", false: "number"}[what == "minLength" || what == "maxLength" || what == "pattern"]+" parameters")
	}
	u32 := func(key string) *uint32 {
		v, ok := scalarOf(get(s, key))
		if !ok {
			return nil
		}
		if !isString {
			dropped(key)
			return nil
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			im.warn(pat, line, "%s parameter %q: %s %q not imported (not a whole number)", rp.In, rp.Name, key, v)
			return nil
		}
		x := uint32(n)
		return &x
	}
	f64 := func(key string) *float64 {
		v, ok := scalarOf(get(s, key))
		if !ok {
			return nil
		}
		if rp.Type != "number" {
			dropped(key)
			return nil
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			im.warn(pat, line, "%s parameter %q: %s %q not imported (not a finite number)", rp.In, rp.Name, key, v)
			return nil
		}
		return &f
	}
	rp.MinLength, rp.MaxLength = u32("minLength"), u32("maxLength")
	rp.MinValue, rp.MaxValue = f64("minimum"), f64("maximum")
	for _, k := range []string{"exclusiveMinimum", "exclusiveMaximum"} {
		if v, ok := scalarOf(get(s, k)); ok && v != "false" {
			im.warn(pat, line, "%s parameter %q: %s not imported (the gateway's bounds are inclusive)", rp.In, rp.Name, k)
		}
	}
	if p, ok := scalarOf(get(s, "pattern")); ok && p != "" {
		switch {
		case !isString:
			dropped("pattern")
		default:
			re := importPattern(p)
			if _, err := regexp.Compile(`^(?:` + re + `)$`); err != nil || len(re) > 1024 {
				im.warn(pat, line, "%s parameter %q: pattern %q not imported (not an RE2 expression of at most 1024 bytes)", rp.In, rp.Name, p)
			} else {
				rp.Pattern = re
			}
		}
	}
	// What the value checks need to see.
	mp := &model.RequestParameter{Type: model.ParamString, MinLength: -1, MaxLength: -1}
	switch rp.Type {
	case "number":
		mp.Type = model.ParamNumber
	case "boolean":
		mp.Type = model.ParamBoolean
	}
	if e := get(s, "enum"); e != nil && e.Kind == yaml.SequenceNode {
		if rp.Type == "boolean" {
			im.warn(pat, line, "%s parameter %q: enum of a boolean not imported", rp.In, rp.Name)
		} else {
			for _, x := range e.Content {
				v, ok := scalarOf(x)
				if !ok || model.CheckParameterValue(mp, v) != "" {
					im.warn(pat, line, "%s parameter %q: enum value %q not imported (not a %s)", rp.In, rp.Name, v, mp.Type)
					continue
				}
				rp.Enum = append(rp.Enum, v)
			}
		}
	}
	if d, ok := scalarOf(get(s, "default")); ok {
		mp.Enum = rp.Enum
		if rp.MinLength != nil {
			mp.MinLength = int(*rp.MinLength)
		}
		if rp.MaxLength != nil {
			mp.MaxLength = int(*rp.MaxLength)
		}
		mp.MinValue, mp.MaxValue = rp.MinValue, rp.MaxValue
		if rp.Pattern != "" {
			mp.Pattern = regexp.MustCompile(`^(?:` + rp.Pattern + `)$`)
		}
		switch msg := model.CheckParameterValue(mp, d); {
		case rp.In == "path":
			im.warn(pat, line, "path parameter %q: default not imported (a path parameter is always sent)", rp.Name)
		case msg != "" || d == "":
			im.warn(pat, line, "%s parameter %q: default %q not imported (it breaks the parameter's type or constraints)", rp.In, rp.Name, d)
		default:
			rp.Default = &d
		}
	}
	return true
}

// importPattern turns an OpenAPI pattern (found anywhere in the value)
// into the configuration's (matching the whole value): anchored at both
// ends it is kept (export's ^(?:P)$ gives back P), else it is wrapped in
// (?s:.*).
func importPattern(p string) string {
	if strings.HasPrefix(p, "^(?:") && strings.HasSuffix(p, ")$") && !strings.HasSuffix(p, `\)$`) && wholeGroup(p[1:len(p)-1]) {
		return p[4 : len(p)-2]
	}
	if strings.HasPrefix(p, "^") && strings.HasSuffix(p, "$") && !strings.HasSuffix(p, `\$`) {
		return p
	}
	return `(?s:.*)(?:` + p + `)(?s:.*)`
}

// wholeGroup reports whether g, which starts with "(", is one group: its
// first parenthesis closes at its end.
func wholeGroup(g string) bool {
	depth, class := 0, false
	for i := 0; i < len(g); i++ {
		switch c := g[i]; {
		case c == '\\':
			i++
		case class:
			class = c != ']'
		case c == '[':
			class = true
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 && i != len(g)-1 {
				return false
			}
		}
	}
	return depth == 0
}

// platformSystem maps the platform's system parameter names to apigw's.
var platformSystem = map[string]string{
	"sourceIp": model.SystemSourceIP, "requestId": model.SystemRequestID, "apiId": model.SystemAPIID,
	"apiName": model.SystemAPIName, "appId": model.SystemAppID, "stage": model.SystemStage,
}

// backendParameters maps x-apigateway-backend's parameters
// ({name, value, in, origin: REQUEST|CONSTANT|SYSTEM, description}).
func (im *importer) backendParameters(n *yaml.Node, bat string, api *configv1.Api) {
	if n == nil {
		return
	}
	if n.Kind != yaml.SequenceNode {
		im.fail(bat, n.Line, "parameters must be a list")
		return
	}
	declared := map[string]bool{}
	for _, rp := range api.GetRequest().GetParameters() {
		declared[strings.ToLower(rp.Name)] = true
	}
	for _, v := range model.PathVariables(api.Path) {
		if api.Match == "" {
			declared[strings.ToLower(v)] = true
		}
	}
	var out []*configv1.BackendParameter
	for i, p := range n.Content {
		pat := bat + "/" + strconv.Itoa(i)
		name, _ := scalarOf(get(p, "name"))
		in, _ := scalarOf(get(p, "in"))
		value, hasValue := scalarOf(get(p, "value"))
		origin, _ := scalarOf(get(p, "origin"))
		if name == "" || (in != "path" && in != "query" && in != "header") {
			im.fail(pat, p.Line, "a backend parameter needs a name and in (path, query or header)")
			continue
		}
		bp := &configv1.BackendParameter{Name: name, In: in}
		if d, ok := scalarOf(get(p, "description")); ok {
			bp.Description = d
		}
		switch strings.ToUpper(origin) {
		case "REQUEST":
			if !declared[strings.ToLower(value)] {
				im.warn(pat, p.Line, "backend parameter %q not imported: request parameter %q is not imported or not declared", name, value)
				continue
			}
			bp.From = value
		case "CONSTANT":
			if !hasValue {
				im.fail(pat, p.Line, "backend parameter %q: a CONSTANT needs a value", name)
				continue
			}
			bp.Constant = &value
		case "SYSTEM":
			if s, ok := platformSystem[value]; ok {
				value = s
			}
			bp.System = value
		default:
			im.fail(pat, p.Line, "backend parameter %q: origin %q is not REQUEST, CONSTANT or SYSTEM", name, origin)
			continue
		}
		out = append(out, bp)
	}
	if len(out) > 0 {
		if api.Backend.GetMock() != nil {
			im.warn(bat, n.Line, "a mock backend takes no backend parameters: not imported")
			return
		}
		api.Backend.Parameters = out
	}
}

// passThrough gives an API whose backend path names its path parameters
// ({id} in /v2/items/{id}) the backend parameters that keep every request
// parameter as it came: declaring backend parameters removes the request
// parameters no backend parameter keeps. It returns a {name} of the
// backend path that is no path parameter of the API.
func passThrough(api *configv1.Api) string {
	b := api.GetBackend()
	if b == nil || len(b.Parameters) > 0 || b.Mock != nil {
		return ""
	}
	bpath := b.Path
	if bpath == "" {
		if _, rest, ok := strings.Cut(b.Url, "://"); ok {
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				bpath = rest[i:]
			}
		}
	}
	vars := model.PathVariables(bpath)
	if len(vars) == 0 {
		return ""
	}
	apiVars := model.PathVariables(api.Path)
	for _, v := range vars {
		if !slices.Contains(apiVars, v) {
			return v
		}
		b.Parameters = append(b.Parameters, &configv1.BackendParameter{Name: v, In: "path", From: v})
	}
	for _, rp := range api.GetRequest().GetParameters() {
		if rp.In != "path" {
			b.Parameters = append(b.Parameters, &configv1.BackendParameter{Name: rp.Name, In: rp.In, From: rp.Name})
		}
	}
	return ""
}

// exportParameters writes a's request parameters as op's parameters (and
// its path's undeclared {name} segments as required strings), and clears
// them from rest.
func exportParameters(a, rest *configv1.Api, op *openapi3.Operation) {
	declared := map[string]bool{}
	for _, rp := range a.GetRequest().GetParameters() {
		s := openapi3.NewStringSchema()
		conv := func(v string) any { return v }
		switch rp.GetType() {
		case "number":
			s = openapi3.NewFloat64Schema()
			s.Format = ""
			conv = func(v string) any {
				if json.Valid([]byte(v)) {
					return json.Number(v)
				}
				return v
			}
		case "boolean":
			s = openapi3.NewBoolSchema()
			conv = func(v string) any { return v == "true" }
		}
		if rp.Default != nil {
			s.Default = conv(rp.GetDefault())
		}
		for _, e := range rp.GetEnum() {
			s.Enum = append(s.Enum, conv(e))
		}
		if rp.MinLength != nil {
			s.MinLength = uint64(rp.GetMinLength())
		}
		if rp.MaxLength != nil {
			x := uint64(rp.GetMaxLength())
			s.MaxLength = &x
		}
		s.Min, s.Max = rp.MinValue, rp.MaxValue
		if rp.GetPattern() != "" {
			s.Pattern = "^(?:" + rp.GetPattern() + ")$"
		}
		p := &openapi3.Parameter{Name: rp.GetName(), In: rp.GetIn(), Required: rp.GetRequired() || rp.GetIn() == "path", Description: rp.GetDescription(), Schema: openapi3.NewSchemaRef("", s)}
		if rp.GetIn() == "path" {
			declared[rp.GetName()] = true
		}
		op.Parameters = append(op.Parameters, &openapi3.ParameterRef{Value: p})
	}
	if a.GetMatch() != "prefix" {
		for _, v := range model.PathVariables(a.GetPath()) {
			if !declared[v] {
				op.Parameters = append(op.Parameters, &openapi3.ParameterRef{Value: openapi3.NewPathParameter(v).WithSchema(openapi3.NewStringSchema())})
			}
		}
	}
	if r := rest.Request; r != nil {
		r.Parameters = nil
		if proto.Size(r) == 0 {
			rest.Request = nil
		}
	}
	if b := rest.Backend; b != nil {
		b.Parameters = nil
	}
}

// backendParametersExt is a's backend parameters as
// x-apigateway-backend's parameters.
func backendParametersExt(a *configv1.Api) []any {
	var out []any
	for _, bp := range a.GetBackend().GetParameters() {
		m := map[string]any{"name": bp.GetName(), "in": bp.GetIn()}
		switch {
		case bp.GetFrom() != "":
			m["origin"], m["value"] = "REQUEST", bp.GetFrom()
		case bp.Constant != nil:
			m["origin"], m["value"] = "CONSTANT", bp.GetConstant()
		default:
			m["origin"], m["value"] = "SYSTEM", bp.GetSystem()
		}
		if bp.GetDescription() != "" {
			m["description"] = bp.GetDescription()
		}
		out = append(out, m)
	}
	return out
}
