package openapi

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// ExportOptions tune Export.
type ExportOptions struct {
	Group string
	// Env, when set, exports only the APIs published in that environment.
	Env string
	// Format is "openapi3" (default) or "swagger2".
	Format string
	// Output is "yaml" (default) or "json".
	Output string
}

// Export writes a group of a (validated) configuration as a document with
// the platform's extensions, so that Import gives back an equivalent
// group. It returns the document and warnings about what it cannot say.
func Export(gw *configv1.Gateway, opts ExportOptions) ([]byte, []Problem, error) {
	var g *configv1.Group
	for _, x := range gw.GetGroups() {
		if x.GetName() == opts.Group {
			g = x
		}
	}
	if g == nil {
		return nil, nil, fmt.Errorf("group %q is not defined", opts.Group)
	}
	defEnv := gw.GetSettings().GetDefaultEnvironment()
	if defEnv == "" {
		defEnv = "RELEASE"
	}
	var warns []Problem
	warn := func(ptr, format string, args ...any) {
		warns = append(warns, Problem{Pointer: ptr, Message: fmt.Sprintf(format, args...)})
	}
	doc := &openapi3.T{
		OpenAPI:    "3.0.3",
		Info:       &openapi3.Info{Title: g.GetName(), Version: "1.0.0"},
		Paths:      openapi3.NewPaths(),
		Extensions: map[string]any{},
		Components: &openapi3.Components{SecuritySchemes: openapi3.SecuritySchemes{}},
	}
	if rest := proto.Clone(g).(*configv1.Group); true {
		rest.Name, rest.Apis = "", nil
		if m := protoMap(rest); len(m) > 0 {
			doc.Extensions[extGroup] = m
		}
	}
	// Throttle policies bound to the group's APIs.
	policyOf := map[string]string{} // API name -> policy
	policies := map[string]any{}
	for _, p := range gw.GetThrottlePolicies() {
		for _, b := range p.GetBindings() {
			grp, name, _ := strings.Cut(b.GetApi(), "/")
			if grp != g.GetName() {
				continue
			}
			if len(b.GetEnvironments()) > 0 {
				warn("#/"+extRatelimits+"/"+escape(p.GetName()), "the binding of %s is limited to environments %v: exported as bound in every environment", b.GetApi(), b.GetEnvironments())
			}
			for _, a := range g.GetApis() {
				if name == "*" || name == a.GetName() {
					if old, ok := policyOf[a.GetName()]; ok && old != p.GetName() {
						warn("", "API %s has throttle policies %s and %s (per environment): only %s is exported", a.GetName(), old, p.GetName(), old)
						continue
					}
					policyOf[a.GetName()] = p.GetName()
				}
			}
			policies[p.GetName()] = ratelimitExt(p)
		}
	}
	if len(policies) > 0 {
		doc.Extensions[extRatelimits] = policies
	}
	schemes := map[string]bool{}
	for _, a := range g.GetApis() {
		envs := a.GetEnvironments()
		if len(envs) == 0 {
			envs = []string{defEnv}
		}
		if opts.Env != "" && !contains(envs, opts.Env) {
			continue
		}
		op := &openapi3.Operation{
			OperationID: a.GetName(),
			Description: a.GetDescription(),
			Responses:   openapi3.NewResponses(openapi3.WithStatus(200, &openapi3.ResponseRef{Value: openapi3.NewResponse().WithDescription("default response")})),
			Extensions:  map[string]any{},
		}
		if a.GetMatch() == "prefix" {
			op.Extensions[extMatchMode] = "SWA"
		} else {
			op.Extensions[extMatchMode] = "NORMAL"
		}
		scheme := ""
		switch a.GetAuth() {
		case "", "app":
			scheme = schemeApp
			if a.GetAppCode() {
				scheme = schemeAppHeader
			}
		case "iam":
			scheme = schemeIAM
		case "none":
		case "token":
			scheme = schemeToken
		case "hmac":
			scheme = schemeHMAC
		case "authorizer":
			scheme = schemeAuthz
		case "app_code":
			scheme = schemeAppCode
		}
		if scheme == "" {
			op.Security = openapi3.NewSecurityRequirements()
		} else {
			op.Security = openapi3.NewSecurityRequirements().With(openapi3.NewSecurityRequirement().Authenticate(scheme))
			schemes[scheme] = true
		}
		op.Extensions[extBackend] = backendExt(gw, a)
		if a.GetCors() != nil {
			op.Extensions[extCors] = true
		}
		if p, ok := policyOf[a.GetName()]; ok {
			op.Extensions[extRatelimit] = p
		}
		// What the document has no place for goes in x-apigw-api.
		rest := proto.Clone(a).(*configv1.Api)
		rest.Name, rest.Method, rest.Path, rest.Match, rest.Description = "", "", "", "", ""
		switch rest.Auth {
		case "", "app", "iam", "none":
			rest.Auth = ""
			if scheme == schemeAppHeader {
				rest.AppCode = false
			}
		}
		if b := rest.Backend; b != nil {
			if b.Channel != "" {
				b.Path = "" // in httpVpcEndpoints; with url it stays here
			}
			b.Url, b.Channel, b.Timeout = "", "", ""
			if b.Mock != nil {
				b.Mock.Body = ""
				if proto.Size(b.Mock) == 0 {
					b.Mock = nil
				}
			}
			if proto.Size(b) == 0 {
				rest.Backend = nil
			}
		}
		if rest.Cors != nil && proto.Equal(rest.Cors, &configv1.Cors{AllowOrigins: []string{"*"}, AllowMethods: platformCORSMethods, AllowHeaders: platformCORSHeaders, MaxAge: platformCORSMaxAge}) {
			rest.Cors = nil
		}
		if err := exportRequestBody(a, rest, op); err != nil {
			return nil, nil, err
		}
		exportParameters(a, rest, op)
		if bp := backendParametersExt(a); len(bp) > 0 {
			op.Extensions[extBackend].(map[string]any)["parameters"] = bp
		}
		if m := protoMap(rest); len(m) > 0 {
			op.Extensions[extAPI] = m
		}
		item := doc.Paths.Value(a.GetPath())
		if item == nil {
			item = &openapi3.PathItem{Extensions: map[string]any{}}
			doc.Paths.Set(a.GetPath(), item)
		}
		method := strings.ToUpper(a.GetMethod())
		if method == "" {
			method = "ANY"
		}
		if method == "ANY" {
			if _, dup := item.Extensions[extAnyMethod]; dup {
				return nil, warns, fmt.Errorf("API %s: another API of the group is also ANY %s; export one environment at a time with --env", a.GetName(), a.GetPath())
			}
			js, _ := json.Marshal(op)
			var m map[string]any
			_ = json.Unmarshal(js, &m)
			item.Extensions[extAnyMethod] = m
			continue
		}
		if item.GetOperation(method) != nil {
			return nil, warns, fmt.Errorf("API %s: another API of the group is also %s %s (exact and prefix, or other environments); export one environment at a time with --env", a.GetName(), method, a.GetPath())
		}
		item.SetOperation(method, op)
	}
	for s := range schemes {
		ss := &openapi3.SecurityScheme{Type: "apiKey", In: "header", Name: "Authorization", Extensions: map[string]any{}}
		switch s {
		case schemeApp:
			ss.Extensions[extAuthType] = "AppSigv1"
		case schemeAppHeader:
			ss.Extensions[extAuthType] = "AppSigv1"
			ss.Extensions[extAuthOpt] = map[string]any{"appcode-auth-type": "header"}
		case schemeIAM:
			ss.Name = "unused"
			ss.Extensions[extAuthType] = "IAM"
		case schemeToken:
			ss = &openapi3.SecurityScheme{Type: "http", Scheme: "bearer", BearerFormat: "JWT"}
			if opts.Format == "swagger2" {
				ss = &openapi3.SecurityScheme{Type: "apiKey", In: "header", Name: "Authorization", Extensions: map[string]any{extAuthType: "token"}}
			}
		case schemeHMAC:
			ss.Extensions[extAuthType] = "hmac"
		case schemeAuthz:
			ss.Extensions[extAuthType] = "authorizer"
		case schemeAppCode:
			ss.Name = "X-Apig-AppCode"
			ss.Extensions[extAuthType] = "app_code"
		}
		doc.Components.SecuritySchemes[s] = &openapi3.SecuritySchemeRef{Value: ss}
	}
	var v any = doc
	if opts.Format == "swagger2" {
		d2, err := openapi2conv.FromV3(doc)
		if err != nil {
			return nil, warns, fmt.Errorf("converting to Swagger 2.0: %v", err)
		}
		v = d2
	}
	js, err := json.Marshal(v)
	if err != nil {
		return nil, warns, err
	}
	if opts.Output == "json" {
		var out strings.Builder
		var x any
		_ = json.Unmarshal(js, &x)
		enc := json.NewEncoder(&out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(x); err != nil {
			return nil, warns, err
		}
		return []byte(out.String()), warns, nil
	}
	out, err := JSONToYAML(js)
	return out, warns, err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// protoMap is the protojson form of m (proto field names), as a map.
func protoMap(m proto.Message) map[string]any {
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		return nil
	}
	var out map[string]any
	_ = json.Unmarshal(js, &out)
	return out
}

// ratelimitExt is a throttle policy as x-apigateway-ratelimits writes it.
func ratelimitExt(p *configv1.ThrottlePolicy) map[string]any {
	m := map[string]any{"api-limit": p.GetApiLimit(), "interval": 1, "unit": strings.ToUpper(p.GetUnit())}
	if m["unit"] == "" {
		m["unit"] = "SECOND"
	}
	for k, v := range map[string]uint32{"user-limit": p.GetUserLimit(), "app-limit": p.GetAppLimit(), "ip-limit": p.GetIpLimit()} {
		if v > 0 {
			m[k] = v
		}
	}
	var sp []any
	for _, s := range p.GetSpecial() {
		sp = append(sp, map[string]any{"type": strings.ToUpper(s.GetType()), "limit": s.GetLimit(), "instance": s.GetName()})
	}
	if len(sp) > 0 {
		m["special"] = sp
	}
	return m
}

// backendExt is an API's backend as x-apigateway-backend.
func backendExt(gw *configv1.Gateway, a *configv1.Api) map[string]any {
	b := a.GetBackend()
	method := strings.ToUpper(a.GetMethod())
	if method == "" {
		method = "ANY"
	}
	ep := map[string]any{"method": method}
	if t := b.GetTimeout(); t != "" {
		if d, err := time.ParseDuration(t); err == nil {
			ep["timeout"] = d.Milliseconds()
		}
	}
	switch {
	case b.GetMock() != nil:
		return map[string]any{"type": "MOCK", "mockEndpoints": map[string]any{"result-content": b.GetMock().GetBody()}}
	case b.GetChannel() != "":
		scheme := "http"
		for _, c := range gw.GetChannels() {
			if c.GetName() == b.GetChannel() && c.GetProtocol() != "" {
				scheme = c.GetProtocol()
			}
		}
		ep["name"], ep["scheme"] = b.GetChannel(), scheme
		if b.GetPath() != "" {
			ep["path"] = b.GetPath()
		}
		return map[string]any{"type": "HTTP-VPC", "httpVpcEndpoints": ep}
	default:
		// Split by hand: #{variables}# in the host are not URL syntax.
		scheme, rest, _ := strings.Cut(b.GetUrl(), "://")
		addr, path := rest, ""
		if i := strings.IndexByte(rest, '/'); i >= 0 && !strings.HasPrefix(rest[i:], "/}") {
			addr, path = rest[:i], rest[i:]
		}
		ep["address"], ep["scheme"] = addr, scheme
		if path != "" {
			ep["path"] = path
		}
		return map[string]any{"type": "HTTP", "httpEndpoints": ep}
	}
}

// JSONToYAML re-writes JSON as block-style YAML, keeping the key order.
func JSONToYAML(js []byte) ([]byte, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(js, &n); err != nil {
		return nil, err
	}
	plain(&n)
	var out strings.Builder
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, err
	}
	return []byte(out.String()), nil
}

// plain drops the JSON styles (flow, double quotes): the encoder quotes
// what needs it.
func plain(n *yaml.Node) {
	n.Style = 0
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && yaml11NonString(n.Value) {
		// YAML 1.2 (this encoder) writes "on" bare, but the gateway's
		// loader reads YAML 1.1, where bare on, yes, off, ... are booleans.
		n.Style = yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		plain(c)
	}
}

// yaml11NonString reports whether s, written bare, would be read as
// something other than a string by a YAML 1.1 parser (sigs.k8s.io/yaml's).
func yaml11NonString(s string) bool {
	switch strings.ToLower(s) {
	case "y", "yes", "n", "no", "on", "off", "true", "false", "null", "~", "":
		return true
	}
	if _, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64); err == nil {
		return true
	}
	return false
}
