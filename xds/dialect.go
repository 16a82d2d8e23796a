package xds

import (
	mutationv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/model"
)

// Error dialects of Envoy's own replies. The Check service renders its
// denials in the group's dialect itself; for the replies Envoy makes (no
// route, backend unavailable, timeouts, 413, ...) the virtual host of a
// group with the tencent dialect marks its requests with DialectHeader (the
// header_mutation filter, first in the chain, applies the virtual host's
// per-route configuration), and the local-reply mappers match on it.
const (
	// FilterHeaderMutation is the header_mutation HTTP filter name, present
	// only when a group uses the tencent dialect.
	FilterHeaderMutation = "envoy.filters.http.header_mutation"
	// DialectHeader marks requests of groups with the tencent dialect. A
	// client-sent one is removed before routing; it never goes upstream.
	DialectHeader = "x-apigw-dialect"
	// dialectTencent is the value of DialectHeader for the tencent dialect.
	dialectTencent = "tencent"
)

// markDialect sets the per-route configuration that marks the requests of
// a virtual host whose group uses the tencent dialect.
func (t *translator) markDialect(g *model.Group, vh *routev3.VirtualHost) {
	if t.markResponses(g, vh) || g.Dialect != apigerr.Tencent {
		return
	}
	t.tencent = true
	vh.TypedPerFilterConfig = map[string]*anypb.Any{FilterHeaderMutation: t.shared("dialect_tencent", func() proto.Message {
		return &headermutationv3.HeaderMutationPerRoute{Mutations: &headermutationv3.Mutations{
			RequestMutations: []*mutationv3.HeaderMutation{{Action: &mutationv3.HeaderMutation_Append{Append: &corev3.HeaderValueOption{
				Header:       &corev3.HeaderValue{Key: DialectHeader, Value: dialectTencent},
				AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
			}}}},
		}}
	})}
}
