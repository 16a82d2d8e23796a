package xds

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/apigwio/apigw/internal/model"
)

// policyMatch adds the conditions of a backend policy to m, the base match
// of its deployment (path, method, stage), so that a policy route only ever
// matches requests its deployment's route would match too:
//
//   - header: the header has one of the values (exact);
//   - query: the query parameter has one of the values (exact);
//   - source_ip: the client address is in one of the CIDRs. Envoy routes
//     cannot match addresses, so the ip_tagging filter tags the request
//     (header IPTagsHeader) and the route matches the tag;
//   - app: the authenticated app is one of the values. The Check service
//     sets model.HeaderAppID after routing, so ext_authz re-resolves the
//     route when it changes that header (see extAuthz and docs/xds.md).
//
// It reports false (after recording the error) when a condition cannot be
// translated.
func (t *translator) policyMatch(g *model.Group, api *model.API, env string, p model.BackendPolicy, m *routev3.RouteMatch) bool {
	fail := func(format string, args ...any) bool {
		t.fail("group %q API %q (environment %s) backend policy %q: "+format, append([]any{g.Name, api.Name, env, p.Name}, args...)...)
		return false
	}
	if len(p.Conditions) == 0 {
		return fail("no conditions")
	}
	for i, c := range p.Conditions {
		if len(c.Values) == 0 {
			return fail("condition %d has no values", i)
		}
		switch c.Type {
		case model.ConditionHeader:
			name := strings.ToLower(c.Name)
			if name == "" || strings.HasPrefix(name, ":") {
				return fail("condition %d: invalid header name %q", i, c.Name)
			}
			m.Headers = append(m.Headers, &routev3.HeaderMatcher{
				Name:                 name,
				HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: valuesMatcher(c.Values)},
			})
			t.noteReroute(name)
		case model.ConditionQuery:
			if c.Name == "" {
				return fail("condition %d: empty query parameter name", i)
			}
			m.QueryParameters = append(m.QueryParameters, &routev3.QueryParameterMatcher{
				Name:                         c.Name,
				QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{StringMatch: valuesMatcher(c.Values)},
			})
		case model.ConditionApp:
			m.Headers = append(m.Headers, &routev3.HeaderMatcher{
				Name:                 model.HeaderAppID,
				HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: valuesMatcher(c.Values)},
			})
			t.noteReroute(model.HeaderAppID)
		case model.ConditionSourceIP:
			tag, err := t.ipTag(c.Values)
			if err != nil {
				return fail("condition %d: %v", i, err)
			}
			// The tags header is a comma-separated list of tags.
			m.Headers = append(m.Headers, &routev3.HeaderMatcher{
				Name:                 IPTagsHeader,
				HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: regexMatcher("(?:.*,)?" + tag + "(?:,.*)?")},
			})
		default:
			return fail("condition %d: unknown type %d", i, c.Type)
		}
	}
	return true
}

// noteReroute records that a route matches on header name; if the Check
// service sets that header (an identity header), ext_authz must re-resolve
// the route when it changes it.
func (t *translator) noteReroute(name string) {
	for _, h := range model.IdentityHeaders {
		if h == name {
			t.rerouteHeaders[name] = true
		}
	}
}

// ipTag returns the tag of a set of CIDRs (or addresses), registering it for
// the ip_tagging filter. Equal sets share one tag, named from a hash of the
// canonical set so that it does not depend on other policies.
func (t *translator) ipTag(values []string) (string, error) {
	seen := map[netip.Prefix]bool{}
	var prefixes []netip.Prefix
	for _, v := range values {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			a, aerr := netip.ParseAddr(v)
			if aerr != nil {
				return "", fmt.Errorf("%q is not an IP address or CIDR", v)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		p = p.Masked()
		if !seen[p] {
			seen[p] = true
			prefixes = append(prefixes, p)
		}
	}
	sort.Slice(prefixes, func(i, j int) bool { return prefixes[i].String() < prefixes[j].String() })
	canon := make([]string, len(prefixes))
	ranges := make([]*corev3.CidrRange, len(prefixes))
	for i, p := range prefixes {
		canon[i] = p.String()
		ranges[i] = &corev3.CidrRange{AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))}
	}
	sum := sha256.Sum256([]byte(strings.Join(canon, ",")))
	tag := "ip-" + hex.EncodeToString(sum[:6])
	t.ipTags[tag] = ranges
	return tag, nil
}
