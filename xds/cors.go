package xds

import (
	"strconv"
	"strings"

	corsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/cors/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/apigwio/apigw/internal/model"
)

// allMethods are the methods an ANY API allows by default.
const allMethods = "GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS"

// corsPolicy is the per-route policy of the CORS filter for api. "*" in
// allow_origins allows any origin (Envoy then echoes the request's Origin).
// The allowed methods default to the API method (all methods for ANY).
func (t *translator) corsPolicy(api *model.API) *corsv3.CorsPolicy {
	c := api.CORS
	p := &corsv3.CorsPolicy{
		AllowHeaders:  strings.Join(c.AllowHeaders, ","),
		ExposeHeaders: strings.Join(c.ExposeHeaders, ","),
		// Envoy answers a preflight from a foreign origin itself (200
		// without Access-Control-Allow-Origin) instead of passing it on to
		// the route: a preflight never reaches a backend.
		ForwardNotMatchingPreflights: wrapperspb.Bool(false),
	}
	for _, o := range c.AllowOrigins {
		if o == "*" {
			p.AllowOriginStringMatch = append(p.AllowOriginStringMatch, regexMatcher(".*"))
			continue
		}
		p.AllowOriginStringMatch = append(p.AllowOriginStringMatch, &matcherv3.StringMatcher{
			MatchPattern: &matcherv3.StringMatcher_Exact{Exact: o},
			IgnoreCase:   true,
		})
	}
	switch {
	case len(c.AllowMethods) > 0:
		p.AllowMethods = strings.ToUpper(strings.Join(c.AllowMethods, ","))
	case api.Method == model.MethodAny:
		p.AllowMethods = allMethods
	default:
		p.AllowMethods = api.Method
	}
	if c.MaxAge > 0 {
		p.MaxAge = strconv.FormatInt(int64(c.MaxAge.Seconds()), 10)
	}
	if c.AllowCredentials {
		p.AllowCredentials = wrapperspb.Bool(true)
	}
	return p
}
