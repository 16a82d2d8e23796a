// Package xdsmatch evaluates an Envoy route configuration for one request:
// which virtual host and route Envoy would pick. It implements Envoy's
// matching for exactly the matchers the xds translator generates, after the
// path normalisation the listener asks for (normalize_path, merge_slashes):
//
//   - virtual host domains: exact, "*.suffix" (and "*suffix"), "prefix*",
//     "*"; the port of the Host is ignored (ignore_port_in_host_matching);
//   - routes in order: prefix, path, path_separated_prefix (case-sensitive);
//   - header matchers: StringMatch (exact, prefix, suffix, contains,
//     safe_regex, ignore_case), present_match, invert_match,
//     treat_missing_header_as_empty, pseudo-headers (:method, :path,
//     :authority, :scheme);
//   - query parameter matchers: StringMatch and present_match.
//
// Anything else (runtime fractions, regex paths, gRPC or TLS matchers, ...)
// gives an *UnsupportedError: "cannot evaluate" rather than a guess.
package xdsmatch

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// Request is what routing sees of an HTTP request.
type Request struct {
	// Method, e.g. "GET".
	Method string
	// Path is the request target as sent: path and query.
	Path string
	// Authority is the Host header (with or without a port).
	Authority string
	// Scheme is "http" (default) or "https".
	Scheme string
	// Headers, by lower-case name; repeated values are joined with ","
	// for matching, as Envoy does.
	Headers map[string][]string
}

// Result is Envoy's choice for a request.
type Result struct {
	// Path is the :path after normalisation (with the query), what routes
	// match and what Envoy forwards.
	Path string
	// VirtualHost is the virtual host selected by the Host, nil when none.
	VirtualHost *routev3.VirtualHost
	// Route is the first route that matches, nil when none (Envoy answers
	// 404 with the NR flag).
	Route *routev3.Route
	// Index is Route's position in VirtualHost.Routes (-1 when none).
	Index int
}

// UnsupportedError names a matcher this package does not evaluate.
type UnsupportedError struct {
	Where string // virtual host or route name
	What  string // the matcher
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("cannot evaluate %s in %s", e.What, e.Where)
}

// Match returns the virtual host and route Envoy would pick in rc for req.
// Routes before the match that use a matcher this package cannot evaluate
// give an *UnsupportedError (with the virtual host and the path set in the
// result).
func Match(rc *routev3.RouteConfiguration, req Request) (Result, error) {
	res := Result{Index: -1}
	path, query, _ := strings.Cut(req.Path, "?")
	path = NormalizePath(path)
	res.Path = path
	if query != "" || strings.HasSuffix(req.Path, "?") {
		res.Path += "?" + query
	}
	host := req.Authority
	if rc.GetIgnorePortInHostMatching() {
		host = stripPort(host)
	}
	res.VirtualHost = SelectVirtualHost(rc.GetVirtualHosts(), host)
	if res.VirtualHost == nil {
		return res, nil
	}
	v := view{req: req, path: path, query: query, fullPath: res.Path}
	for i, r := range res.VirtualHost.GetRoutes() {
		ok, err := v.route(r.GetMatch())
		if err != nil {
			return res, &UnsupportedError{Where: "route " + routeName(r, i), What: err.Error()}
		}
		if ok {
			res.Route, res.Index = r, i
			return res, nil
		}
	}
	return res, nil
}

func routeName(r *routev3.Route, i int) string {
	if r.GetName() != "" {
		return fmt.Sprintf("%q", r.GetName())
	}
	return fmt.Sprintf("#%d", i)
}

// stripPort removes a trailing ":port" from a Host (keeping an IPv6
// literal's brackets), as ignore_port_in_host_matching does.
func stripPort(host string) string {
	i := strings.LastIndexByte(host, ':')
	if i < 0 || strings.Contains(host[i:], "]") {
		return host
	}
	for _, c := range host[i+1:] {
		if c < '0' || c > '9' {
			return host
		}
	}
	return host[:i]
}

// SelectVirtualHost picks the virtual host for host as Envoy does: an exact
// domain first, then the longest suffix wildcard ("*.example.com" or
// "*-example.com"), then the longest prefix wildcard ("api.*"), then "*".
// Domains compare case-insensitively.
func SelectVirtualHost(vhs []*routev3.VirtualHost, host string) *routev3.VirtualHost {
	host = strings.ToLower(host)
	var star, suffix, prefix *routev3.VirtualHost
	suffixLen, prefixLen := -1, -1
	for _, vh := range vhs {
		for _, d := range vh.GetDomains() {
			d = strings.ToLower(d)
			switch {
			case d == "*":
				if star == nil {
					star = vh
				}
			case d == host:
				return vh
			case strings.HasPrefix(d, "*"):
				s := d[1:]
				// Envoy requires the wildcard to cover at least one
				// character: "*.example.com" does not match "example.com"
				// nor ".example.com" alone.
				if len(host) > len(s) && strings.HasSuffix(host, s) && len(s) > suffixLen {
					suffix, suffixLen = vh, len(s)
				}
			case strings.HasSuffix(d, "*"):
				p := d[:len(d)-1]
				if len(host) > len(p) && strings.HasPrefix(host, p) && len(p) > prefixLen {
					prefix, prefixLen = vh, len(p)
				}
			}
		}
	}
	switch {
	case suffix != nil:
		return suffix
	case prefix != nil:
		return prefix
	}
	return star
}

// view is the request as the route matchers see it.
type view struct {
	req                   Request
	path, query, fullPath string
}

// route evaluates one RouteMatch.
func (v view) route(m *routev3.RouteMatch) (bool, error) {
	switch {
	case m.GetRuntimeFraction() != nil:
		return false, fmt.Errorf("runtime_fraction")
	case m.GetGrpc() != nil:
		return false, fmt.Errorf("grpc match")
	case m.GetTlsContext() != nil:
		return false, fmt.Errorf("tls_context match")
	case len(m.GetDynamicMetadata()) > 0:
		return false, fmt.Errorf("dynamic_metadata match")
	case m.GetFilterState() != nil:
		return false, fmt.Errorf("filter_state match")
	case m.GetCaseSensitive() != nil && !m.GetCaseSensitive().GetValue():
		return false, fmt.Errorf("case-insensitive path match")
	}
	var ok bool
	switch p := m.GetPathSpecifier().(type) {
	case *routev3.RouteMatch_Prefix:
		ok = strings.HasPrefix(v.path, p.Prefix)
	case *routev3.RouteMatch_Path:
		ok = v.path == p.Path
	case *routev3.RouteMatch_PathSeparatedPrefix:
		s := p.PathSeparatedPrefix
		ok = v.path == s || strings.HasPrefix(v.path, s) && len(v.path) > len(s) && v.path[len(s)] == '/'
	case *routev3.RouteMatch_SafeRegex:
		// The whole path (without the query), as Envoy matches it (the
		// path guard route of every virtual host).
		re, err := regexp.Compile(`^(?:` + p.SafeRegex.GetRegex() + `)$`)
		if err != nil {
			return false, fmt.Errorf("path regex %q: %v", p.SafeRegex.GetRegex(), err)
		}
		ok = re.MatchString(v.path)
	case *routev3.RouteMatch_PathMatchPolicy:
		var err error
		if ok, err = templateMatch(p, v.path); err != nil {
			return false, err
		}
	default:
		return false, fmt.Errorf("path specifier %T", p)
	}
	if !ok {
		return false, nil
	}
	for _, h := range m.GetHeaders() {
		ok, err := v.header(h)
		if err != nil || !ok {
			return false, err
		}
	}
	for _, q := range m.GetQueryParameters() {
		ok, err := v.queryParam(q)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// headerValue is the value of a header as Envoy matches it: all values
// joined with ",", pseudo-headers from the request line.
func (v view) headerValue(name string) (string, bool) {
	switch name {
	case ":method":
		return v.req.Method, true
	case ":path":
		return v.fullPath, true
	case ":authority", "host":
		return v.req.Authority, v.req.Authority != ""
	case ":scheme":
		if v.req.Scheme == "" {
			return "http", true
		}
		return v.req.Scheme, true
	}
	vs, ok := v.req.Headers[name]
	if !ok {
		return "", false
	}
	return strings.Join(vs, ","), true
}

// header evaluates one HeaderMatcher as Envoy's HeaderUtility::matchHeaders.
func (v view) header(h *routev3.HeaderMatcher) (bool, error) {
	value, present := v.headerValue(strings.ToLower(h.GetName()))
	if p, ok := h.GetHeaderMatchSpecifier().(*routev3.HeaderMatcher_PresentMatch); ok {
		if !present && !h.GetTreatMissingHeaderAsEmpty() {
			return p.PresentMatch == h.GetInvertMatch(), nil
		}
		return p.PresentMatch != h.GetInvertMatch(), nil
	}
	if !present && !h.GetTreatMissingHeaderAsEmpty() {
		// A missing header fails every value matcher, inverted or not.
		return false, nil
	}
	var match bool
	switch s := h.GetHeaderMatchSpecifier().(type) {
	case *routev3.HeaderMatcher_StringMatch:
		var err error
		if match, err = StringMatch(s.StringMatch, value); err != nil {
			return false, fmt.Errorf("header %s: %v", h.GetName(), err)
		}
	case nil:
		// No specifier: the header must be present.
		match = true
	default:
		return false, fmt.Errorf("header %s: matcher %T", h.GetName(), s)
	}
	return match != h.GetInvertMatch(), nil
}

// queryParam evaluates one QueryParameterMatcher: the first value of the
// decoded parameter.
func (v view) queryParam(q *routev3.QueryParameterMatcher) (bool, error) {
	// Envoy decodes what it can; url.ParseQuery keeps the good pairs too.
	vals, _ := url.ParseQuery(v.query)
	vs, ok := vals[q.GetName()]
	switch s := q.GetQueryParameterMatchSpecifier().(type) {
	case *routev3.QueryParameterMatcher_PresentMatch:
		return ok == s.PresentMatch, nil
	case *routev3.QueryParameterMatcher_StringMatch:
		if !ok {
			return false, nil
		}
		m, err := StringMatch(s.StringMatch, vs[0])
		if err != nil {
			return false, fmt.Errorf("query parameter %s: %v", q.GetName(), err)
		}
		return m, nil
	case nil:
		return ok, nil
	default:
		return false, fmt.Errorf("query parameter %s: matcher %T", q.GetName(), s)
	}
}

// StringMatch evaluates an Envoy StringMatcher. A safe_regex must match the
// whole value.
func StringMatch(m *matcherv3.StringMatcher, value string) (bool, error) {
	ic := m.GetIgnoreCase()
	fold := func(s string) string {
		if ic {
			return strings.ToLower(s)
		}
		return s
	}
	switch p := m.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		return fold(value) == fold(p.Exact), nil
	case *matcherv3.StringMatcher_Prefix:
		return strings.HasPrefix(fold(value), fold(p.Prefix)), nil
	case *matcherv3.StringMatcher_Suffix:
		return strings.HasSuffix(fold(value), fold(p.Suffix)), nil
	case *matcherv3.StringMatcher_Contains:
		return strings.Contains(fold(value), fold(p.Contains)), nil
	case *matcherv3.StringMatcher_SafeRegex:
		re, err := regexp.Compile(`^(?:` + p.SafeRegex.GetRegex() + `)$`)
		if err != nil {
			return false, fmt.Errorf("regex %q: %v", p.SafeRegex.GetRegex(), err)
		}
		return re.MatchString(value), nil
	default:
		return false, fmt.Errorf("string matcher %T", p)
	}
}

// NearMiss reports, for a route whose path matches req but which does not
// match as a whole, the first header or query parameter matcher that fails
// (by name, e.g. ":method" or "x-stage"); "" when the path does not match,
// the route matches, or it cannot be evaluated.
func NearMiss(r *routev3.Route, req Request) string {
	path, query, _ := strings.Cut(req.Path, "?")
	path = NormalizePath(path)
	v := view{req: req, path: path, query: query, fullPath: req.Path}
	m := r.GetMatch()
	bare := &routev3.RouteMatch{PathSpecifier: m.GetPathSpecifier(), CaseSensitive: m.GetCaseSensitive()}
	if ok, err := v.route(bare); !ok || err != nil {
		return ""
	}
	for _, h := range m.GetHeaders() {
		if ok, err := v.header(h); err == nil && !ok {
			return h.GetName()
		}
	}
	for _, q := range m.GetQueryParameters() {
		if ok, err := v.queryParam(q); err == nil && !ok {
			return "?" + q.GetName()
		}
	}
	return ""
}
