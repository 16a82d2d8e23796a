package xds

import (
	"sort"
	"strings"

	"github.com/apigwio/apigw/internal/model"
)

// orderAPIs returns the valid APIs of g in route order. Envoy takes the
// first route that matches, so the most specific APIs go first:
//
//  1. exact paths before prefixes, literal exact paths before path
//     templates (/orders/new before /orders/{id});
//  2. longer prefixes before shorter ones;
//  3. APIs with the same match and path stay together, at the place of the
//     first one declared;
//  4. for the same match and path, a specific method before ANY;
//  5. otherwise declaration order.
//
// The order therefore matters only for requests that several APIs match:
// the API with the most specific path, then method, wins, whatever the
// declaration order (which would otherwise shadow, say, an exact API
// declared after a prefix covering it).
func orderAPIs(t *translator, g *model.Group) []*model.API {
	type entry struct {
		api    *model.API
		decl   int
		bucket int
	}
	buckets := map[string]int{}
	var list []entry
	for i, api := range g.APIs {
		if !t.checkAPI(g, i, api) {
			continue
		}
		key := api.Match.String() + " " + api.Path
		b, ok := buckets[key]
		if !ok {
			b = i
			buckets[key] = i
		}
		list = append(list, entry{api, i, b})
	}
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.api.Match != b.api.Match {
			return a.api.Match == model.MatchExact
		}
		if ta, tb := pathTemplated(a.api), pathTemplated(b.api); ta != tb {
			return tb // /orders/new before /orders/{id}
		}
		if a.api.Match == model.MatchPrefix && len(a.api.Path) != len(b.api.Path) {
			return len(a.api.Path) > len(b.api.Path)
		}
		if a.bucket != b.bucket {
			return a.bucket < b.bucket
		}
		if anyA, anyB := a.api.Method == model.MethodAny, b.api.Method == model.MethodAny; anyA != anyB {
			return anyB
		}
		return a.decl < b.decl
	})
	out := make([]*model.API, len(list))
	for i, e := range list {
		out[i] = e.api
	}
	return out
}

// checkAPI reports whether api can be translated, recording why not.
func (t *translator) checkAPI(g *model.Group, i int, api *model.API) bool {
	switch {
	case api == nil:
		t.fail("group %q: apis[%d] is nil", g.Name, i)
	case api.Match != model.MatchExact && api.Match != model.MatchPrefix:
		t.fail("group %q API %q: unknown match kind %d", g.Name, api.Name, api.Match)
	case !strings.HasPrefix(api.Path, "/") || strings.ContainsAny(api.Path, "?#"):
		t.fail("group %q API %q: path %q must start with / and have no query or fragment", g.Name, api.Name, api.Path)
	case api.Method == "" || strings.ContainsAny(api.Method, " \t\r\n"):
		t.fail("group %q API %q: invalid method %q", g.Name, api.Name, api.Method)
	case len(api.Deployments) == 0:
		// Not published anywhere: no route, requests get APIG.0101.
		return false
	default:
		return true
	}
	return false
}
