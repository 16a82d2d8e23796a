package xds

import (
	"encoding/json"
	"slices"
	"strings"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	mutationv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	headertometadatav3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_to_metadata/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/model"
)

// Gateway response sets in Envoy's own replies. Like the tencent dialect, a
// group bound to a set marks its requests with DialectHeader (value
// responsesMark + the set's name) through the header_mutation filter's
// per-route configuration on its virtual host, and each local-reply rule
// gets, before its built-in mappers, one mapper per set that customises the
// rule's response type, filtered on that mark.

// responsesMark prefixes the set name in DialectHeader ("tencent" cannot
// collide: it has no colon).
const responsesMark = "responses:"

// responseSetsUsed returns the names of the sets some group is bound to,
// sorted.
func (t *translator) responseSetsUsed() []string {
	var names []string
	for _, g := range t.snap.Groups {
		if g != nil && g.Responses != nil && !slices.Contains(names, g.Responses.Name) {
			names = append(names, g.Responses.Name)
		}
	}
	slices.Sort(names)
	return names
}

// markResponses sets the per-route configuration that marks the requests
// of a virtual host whose group is bound to a response set; false when it
// is not.
func (t *translator) markResponses(g *model.Group, vh *routev3.VirtualHost) bool {
	if g.Responses == nil {
		return false
	}
	value := responsesMark + g.Responses.Name
	vh.TypedPerFilterConfig = map[string]*anypb.Any{FilterHeaderMutation: t.shared("dialect_"+value, func() proto.Message {
		return &headermutationv3.HeaderMutationPerRoute{Mutations: &headermutationv3.Mutations{
			RequestMutations: []*mutationv3.HeaderMutation{{Action: &mutationv3.HeaderMutation_Append{Append: &corev3.HeaderValueOption{
				Header:       &corev3.HeaderValue{Key: DialectHeader, Value: value},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			}}}},
		}}
	})}
	return true
}

// responseSetMappers returns, for each set in use that customises the
// type of code, the mapper of the local-reply rule f for the set's groups.
func (t *translator) responseSetMappers(f *accesslogv3.AccessLogFilter, code apigerr.Code, override bool) []*hcmv3.ResponseMapper {
	var out []*hcmv3.ResponseMapper
	typ := apigerr.TypeOf(code)
	for _, name := range t.responseSetsUsed() {
		r := t.snap.GatewayResponses[name].Lookup(typ, code.Status)
		if r == nil {
			continue
		}
		m := &hcmv3.ResponseMapper{
			Filter:             andFilter(f, markFilter(responsesMark+name)),
			BodyFormatOverride: t.responseBody(r, code, typ),
		}
		switch {
		case r.Status != 0:
			m.StatusCode = wrapperspb.UInt32(uint32(r.Status))
		case override:
			m.StatusCode = wrapperspb.UInt32(uint32(code.Status))
		}
		for _, h := range r.Headers {
			m.HeadersToAdd = append(m.HeadersToAdd, &corev3.HeaderValueOption{
				Header:       &corev3.HeaderValue{Key: h.Name, Value: envoyFormat(h.Value, code, typ)},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			})
		}
		out = append(out, m)
	}
	return out
}

// markFilter matches requests marked value. The mark is read from dynamic
// metadata, where the header_to_metadata filter copies DialectHeader: the
// router removes the header itself before the request goes upstream
// (route configuration request_headers_to_remove), so the replies to
// upstream failures and timeouts would no longer see it.
func markFilter(value string) *accesslogv3.AccessLogFilter {
	return &accesslogv3.AccessLogFilter{FilterSpecifier: &accesslogv3.AccessLogFilter_MetadataFilter{MetadataFilter: &accesslogv3.MetadataFilter{
		Matcher: &matcherv3.MetadataMatcher{
			Filter: ResponsesNamespace,
			Path:   []*matcherv3.MetadataMatcher_PathSegment{{Segment: &matcherv3.MetadataMatcher_PathSegment_Key{Key: responsesKey}}},
			Value: &matcherv3.ValueMatcher{MatchPattern: &matcherv3.ValueMatcher_StringMatch{StringMatch: &matcherv3.StringMatcher{
				MatchPattern: &matcherv3.StringMatcher_Exact{Exact: value},
			}}},
		},
		MatchIfKeyNotFound: wrapperspb.Bool(false),
	}}}
}

// ResponsesNamespace is the dynamic-metadata namespace holding the response
// set mark of a request (key "set").
const (
	ResponsesNamespace = "apigw.responses"
	responsesKey       = "set"
)

// headerToMetadata is the listener-level header_to_metadata configuration:
// when a group uses a response set or the tencent dialect, a rule copying
// DialectHeader into ResponsesNamespace, where the local-reply mappers still
// see it after the router removed the header (tencent miss routes replace
// the rule with their own per-route rules: their requests never go
// upstream, so the header itself is still there); otherwise empty.
func (t *translator) headerToMetadata() *headertometadatav3.Config {
	if !t.tencent && len(t.responseSetsUsed()) == 0 {
		return &headertometadatav3.Config{}
	}
	return &headertometadatav3.Config{RequestRules: []*headertometadatav3.Config_Rule{{
		Header: DialectHeader,
		OnHeaderPresent: &headertometadatav3.Config_KeyValuePair{
			MetadataNamespace: ResponsesNamespace,
			Key:               responsesKey,
			Type:              headertometadatav3.Config_STRING,
		},
	}}}
}

// responseBody is the body of a customised reply in Envoy's JSON format:
// the template's JSON object with each string value a format string (the
// request id from %REQ(X-REQUEST-ID)%, escaped by Envoy's JSON formatter).
func (t *translator) responseBody(r *model.Response, code apigerr.Code, typ apigerr.ResponseType) *corev3.SubstitutionFormatString {
	raw := model.DefaultResponseBody
	if r.Body != nil {
		raw = r.Body.Raw
	}
	var v map[string]any
	d := json.NewDecoder(strings.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.fail("gateway response body %q: %v", raw, err)
		return nil
	}
	return jsonBody(envoyJSON(v, code, typ).Fields)
}

// envoyJSON converts a decoded body template to a Struct of format strings.
func envoyJSON(v map[string]any, code apigerr.Code, typ apigerr.ResponseType) *structpb.Struct {
	s := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(v))}
	for k, x := range v {
		s.Fields[k] = envoyValue(x, code, typ)
	}
	return s
}

func envoyValue(x any, code apigerr.Code, typ apigerr.ResponseType) *structpb.Value {
	switch x := x.(type) {
	case string:
		tpl, err := model.ParseTemplate(x)
		if err != nil { // validated by config; keep the text
			tpl = &model.Template{Raw: x, Parts: []model.TemplatePart{{Text: x}}}
		}
		return structpb.NewStringValue(envoyFormat(tpl, code, typ))
	case json.Number:
		f, _ := x.Float64()
		return structpb.NewNumberValue(f)
	case bool:
		return structpb.NewBoolValue(x)
	case map[string]any:
		return structpb.NewStructValue(envoyJSON(x, code, typ))
	}
	return structpb.NewNullValue()
}

// envoyFormat renders a template as an Envoy format string: literal '%'
// doubled, the error's values literal, the request id a command operator.
func envoyFormat(tpl *model.Template, code apigerr.Code, typ apigerr.ResponseType) string {
	var b strings.Builder
	esc := strings.NewReplacer("%", "%%")
	for _, p := range tpl.Parts {
		switch p.Var {
		case model.VarNone:
			b.WriteString(esc.Replace(p.Text))
		case model.VarErrorCode:
			b.WriteString(esc.Replace(code.ID))
		case model.VarErrorMessage:
			b.WriteString(esc.Replace(code.Message))
		case model.VarErrorType:
			b.WriteString(string(typ))
		case model.VarRequestID:
			b.WriteString(requestIDFormat)
		}
	}
	return b.String()
}
