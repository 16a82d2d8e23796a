package config

// Gateway response sets (gateway_responses) and their binding to groups.

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// reHeaderName is an HTTP header name (a token), at most 128 characters.
var reHeaderName = model.HeaderName

// reservedResponseHeaders are headers a gateway response may not set: the
// framing and the content type are the gateway's.
var reservedResponseHeaders = []string{"content-length", "content-type", "transfer-encoding", "connection", "host"}

// gatewayResponses resolves the response sets into b.snap.GatewayResponses.
func (b *builder) gatewayResponses(list []*configv1.GatewayResponse) {
	b.snap.GatewayResponses = map[string]*model.ResponseSet{}
	for i, gr := range list {
		path := idx("gateway_responses", i)
		if !reGroupName.MatchString(gr.GetName()) {
			b.ps.add(field(path, "name"), "%q is not a valid gateway response name (letters, digits, _ . -; at most 64)", gr.GetName())
			continue
		}
		if b.snap.GatewayResponses[gr.GetName()] != nil {
			b.ps.add(field(path, "name"), "gateway response %q is defined twice", gr.GetName())
			continue
		}
		set := &model.ResponseSet{Name: gr.GetName(), Responses: map[apigerr.ResponseType]*model.Response{}}
		b.snap.GatewayResponses[set.Name] = set
		if len(gr.GetResponses()) == 0 {
			b.ps.add(field(path, "responses"), "no responses: customise at least one type (%s)", typeNames())
		}
		for _, typ := range slices.Sorted(mapKeys(gr.GetResponses())) {
			rpath := field(field(path, "responses"), typ)
			if !apigerr.ResponseType(typ).Valid() {
				b.ps.add(rpath, "%q is not a gateway response type (%s)", typ, typeNames())
				continue
			}
			if r := b.gatewayResponse(rpath, apigerr.ResponseType(typ), gr.GetResponses()[typ]); r != nil {
				set.Responses[apigerr.ResponseType(typ)] = r
			}
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func typeNames() string {
	names := make([]string, len(apigerr.ResponseTypes))
	for i, t := range apigerr.ResponseTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// gatewayResponse validates one type's answer; nil when it has problems.
func (b *builder) gatewayResponse(path string, typ apigerr.ResponseType, e *configv1.GatewayResponseEntry) *model.Response {
	n := len(b.ps.list)
	r := &model.Response{Status: int(e.GetStatus())}
	if s := e.GetStatus(); s != 0 && (s < 200 || s > 599) {
		b.ps.add(field(path, "status"), "%d is not an HTTP status between 200 and 599", s)
	}
	if e.GetStatus() == 503 && typ != apigerr.TypeBackendUnavailable && typ != apigerr.TypeBackendTimeout {
		// Envoy answers a failed Check with 503: a denial with that
		// status would be taken for one (docs/xds.md).
		b.ps.add(field(path, "status"), "503 is reserved for BACKEND_UNAVAILABLE and BACKEND_TIMEOUT (Envoy takes a 503 from the Check service for its failure)")
	}
	if body := e.GetBody(); body != "" {
		if err := checkBodyTemplate(body); err != nil {
			b.ps.add(field(path, "body"), "%v", err)
		} else if t, err := model.ParseTemplate(body); err != nil {
			b.ps.add(field(path, "body"), "%v", err)
		} else {
			r.Body = t
		}
	}
	for _, name := range slices.Sorted(mapKeys(e.GetHeaders())) {
		hpath := field(field(path, "headers"), name)
		value := e.GetHeaders()[name]
		lname := strings.ToLower(name)
		switch {
		case !reHeaderName.MatchString(name):
			b.ps.add(hpath, "%q is not a header name (1-128 token characters)", name)
			continue
		case slices.Contains(reservedResponseHeaders, lname) || strings.HasPrefix(lname, "x-envoy-"):
			b.ps.add(hpath, "header %q is the gateway's, it cannot be set", name)
			continue
		case strings.ContainsAny(value, "\r\n\x00"):
			b.ps.add(hpath, "a header value cannot contain CR, LF or NUL")
			continue
		}
		t, err := model.ParseTemplate(value)
		if err != nil {
			b.ps.add(hpath, "%v", err)
			continue
		}
		r.Headers = append(r.Headers, model.ResponseHeader{Name: lname, Value: t})
	}
	for i := 1; i < len(r.Headers); i++ {
		if r.Headers[i].Name == r.Headers[i-1].Name {
			b.ps.add(field(field(path, "headers"), r.Headers[i].Name), "header %q is listed twice (names are case-insensitive)", r.Headers[i].Name)
		}
	}
	if len(b.ps.list) > n {
		return nil
	}
	return r
}

// checkBodyTemplate checks that a body template is a JSON object whose
// variables stand inside string values: the Check service substitutes them
// as JSON-escaped text and Envoy renders the body with its JSON formatter,
// which formats string values only.
func checkBodyTemplate(body string) error {
	var v any
	d := json.NewDecoder(strings.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return fmt.Errorf("not a JSON object (variables stand inside JSON strings): %v", err)
	}
	if d.More() {
		return fmt.Errorf("not a JSON object: text after the object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("not a JSON object")
	}
	return checkBodyObject(obj, "")
}

func checkBodyObject(obj map[string]any, at string) error {
	for _, k := range slices.Sorted(mapKeys(obj)) {
		v := obj[k]
		where := strings.TrimPrefix(at+"."+k, ".")
		if strings.Contains(k, "$context.") {
			return fmt.Errorf("key %q: variables may only stand in string values", k)
		}
		switch v := v.(type) {
		case map[string]any:
			if err := checkBodyObject(v, where); err != nil {
				return err
			}
		case []any:
			return fmt.Errorf("%s: arrays are not supported in a gateway response body", where)
		}
	}
	return nil
}

// responseSet resolves a group's gateway_response binding.
func (b *builder) responseSet(path string, g *configv1.Group, grp *model.Group) {
	name := g.GetGatewayResponse()
	if name == "" {
		return
	}
	set := b.snap.GatewayResponses[name]
	switch {
	case set == nil:
		b.ps.add(field(path, "gateway_response"), "gateway response %q is not defined", name)
	case grp.Dialect == apigerr.Tencent:
		b.ps.add(field(path, "gateway_response"), "a group with error_dialect tencent cannot also use a gateway response (the tencent dialect is a built-in response set)")
	default:
		grp.Responses = set
	}
}
