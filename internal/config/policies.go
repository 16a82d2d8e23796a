package config

import (
	"maps"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// Defaults of the policy settings.
const (
	DefaultHMACClockSkew = 900 * time.Second
	DefaultAPIRPS        = 200
	DefaultJWKSRefresh   = 5 * time.Minute
	DefaultTokenLeeway   = time.Minute
	MaxAppCodes          = 5
)

var (
	hmacAlgorithms = map[string]bool{"hmac-sha1": true, "hmac-sha256": true, "hmac-sha384": true, "hmac-sha512": true}
	tokenAlgs      = map[string]bool{"RS256": true, "RS384": true, "RS512": true, "PS256": true, "PS384": true, "PS512": true, "ES256": true, "ES384": true, "ES512": true, "EdDSA": true}
	reAppCode      = regexp.MustCompile(`^[A-Za-z0-9+_!@#$%/=-]{64,180}$`)
	rePathSegment  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	throttleUnits  = map[string]bool{"second": true, "minute": true, "hour": true, "day": true}
)

// hmac resolves key-pair settings over def.
func (b *builder) hmac(path string, h *configv1.Hmac, def model.HMACPolicy) model.HMACPolicy {
	out := def
	if h == nil {
		return out
	}
	if len(h.GetAlgorithms()) > 0 {
		out.Algorithms = nil
		for i, a := range h.GetAlgorithms() {
			a = strings.ToLower(a)
			if !hmacAlgorithms[a] {
				b.ps.add(idx(field(path, "algorithms"), i), "%q is not one of hmac-sha1, hmac-sha256, hmac-sha384, hmac-sha512", a)
				continue
			}
			out.Algorithms = append(out.Algorithms, a)
		}
	}
	if h.GetClockSkew() != "" {
		out.ClockSkew = b.duration(field(path, "clock_skew"), h.GetClockSkew(), def.ClockSkew, time.Second, 24*time.Hour)
	}
	if len(h.GetEnforceHeaders()) > 0 {
		out.EnforceHeaders = nil
		for i, name := range h.GetEnforceHeaders() {
			if !reHeader.MatchString(name) && name != "request-line" && name != "@request-target" {
				b.ps.add(idx(field(path, "enforce_headers"), i), "%q is not a header name", name)
				continue
			}
			out.EnforceHeaders = append(out.EnforceHeaders, strings.ToLower(name))
		}
	}
	out.ValidateBody = out.ValidateBody || h.GetValidateBody()
	return out
}

// pathEnvironments resolves the segment -> environment mapping of a group.
func (b *builder) pathEnvironments(path string, pe *configv1.PathEnvironments) map[string]string {
	out := map[string]string{}
	if len(pe.GetMapping()) == 0 {
		for seg, env := range map[string]string{"release": b.snap.Settings.DefaultEnvironment, "prepub": "PREPUB", "test": "TEST"} {
			if b.envs[env] != nil {
				out[seg] = env
			}
		}
		return out
	}
	for _, seg := range slices.Sorted(maps.Keys(pe.GetMapping())) {
		env := pe.GetMapping()[seg]
		if !rePathSegment.MatchString(seg) {
			b.ps.add(field(path, "mapping."+seg), "%q is not a path segment (letters, digits, _ . -)", seg)
			continue
		}
		if b.envs[env] == nil {
			b.ps.add(field(path, "mapping."+seg), "environment %q is not defined", env)
			continue
		}
		out[seg] = env
	}
	return out
}

func (b *builder) tokenIssuers(list []*configv1.TokenIssuer) {
	b.issuerNames = map[string]bool{}
	for i, t := range list {
		path := idx("token_issuers", i)
		if !reGroupName.MatchString(t.GetName()) {
			b.ps.add(field(path, "name"), "%q is not a valid name", t.GetName())
			continue
		}
		if b.issuerNames[t.GetName()] {
			b.ps.add(field(path, "name"), "token issuer %q is defined twice", t.GetName())
			continue
		}
		b.issuerNames[t.GetName()] = true
		ti := &model.TokenIssuer{
			Name: t.GetName(), Issuer: t.GetIssuer(), Audiences: t.GetAudiences(),
			JWKSFile: t.GetJwksFile(), JWKSURL: t.GetJwksUrl(),
			Refresh:      b.duration(field(path, "refresh"), t.GetRefresh(), DefaultJWKSRefresh, 10*time.Second, 24*time.Hour),
			Leeway:       b.duration(field(path, "leeway"), t.GetLeeway(), DefaultTokenLeeway, 0, 5*time.Minute),
			Algorithms:   t.GetAlgorithms(),
			AccountClaim: orString(t.GetClaims().GetAccount(), "account"),
			UserClaim:    orString(t.GetClaims().GetUser(), "sub"),
			ProjectClaim: orString(t.GetClaims().GetProject(), "project"),
		}
		if ti.Issuer == "" {
			b.ps.add(field(path, "issuer"), "the expected iss claim is required")
		}
		if (ti.JWKSFile == "") == (ti.JWKSURL == "") {
			b.ps.add(path, "set exactly one of jwks_file, jwks_url")
		}
		if ti.JWKSURL != "" && !strings.HasPrefix(ti.JWKSURL, "https://") && !strings.HasPrefix(ti.JWKSURL, "http://") {
			b.ps.add(field(path, "jwks_url"), "%q is not an http(s) URL", ti.JWKSURL)
		}
		for j, a := range ti.Algorithms {
			if !tokenAlgs[a] {
				b.ps.add(idx(field(path, "algorithms"), j), "%q is not an allowed algorithm (RS*, PS*, ES*, EdDSA; never none or HS*)", a)
			}
		}
		if len(ti.Algorithms) == 0 {
			ti.Algorithms = []string{"RS256", "ES256", "EdDSA"}
		}
		b.snap.TokenIssuers = append(b.snap.TokenIssuers, ti)
	}
}

func orString(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// appExtras resolves an app's codes and trusted IPs.
func (b *builder) appExtras(path string, a *configv1.App, app *model.App) {
	if len(a.GetCodes()) > MaxAppCodes {
		b.ps.add(field(path, "codes"), "an app has at most %d codes (it has %d)", MaxAppCodes, len(a.GetCodes()))
	}
	for i, c := range a.GetCodes() {
		sec, ok := b.secretAllowShort(idx(field(path, "codes"), i), c, 1)
		if !ok {
			continue
		}
		if !reAppCode.Match(sec.Bytes()) {
			b.ps.add(idx(field(path, "codes"), i), "an app code is 64-180 characters of A-Z a-z 0-9 + _ ! @ # $ %% - / =")
			continue
		}
		if owner, dup := b.appCodes[string(sec.Bytes())]; dup {
			b.ps.add(idx(field(path, "codes"), i), "this app code is already used by %s (codes identify the app: make them unique)", owner)
			continue
		}
		if b.appCodes == nil {
			b.appCodes = map[string]string{}
		}
		b.appCodes[string(sec.Bytes())] = path
		app.Codes = append(app.Codes, sec)
	}
	for i, v := range a.GetTrustedIps() {
		p, err := parsePrefixOrAddr(v)
		if err != nil {
			b.ps.add(idx(field(path, "trusted_ips"), i), "%q is not an IP address or CIDR", v)
			continue
		}
		app.TrustedIPs = append(app.TrustedIPs, p)
	}
}

func parsePrefixOrAddr(v string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(v); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

// keyPairs resolves key pairs and the usage plans that bind them.
func (b *builder) keyPairs(pairs []*configv1.KeyPair, plans []*configv1.UsagePlan) {
	all := map[string]*model.KeyPair{}
	for i, k := range pairs {
		path := idx("key_pairs", i)
		if !reKey.MatchString(k.GetId()) {
			b.ps.add(field(path, "id"), "a key pair id is 1-128 letters, digits, _ . or -")
			continue
		}
		if all[k.GetId()] != nil {
			b.ps.add(field(path, "id"), "key pair %q is defined twice", k.GetId())
			continue
		}
		sec, _ := b.secret(field(path, "secret"), k.GetSecret())
		kp := &model.KeyPair{ID: k.GetId(), Secret: sec}
		all[kp.ID] = kp
		if !k.GetDisabled() {
			b.snap.KeyPairs[kp.ID] = kp
		}
	}
	names := map[string]bool{}
	for i, p := range plans {
		path := idx("usage_plans", i)
		if !reGroupName.MatchString(p.GetName()) {
			b.ps.add(field(path, "name"), "%q is not a valid name", p.GetName())
		} else if names[p.GetName()] {
			b.ps.add(field(path, "name"), "usage plan %q is defined twice", p.GetName())
		}
		names[p.GetName()] = true
		period, requests := p.GetQuota().GetPeriod(), p.GetQuota().GetRequests()
		var calendar *model.CalendarQuota
		if q := p.GetQuota(); isCalendarQuota(q) {
			calendar = b.calendarQuota(field(path, "quota"), q)
			period, requests = "", 0
		} else if q != nil {
			if period != "minute" && period != "hour" && period != "day" {
				b.ps.add(field(path, "quota.period"), "%q is not minute, hour, day, week or month", period)
			}
			if q.GetRequests() == 0 {
				b.ps.add(field(path, "quota.requests"), "a quota needs a positive number of requests")
			}
		}
		plan := model.NewUsagePlan(p.GetName(), p.GetRatePerSecond(), requests, period, p.GetKeyPairs())
		plan.Calendar = calendar
		for j, id := range p.GetKeyPairs() {
			kp := all[id]
			if kp == nil {
				b.ps.add(idx(field(path, "key_pairs"), j), "key pair %q is not defined", id)
				continue
			}
			kp.Plans = append(kp.Plans, plan)
		}
		if len(p.GetEnvironments()) == 0 && len(p.GetApis()) == 0 {
			b.ps.add(path, "bind the plan to environments or apis")
		}
		bound := map[*model.Deployment]bool{}
		for j, e := range p.GetEnvironments() {
			if b.envs[e] == nil {
				b.ps.add(idx(field(path, "environments"), j), "environment %q is not defined", e)
				continue
			}
			for _, api := range b.snap.APIs {
				if d := api.Deployments[e]; d != nil {
					bound[d] = true
				}
			}
		}
		for j, ref := range p.GetApis() {
			for _, t := range b.expand(idx(field(path, "apis"), j), ref, nil) {
				bound[t.api.Deployments[t.env]] = true
			}
		}
		for d := range bound {
			d = b.own(d)
			d.UsagePlans = append(d.UsagePlans, plan)
		}
		b.snap.UsagePlans = append(b.snap.UsagePlans, plan)
	}
}

// bind expands policy bindings into deployments.
func (b *builder) bind(path string, bindings []*configv1.Binding) []*model.Deployment {
	if len(bindings) == 0 {
		b.ps.add(field(path, "bindings"), "bind the policy to at least one API")
	}
	var out []*model.Deployment
	for i, bd := range bindings {
		for _, t := range b.expand(idx(field(path, "bindings"), i), bd.GetApi(), bd.GetEnvironments()) {
			out = append(out, t.api.Deployments[t.env])
		}
	}
	return out
}

func (b *builder) aclPolicies(list []*configv1.AclPolicy) {
	for i, p := range list {
		path := idx("acl_policies", i)
		if !reGroupName.MatchString(p.GetName()) {
			b.ps.add(field(path, "name"), "%q is not a valid name", p.GetName())
			continue
		}
		if b.snap.ACLPolicies[p.GetName()] != nil {
			b.ps.add(field(path, "name"), "ACL policy %q is defined twice", p.GetName())
			continue
		}
		pol := &model.ACLPolicy{Name: p.GetName(), Values: p.GetValues()}
		switch p.GetType() {
		case "ip":
			pol.Type = model.ACLIP
			for j, v := range p.GetValues() {
				if _, err := parsePrefixOrAddr(v); err != nil {
					b.ps.add(idx(field(path, "values"), j), "%q is not an IP address or CIDR", v)
				}
			}
		case "account":
			pol.Type = model.ACLAccount
		default:
			b.ps.add(field(path, "type"), "%q is not ip or account", p.GetType())
		}
		switch p.GetAction() {
		case "allow":
			pol.Allow = true
		case "deny":
		default:
			b.ps.add(field(path, "action"), "%q is not allow or deny", p.GetAction())
		}
		if len(pol.Values) == 0 {
			b.ps.add(field(path, "values"), "list at least one value")
		}
		for _, d := range b.bind(path, p.GetBindings()) {
			d = b.own(d)
			d.ACLs = append(d.ACLs, pol)
		}
		b.snap.ACLPolicies[pol.Name] = pol
	}
}

func (b *builder) throttlePolicies(list []*configv1.ThrottlePolicy) {
	owner := map[*model.Deployment]string{}
	for i, p := range list {
		path := idx("throttle_policies", i)
		if !reGroupName.MatchString(p.GetName()) {
			b.ps.add(field(path, "name"), "%q is not a valid name", p.GetName())
			continue
		}
		if b.snap.ThrottlePolicies[p.GetName()] != nil {
			b.ps.add(field(path, "name"), "throttle policy %q is defined twice", p.GetName())
			continue
		}
		pol := &model.ThrottlePolicy{
			Name: p.GetName(), Unit: p.GetUnit(),
			APILimit: p.GetApiLimit(), UserLimit: p.GetUserLimit(), AppLimit: p.GetAppLimit(), IPLimit: p.GetIpLimit(),
			SpecialApps: map[string]uint32{}, SpecialUsers: map[string]uint32{},
		}
		if !throttleUnits[pol.Unit] {
			b.ps.add(field(path, "unit"), "%q is not second, minute, hour or day", pol.Unit)
		}
		if pol.APILimit == 0 && pol.UserLimit == 0 && pol.AppLimit == 0 && pol.IPLimit == 0 && len(p.GetSpecial()) == 0 {
			b.ps.add(path, "set at least one of api_limit, user_limit, app_limit, ip_limit (a positive number of requests)")
		}
		for j, sp := range p.GetSpecial() {
			sp0 := idx(field(path, "special"), j)
			if sp.GetLimit() == 0 {
				b.ps.add(field(sp0, "limit"), "a special threshold needs a positive limit")
			}
			switch sp.GetType() {
			case "app":
				pol.SpecialApps[sp.GetName()] = sp.GetLimit()
			case "user":
				if !strings.Contains(sp.GetName(), "/") {
					b.ps.add(field(sp0, "name"), "%q is not <account>/<user>", sp.GetName())
				}
				pol.SpecialUsers[sp.GetName()] = sp.GetLimit()
			default:
				b.ps.add(field(sp0, "type"), "%q is not app or user", sp.GetType())
			}
		}
		for _, d := range b.bind(path, p.GetBindings()) {
			d = b.own(d)
			if prev, dup := owner[d]; dup {
				b.ps.add(field(path, "bindings"), "an API has one throttle policy per environment; %q already applies in %s", prev, d.Environment)
				continue
			}
			owner[d] = pol.Name
			d.Throttle = pol
		}
		b.snap.ThrottlePolicies[pol.Name] = pol
	}
}

// authorizers resolves the custom authorizers.
func (b *builder) authorizers(list []*configv1.Authorizer) {
	b.authorizerByName = map[string]*model.Authorizer{}
	for i, a := range list {
		path := idx("authorizers", i)
		if !reGroupName.MatchString(a.GetName()) {
			b.ps.add(field(path, "name"), "%q is not a valid name", a.GetName())
			continue
		}
		if b.authorizerByName[a.GetName()] != nil {
			b.ps.add(field(path, "name"), "authorizer %q is defined twice", a.GetName())
			continue
		}
		az := &model.Authorizer{
			Name:     a.GetName(),
			URL:      a.GetUrl(),
			Timeout:  b.duration(field(path, "timeout"), a.GetTimeout(), 500*time.Millisecond, time.Millisecond, 900*time.Millisecond),
			CacheTTL: 0,
		}
		if a.GetCacheTtl() != "" && a.GetCacheTtl() != "0s" && a.GetCacheTtl() != "0" {
			az.CacheTTL = b.duration(field(path, "cache_ttl"), a.GetCacheTtl(), 0, time.Second, time.Hour)
		}
		if u, err := url.Parse(az.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			b.ps.add(field(path, "url"), "%q is not an http(s) URL", az.URL)
		}
		if len(a.GetIdentityHeaders()) == 0 {
			b.ps.add(field(path, "identity_headers"), "list at least one header (the identity source)")
		}
		for j, h := range a.GetIdentityHeaders() {
			if !reHeader.MatchString(h) {
				b.ps.add(idx(field(path, "identity_headers"), j), "%q is not a header name", h)
				continue
			}
			az.IdentityHeaders = append(az.IdentityHeaders, strings.ToLower(h))
		}
		b.authorizerByName[az.Name] = az
	}
}
