package xds

import (
	"maps"
	"regexp"
	"slices"
	"strings"

	mutationv3 "github.com/envoyproxy/go-control-plane/envoy/config/common/mutation_rules/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	earlymutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/early_header_mutation/header_mutation/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// Client-sent headers of the gateway's namespace. The Check service sets
// the identity headers (model.IdentityHeaders) and, for custom authorizers,
// x-apig-context-* headers; the backend trusts the whole x-apig- prefix.
// The route configuration's internal_only_headers can only name headers
// one by one, so the connection manager's early header mutation (it runs
// on the request headers before route selection and before any HTTP
// filter) removes every x-apig-* header the client sent (remove_on_match
// with a regex) before anything reads them — except the ones clients send
// on purpose:
// X-Apig-AppCode (app-code authentication) and identity headers of custom
// authorizers that are in the namespace. What the Check service then sets
// is all the backend sees of the namespace, on every route.
const (
	// FilterStripClientHeaders is the name of that early header mutation
	// extension (envoy.http.early_header_mutation.header_mutation). It was
	// the first HTTP filter (a header_mutation filter) until the early
	// extension was measured to cost Envoy ~4-5k fewer instructions per
	// request for the same removal: no filter instance per request.
	FilterStripClientHeaders = "apigw.strip_client_headers"
	// clientHeaderPrefix is the namespace stripped from client requests.
	clientHeaderPrefix = "x-apig-"
	// headerAppCode is authz.HeaderAppCode (not imported: xds does not
	// depend on the Check side).
	headerAppCode = "x-apig-appcode"
)

// stripClientHeaders is the connection manager's early header mutation
// extension that removes the client's x-apig-* headers.
func (t *translator) stripClientHeaders() *corev3.TypedExtensionConfig {
	return &corev3.TypedExtensionConfig{
		Name: FilterStripClientHeaders,
		TypedConfig: t.pack(&earlymutationv3.HeaderMutation{Mutations: []*mutationv3.HeaderMutation{{
			Action: &mutationv3.HeaderMutation_RemoveOnMatch_{
				RemoveOnMatch: &mutationv3.HeaderMutation_RemoveOnMatch{KeyMatcher: &matcherv3.StringMatcher{
					MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{
						Regex: prefixExceptRegex(clientHeaderPrefix, t.strippedExcept()),
					}},
				}},
			},
		}}}),
	}
}

// strippedExcept are the headers of the namespace the filter leaves
// (X-Apig-AppCode and the custom authorizers' identity headers in the
// namespace), lower case, sorted.
func (t *translator) strippedExcept() []string {
	keep := map[string]bool{headerAppCode: true}
	for _, api := range t.snap.APIs {
		if api.Authorizer == nil {
			continue
		}
		for _, h := range api.Authorizer.IdentityHeaders {
			if h = strings.ToLower(h); strings.HasPrefix(h, clientHeaderPrefix) {
				keep[h] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(keep))
}

// prefixExceptRegex returns an RE2 regex (matched whole, as Envoy's
// safe_regex is) for the strings that start with prefix, except the
// strings of except (which all start with prefix). RE2 has no lookahead,
// so the exceptions are excluded by a trie of their suffixes: at each
// node, a string either ends there (unless an exception ends there), or
// goes on with a byte no exception continues with (then anything), or with
// one that some exception continues with (then the node of that byte).
//
// The regex starts with "^" although safe_regex is anchored anyway: RE2
// then takes the literal prefix as required and refuses every other header
// name with a memcmp before running its automaton. Envoy matches this
// regex against every request header's name, and most are not x-apig-*
// (measured: ~4k fewer Envoy instructions per request of ~14 headers).
func prefixExceptRegex(prefix string, except []string) string {
	type node struct {
		end      bool
		children map[byte]*node
	}
	root := &node{children: map[byte]*node{}}
	for _, e := range except {
		n := root
		for i := range len(e) - len(prefix) {
			c := e[len(prefix)+i]
			if n.children[c] == nil {
				n.children[c] = &node{children: map[byte]*node{}}
			}
			n = n.children[c]
		}
		n.end = true
	}
	var expr func(n *node) string
	expr = func(n *node) string {
		if len(n.children) == 0 {
			if n.end {
				return ".+" // the exception ends here: one more byte at least
			}
			return ".*"
		}
		keys := slices.Sorted(maps.Keys(n.children))
		var class strings.Builder
		for _, c := range keys {
			class.WriteString(regexp.QuoteMeta(string(c)))
		}
		alts := []string{"[^" + class.String() + "].*"}
		for _, c := range keys {
			alts = append(alts, regexp.QuoteMeta(string(c))+expr(n.children[c]))
		}
		group := "(?:" + strings.Join(alts, "|") + ")"
		if n.end {
			return group
		}
		return group + "?"
	}
	return "^" + regexp.QuoteMeta(prefix) + expr(root)
}
