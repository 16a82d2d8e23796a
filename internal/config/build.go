package config

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// Defaults and bounds of the settings (documented in docs/configuration.md).
const (
	DefaultGRPCAddress        = "127.0.0.1:18000"
	DefaultAdminAddress       = "127.0.0.1:18001"
	DefaultListenerAddress    = "0.0.0.0"
	DefaultListenerPort       = 10080
	DefaultEnvironment        = "RELEASE"
	DefaultClockSkew          = 15 * time.Minute
	DefaultMaxBodyBytes       = 12 << 20
	MinBodyBytes              = 1 << 20
	MaxBodyBytes              = 9536 << 20
	DefaultMaxURIBytes        = 32 << 10
	MinURIBytes               = 256
	MaxURIBytes               = 1 << 20
	DefaultLockoutFailures    = 5
	DefaultLockoutDuration    = 5 * time.Minute
	DefaultLockoutTrackedKeys = 100000
	DefaultBackendTimeout     = 5 * time.Second
	MaxBackendTimeout         = 60 * time.Second
	MaxRetries                = 10
	MinSecretBytes            = 8
	// DefaultBackendCAFile is the CA bundle https backends are verified
	// against by default.
	DefaultBackendCAFile = model.DefaultBackendCAFile
	MaxSecretBytes       = 4096
)

var (
	reGroupName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	reEnvName   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)
	reVarName   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)
	reKey       = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
	reHeader    = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+.^_|~-]{1,128}$`)
	reVarRef    = regexp.MustCompile(`#\{([^}#]*)\}#`)
)

var methods = map[string]bool{
	"GET": true, "POST": true, "PUT": true, "DELETE": true, "PATCH": true, "HEAD": true, "OPTIONS": true, model.MethodAny: true,
}

// builder turns a schema message into a Snapshot, collecting problems.
type builder struct {
	opts             Options
	issuerNames      map[string]bool
	authorizerByName map[string]*model.Authorizer
	appCodes         map[string]string // code -> path of the app that has it
	ps               problems
	snap             *model.Snapshot
	envs             map[string]*model.Environment
	secrets          [][]byte
	// digests are the group digests, in declaration order; reuse holds
	// models of a previous snapshot's groups by digest.
	digests []string
	reuse   map[string]*model.Group
}

// Build validates gw and resolves it into a Snapshot. source names the
// configuration in error messages.
func Build(source string, gw *configv1.Gateway, opts Options) (*model.Snapshot, error) {
	return build(source, gw, opts, nil)
}

// build is Build reusing, for each group whose digest is a key of reuse,
// that model (a previous snapshot's group: copied, never changed).
func build(source string, gw *configv1.Gateway, opts Options, reuse map[string]*model.Group) (*model.Snapshot, error) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	b := &builder{opts: opts, snap: &model.Snapshot{
		APIs:             map[string]*model.API{},
		Channels:         map[string]*model.Channel{},
		Apps:             map[string]*model.App{},
		AccessKeys:       map[string]*model.AccessKey{},
		KeyPairs:         map[string]*model.KeyPair{},
		ACLPolicies:      map[string]*model.ACLPolicy{},
		ThrottlePolicies: map[string]*model.ThrottlePolicy{},
	}}
	var shared []byte
	shared, b.digests = groupDigests(gw)
	b.reuse = reuse
	b.server(gw.GetServer())
	b.listener(gw.GetListener())
	b.settings(gw.GetSettings())
	b.environments(gw.GetEnvironments())
	b.channels(gw.GetChannels())
	b.tokenIssuers(gw.GetTokenIssuers())
	b.authorizers(gw.GetAuthorizers())
	b.groups(gw.GetGroups())
	b.apps(gw.GetApps())
	b.iamUsers(gw.GetIamUsers())
	b.keyPairs(gw.GetKeyPairs(), gw.GetUsagePlans())
	b.aclPolicies(gw.GetAclPolicies())
	b.throttlePolicies(gw.GetThrottlePolicies())
	if err := b.ps.err(source); err != nil {
		return nil, err
	}
	b.snap.Version = version(shared, b.digests, b.secrets)
	return b.snap, nil
}

func (b *builder) server(s *configv1.Server) {
	srv := &b.snap.Server
	srv.GRPCAddress = b.hostPort("server.grpc_address", s.GetGrpcAddress(), DefaultGRPCAddress, true)
	srv.AdminAddress = b.hostPort("server.admin_address", s.GetAdminAddress(), DefaultAdminAddress, true)
	srv.AdvertiseAddress = b.hostPort("server.advertise_address", s.GetAdvertiseAddress(), srv.GRPCAddress, false)
}

// hostPort validates a host:port; port 0 (any free port) is allowed for
// listen addresses.
func (b *builder) hostPort(path, v, def string, listen bool) string {
	if v == "" {
		return def
	}
	if _, err := parseHostPort(v, listen); err != nil {
		b.ps.add(path, "%v", err)
	}
	return v
}

func parseHostPort(v string, allowZero bool) (uint32, error) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not host:port", v)
	}
	if host == "" {
		return 0, fmt.Errorf("%q has no host", v)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || (p == 0 && !allowZero) {
		return 0, fmt.Errorf("%q has an invalid port (1-65535)", v)
	}
	return uint32(p), nil
}

func (b *builder) listener(l *configv1.Listener) {
	out := &b.snap.Listener
	out.Address = l.GetAddress()
	if out.Address == "" {
		out.Address = DefaultListenerAddress
	} else if _, err := netip.ParseAddr(out.Address); err != nil {
		b.ps.add("listener.address", "%q is not an IP address", out.Address)
	}
	out.Port = l.GetPort()
	if out.Port == 0 {
		out.Port = DefaultListenerPort
	} else if out.Port > 65535 {
		b.ps.add("listener.port", "%d is not a port (1-65535)", out.Port)
	}
	out.XFFNumTrustedHops = l.GetXffNumTrustedHops()
	if out.XFFNumTrustedHops > 10 {
		b.ps.add("listener.xff_num_trusted_hops", "%d is more than 10 hops", out.XFFNumTrustedHops)
	}
}

func (b *builder) settings(s *configv1.Settings) {
	out := &b.snap.Settings
	out.ClockSkew = b.duration("settings.clock_skew", s.GetClockSkew(), DefaultClockSkew, time.Second, 24*time.Hour)
	out.MaxBodyBytes = b.size("settings.max_body_size", s.GetMaxBodySize(), DefaultMaxBodyBytes, MinBodyBytes, MaxBodyBytes)
	out.MaxURIBytes = int(b.size("settings.max_uri_size", s.GetMaxUriSize(), DefaultMaxURIBytes, MinURIBytes, MaxURIBytes))
	out.DefaultEnvironment = s.GetDefaultEnvironment()
	if out.DefaultEnvironment == "" {
		out.DefaultEnvironment = DefaultEnvironment
	} else if !reEnvName.MatchString(out.DefaultEnvironment) {
		b.ps.add("settings.default_environment", "%q is not a valid environment name (a letter, then letters, digits or _)", out.DefaultEnvironment)
	}
	lo := s.GetLockout()
	out.Lockout = model.Lockout{
		Enabled:        !lo.GetDisabled(),
		MaxFailures:    DefaultLockoutFailures,
		Duration:       b.duration("settings.lockout.duration", lo.GetDuration(), DefaultLockoutDuration, time.Second, model.MaxLockoutDuration),
		MaxTrackedKeys: DefaultLockoutTrackedKeys,
	}
	if lo != nil && lo.MaxFailures != nil {
		if lo.GetMaxFailures() == 0 || lo.GetMaxFailures() > 1000 {
			b.ps.add("settings.lockout.max_failures", "%d is out of range (1-1000)", lo.GetMaxFailures())
		}
		out.Lockout.MaxFailures = int(lo.GetMaxFailures())
	}
	if n := lo.GetMaxTrackedKeys(); n != 0 {
		if n < 100 || n > 10_000_000 {
			b.ps.add("settings.lockout.max_tracked_keys", "%d is out of range (100-10000000)", n)
		}
		out.Lockout.MaxTrackedKeys = int(n)
	}
	out.HMAC = b.hmac("settings.hmac", s.GetHmac(), model.HMACPolicy{ClockSkew: DefaultHMACClockSkew})
	out.AppCodeAllowHTTP = s.GetAppCodeAllowHttp()
	th := s.GetThrottling()
	out.Throttling.DefaultAPIRPS = DefaultAPIRPS
	if th.GetDefaultApiRps() != 0 {
		out.Throttling.DefaultAPIRPS = th.GetDefaultApiRps()
	}
	if th.GetDefaultDisabled() {
		out.Throttling.DefaultAPIRPS = 0
	}
	out.Throttling.RedisAddress = th.GetRedisAddress()
	if out.Throttling.RedisAddress != "" {
		if _, err := parseHostPort(out.Throttling.RedisAddress, false); err != nil {
			b.ps.add("settings.throttling.redis_address", "%v", err)
		}
	}
	if th.GetRedisPassword() != nil {
		out.Throttling.RedisPassword, _ = b.secretAllowShort("settings.throttling.redis_password", th.GetRedisPassword(), 1)
	}
	switch th.GetFailureMode() {
	case "", "open":
	case "closed":
		out.Throttling.FailClosed = true
	default:
		b.ps.add("settings.throttling.failure_mode", "%q is not open or closed", th.GetFailureMode())
	}
	bt := s.GetBackendTls()
	out.BackendTLS = model.BackendTLS{CAFile: bt.GetCaFile(), InsecureSkipVerify: bt.GetInsecureSkipVerify()}
	switch ca := out.BackendTLS.CAFile; {
	case ca == "" && !out.BackendTLS.InsecureSkipVerify:
		out.BackendTLS.CAFile = DefaultBackendCAFile
	case ca == "":
	case !strings.HasPrefix(ca, "/") || strings.ContainsAny(ca, "\x00\r\n"):
		b.ps.add("settings.backend_tls.ca_file", "%q is not an absolute path (Envoy reads the file)", ca)
	case out.BackendTLS.InsecureSkipVerify:
		b.ps.add("settings.backend_tls.ca_file", "a CA file is pointless with insecure_skip_verify")
	}
	for i, c := range s.GetDeniedBackendCidrs() {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			b.ps.add(idx("settings.denied_backend_cidrs", i), "%q is not a CIDR (e.g. 169.254.0.0/16)", c)
			continue
		}
		out.DeniedBackendCIDRs = append(out.DeniedBackendCIDRs, p.Masked())
	}
}

func (b *builder) duration(path, v string, def, lo, hi time.Duration) time.Duration {
	if v == "" {
		return def
	}
	d, err := parseDuration(v)
	if err != nil {
		b.ps.add(path, "%v", err)
		return def
	}
	if d < lo || d > hi {
		b.ps.add(path, "%s is out of range (%s-%s)", d, lo, hi)
	}
	return d
}

func (b *builder) size(path, v string, def, lo, hi int64) int64 {
	if v == "" {
		return def
	}
	n, err := parseSize(v)
	if err != nil {
		b.ps.add(path, "%v", err)
		return def
	}
	if n < lo || n > hi {
		b.ps.add(path, "%d bytes is out of range (%d-%d bytes)", n, lo, hi)
	}
	return n
}

func (b *builder) environments(list []*configv1.Environment) {
	def := b.snap.Settings.DefaultEnvironment
	b.envs = map[string]*model.Environment{def: {Name: def, Default: true, Variables: map[string]string{}}}
	seen := map[string]bool{}
	for i, e := range list {
		path := idx("environments", i)
		if !reEnvName.MatchString(e.GetName()) {
			b.ps.add(field(path, "name"), "%q is not a valid environment name (a letter, then letters, digits or _; at most 64)", e.GetName())
			continue
		}
		if seen[e.GetName()] {
			b.ps.add(field(path, "name"), "environment %q is defined twice", e.GetName())
			continue
		}
		seen[e.GetName()] = true
		env := b.envs[e.GetName()]
		if env == nil {
			env = &model.Environment{Name: e.GetName(), Variables: map[string]string{}}
			b.envs[e.GetName()] = env
		}
		for _, k := range slices.Sorted(maps.Keys(e.GetVariables())) {
			if !reVarName.MatchString(k) {
				b.ps.add(field(path, "variables."+k), "%q is not a valid variable name (a letter, then letters, digits, _ or -)", k)
				continue
			}
			env.Variables[k] = e.GetVariables()[k]
		}
	}
	for _, env := range b.envs {
		b.snap.Environments = append(b.snap.Environments, env)
	}
	sort.Slice(b.snap.Environments, func(i, j int) bool {
		a, c := b.snap.Environments[i], b.snap.Environments[j]
		if a.Default != c.Default {
			return a.Default
		}
		return a.Name < c.Name
	})
}

func (b *builder) channels(list []*configv1.Channel) {
	for i, c := range list {
		path := idx("channels", i)
		if !reGroupName.MatchString(c.GetName()) {
			b.ps.add(field(path, "name"), "%q is not a valid channel name", c.GetName())
			continue
		}
		if b.snap.Channels[c.GetName()] != nil {
			b.ps.add(field(path, "name"), "channel %q is defined twice", c.GetName())
			continue
		}
		ch := &model.Channel{Name: c.GetName()}
		switch c.GetLbPolicy() {
		case "", "round_robin":
			ch.LBPolicy = model.LBRoundRobin
		case "least_request":
			ch.LBPolicy = model.LBLeastRequest
		case "random":
			ch.LBPolicy = model.LBRandom
		case "ring_hash":
			ch.LBPolicy = model.LBRingHash
		default:
			b.ps.add(field(path, "lb_policy"), "%q is not one of round_robin, least_request, random, ring_hash", c.GetLbPolicy())
		}
		switch c.GetProtocol() {
		case "", "http":
		case "https":
			ch.TLS = true
		default:
			b.ps.add(field(path, "protocol"), "%q is not http or https", c.GetProtocol())
		}
		if len(c.GetMembers()) == 0 {
			b.ps.add(field(path, "members"), "a channel needs at least one member")
		}
		for j, m := range c.GetMembers() {
			mp := idx(field(path, "members"), j)
			host, portStr, err := net.SplitHostPort(m.GetAddress())
			port, perr := strconv.ParseUint(portStr, 10, 16)
			if err != nil || host == "" || perr != nil || port == 0 {
				b.ps.add(field(mp, "address"), "%q is not host:port", m.GetAddress())
				continue
			}
			b.checkBackendHost(field(mp, "address"), host)
			w := m.GetWeight()
			if w == 0 {
				w = 1
			} else if w > 100 {
				b.ps.add(field(mp, "weight"), "%d is out of range (1-100)", w)
			}
			ch.Members = append(ch.Members, model.ChannelMember{Host: host, Port: uint32(port), Weight: w})
		}
		if hc := c.GetHealthCheck(); hc != nil {
			mhc := &model.HealthCheck{
				Path:               hc.GetPath(),
				Interval:           b.duration(field(path, "health_check.interval"), hc.GetInterval(), 10*time.Second, time.Second, time.Hour),
				Timeout:            b.duration(field(path, "health_check.timeout"), hc.GetTimeout(), 5*time.Second, 100*time.Millisecond, time.Minute),
				HealthyThreshold:   orDefault(hc.GetHealthyThreshold(), 2),
				UnhealthyThreshold: orDefault(hc.GetUnhealthyThreshold(), 3),
			}
			if mhc.Path == "" {
				mhc.Path = "/"
			} else if !strings.HasPrefix(mhc.Path, "/") {
				b.ps.add(field(path, "health_check.path"), "%q must start with /", mhc.Path)
			}
			ch.HealthCheck = mhc
		}
		b.snap.Channels[ch.Name] = ch
	}
}

func orDefault(v, def uint32) uint32 {
	if v == 0 {
		return def
	}
	return v
}

// checkBackendHost refuses literal IP backends inside a denied range.
func (b *builder) checkBackendHost(path, host string) {
	addr, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return
	}
	for _, p := range b.snap.Settings.DeniedBackendCIDRs {
		if p.Contains(addr.Unmap()) {
			b.ps.add(path, "backend address %s is in the denied range %s (settings.denied_backend_cidrs)", addr, p)
			return
		}
	}
}

func (b *builder) groups(list []*configv1.Group) {
	seenGroup := map[string]bool{}
	routes := map[string]string{}      // route key -> path of first declaration
	domainOwner := map[string]string{} // lower-cased domain -> group (Envoy: one virtual host per domain)
	for i, g := range list {
		path := idx("groups", i)
		if !reGroupName.MatchString(g.GetName()) {
			b.ps.add(field(path, "name"), "%q is not a valid group name (letters, digits, _ . -; at most 64)", g.GetName())
			continue
		}
		if seenGroup[g.GetName()] {
			b.ps.add(field(path, "name"), "group %q is defined twice", g.GetName())
			continue
		}
		seenGroup[g.GetName()] = true
		grp := &model.Group{Name: g.GetName(), Domains: g.GetDomains()}
		switch g.GetErrorDialect() {
		case "", "apig":
		case "tencent":
			grp.Dialect = apigerr.Tencent
		default:
			b.ps.add(field(path, "error_dialect"), "%q is not apig or tencent", g.GetErrorDialect())
		}
		if pe := g.GetPathEnvironments(); pe.GetEnabled() {
			grp.PathEnvironments = b.pathEnvironments(field(path, "path_environments"), pe)
		}
		if len(grp.Domains) == 0 {
			grp.Domains = []string{"*"}
		}
		for j, d := range grp.Domains {
			if d == "" || strings.ContainsAny(d, " /\t") {
				b.ps.add(idx(field(path, "domains"), j), "%q is not a domain", d)
				continue
			}
			switch owner, dup := domainOwner[strings.ToLower(d)]; {
			case dup && owner == grp.Name:
				b.ps.add(idx(field(path, "domains"), j), "domain %q is listed twice", d)
			case dup:
				b.ps.add(idx(field(path, "domains"), j), "domain %q is already used by group %q (give each group its own domains)", d, owner)
			default:
				domainOwner[strings.ToLower(d)] = grp.Name
			}
		}
		grp.Digest = b.digests[i]
		if old := b.reuse[grp.Digest]; old != nil {
			// Same definition and same surroundings: the same model, but
			// for the policy bindings made below (apps, usage plans, ACL
			// and throttle policies bind this snapshot's objects).
			for _, a := range old.APIs {
				api := b.reuseAPI(a)
				grp.APIs = append(grp.APIs, api)
				b.snap.APIs[api.ID] = api
			}
			b.snap.Groups = append(b.snap.Groups, grp)
			continue
		}
		for j, a := range g.GetApis() {
			api := b.api(idx(field(path, "apis"), j), grp.Name, a, routes)
			if api != nil {
				api.Dialect = grp.Dialect
				grp.APIs = append(grp.APIs, api)
				b.snap.APIs[api.ID] = api
			}
		}
		b.snap.Groups = append(b.snap.Groups, grp)
	}
}

// reuseAPI copies an API of a previous snapshot's group with the same
// digest: what the group defines is shared (read-only), what the rest of
// the configuration binds to its deployments is left for this build to
// bind (model.Deployment's bound fields), and the authorizer is this
// snapshot's.
func (b *builder) reuseAPI(old *model.API) *model.API {
	api := *old
	api.Deployments = make(map[string]*model.Deployment, len(old.Deployments))
	for env, d := range old.Deployments {
		dep := *d
		dep.ACLs, dep.Throttle, dep.UsagePlans = nil, nil, nil
		api.Deployments[env] = &dep
	}
	if old.Authorizer != nil {
		api.Authorizer = b.authorizerByName[old.Authorizer.Name]
	}
	return &api
}

func (b *builder) api(path, group string, a *configv1.Api, routes map[string]string) *model.API {
	if !reGroupName.MatchString(a.GetName()) {
		b.ps.add(field(path, "name"), "%q is not a valid API name (letters, digits, _ . -; at most 64)", a.GetName())
		return nil
	}
	api := &model.API{
		ID:          group + "/" + a.GetName(),
		Name:        a.GetName(),
		Group:       group,
		Method:      strings.ToUpper(a.GetMethod()),
		Path:        a.GetPath(),
		WebSocket:   a.GetWebsocket(),
		Deployments: map[string]*model.Deployment{},
	}
	if b.snap.APIs[api.ID] != nil {
		b.ps.add(field(path, "name"), "API %q is defined twice in group %q", api.Name, group)
		return nil
	}
	if api.Method == "" {
		api.Method = model.MethodAny
	} else if !methods[api.Method] {
		b.ps.add(field(path, "method"), "%q is not one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, ANY", a.GetMethod())
	}
	if !strings.HasPrefix(api.Path, "/") || len(api.Path) > 1024 || strings.ContainsAny(api.Path, "?# \t\r\n") {
		b.ps.add(field(path, "path"), "%q must start with / and contain no query, fragment or spaces (at most 1024 bytes)", api.Path)
	}
	switch a.GetMatch() {
	case "", "exact":
		api.Match = model.MatchExact
	case "prefix":
		api.Match = model.MatchPrefix
	default:
		b.ps.add(field(path, "match"), "%q is not exact or prefix", a.GetMatch())
	}
	switch a.GetAuth() {
	case "", "app":
		api.Auth = model.AuthApp
	case "iam":
		api.Auth = model.AuthIAM
	case "none":
		api.Auth = model.AuthNone
	case "hmac":
		api.Auth = model.AuthHMAC
	case "token":
		api.Auth = model.AuthToken
	case "app_code":
		api.Auth = model.AuthAppCode
	case "authorizer":
		api.Auth = model.AuthAuthorizer
		api.Authorizer = b.authorizerByName[a.GetAuthorizer()]
		if api.Authorizer == nil {
			b.ps.add(field(path, "authorizer"), "authorizer %q is not defined (auth authorizer names one of authorizers[])", a.GetAuthorizer())
		}
	default:
		b.ps.add(field(path, "auth"), "%q is not one of app, iam, hmac, token, app_code, authorizer, none", a.GetAuth())
	}
	if a.GetAuthorizer() != "" && api.Auth != model.AuthAuthorizer {
		b.ps.add(field(path, "authorizer"), "authorizer applies to auth authorizer only")
	}
	api.AppCode = a.GetAppCode() || api.Auth == model.AuthAppCode
	if a.GetAppCode() && api.Auth != model.AuthApp {
		b.ps.add(field(path, "app_code"), "app_code applies to auth app only")
	}
	api.HMAC = b.snap.Settings.HMAC
	if a.GetHmac() != nil {
		if api.Auth != model.AuthHMAC {
			b.ps.add(field(path, "hmac"), "hmac settings apply to auth hmac only")
		}
		api.HMAC = b.hmac(field(path, "hmac"), a.GetHmac(), api.HMAC)
	}
	for k, name := range a.GetTokenIssuers() {
		if !b.issuerNames[name] {
			b.ps.add(idx(field(path, "token_issuers"), k), "token issuer %q is not defined", name)
		}
	}
	api.TokenIssuers = a.GetTokenIssuers()
	if api.Auth == model.AuthToken && len(b.snap.TokenIssuers) == 0 {
		b.ps.add(field(path, "auth"), "auth token needs at least one token_issuers entry")
	}
	if c := a.GetCors(); c != nil {
		api.CORS = b.cors(field(path, "cors"), c)
	}
	envs := a.GetEnvironments()
	if len(envs) == 0 {
		envs = []string{b.snap.Settings.DefaultEnvironment}
	}
	for k, e := range envs {
		env := b.envs[e]
		if env == nil {
			b.ps.add(idx(field(path, "environments"), k), "environment %q is not defined", e)
			continue
		}
		if api.Deployments[e] != nil {
			b.ps.add(idx(field(path, "environments"), k), "environment %q is listed twice", e)
			continue
		}
		rk := strings.Join([]string{group, api.Method, api.Match.String(), api.Path, e}, "\x00")
		if first, dup := routes[rk]; dup {
			b.ps.add(path, "duplicate route: %s %s (%s match) in environment %s is already defined at %s", api.Method, api.Path, api.Match, e, first)
		} else {
			routes[rk] = path
		}
		dep := &model.Deployment{Environment: e}
		dep.Backend = b.backend(field(path, "backend"), a.GetBackend(), env)
		for m, p := range a.GetBackendPolicies() {
			pp := idx(field(path, "backend_policies"), m)
			if p.GetBackend() == nil {
				b.ps.add(field(pp, "backend"), "a backend policy needs a backend")
				continue
			}
			dep.Policies = append(dep.Policies, model.BackendPolicy{
				Name:       p.GetName(),
				Conditions: b.conditions(pp, p.GetConditions(), env.Default),
				Backend:    b.backend(field(pp, "backend"), p.GetBackend(), env),
			})
		}
		api.Deployments[e] = dep
		api.Environments = append(api.Environments, e)
	}
	sort.Slice(api.Environments, func(i, j int) bool {
		ei, ej := b.envs[api.Environments[i]], b.envs[api.Environments[j]]
		if ei.Default != ej.Default {
			return ei.Default
		}
		return ei.Name < ej.Name
	})
	return api
}

func (b *builder) cors(path string, c *configv1.Cors) *model.CORS {
	out := &model.CORS{
		AllowOrigins:     c.GetAllowOrigins(),
		AllowMethods:     c.GetAllowMethods(),
		AllowHeaders:     c.GetAllowHeaders(),
		ExposeHeaders:    c.GetExposeHeaders(),
		AllowCredentials: c.GetAllowCredentials(),
	}
	if len(out.AllowOrigins) == 0 {
		b.ps.add(field(path, "allow_origins"), "list at least one origin, or \"*\"")
	}
	for i, m := range out.AllowMethods {
		if !methods[strings.ToUpper(m)] || strings.ToUpper(m) == model.MethodAny {
			b.ps.add(idx(field(path, "allow_methods"), i), "%q is not an HTTP method", m)
		}
	}
	for _, hs := range []struct {
		name string
		list []string
	}{{"allow_headers", out.AllowHeaders}, {"expose_headers", out.ExposeHeaders}} {
		for i, h := range hs.list {
			if !reHeader.MatchString(h) {
				b.ps.add(idx(field(path, hs.name), i), "%q is not a header name", h)
			}
		}
	}
	if c.GetMaxAge() != "" {
		out.MaxAge = b.duration(field(path, "max_age"), c.GetMaxAge(), 0, time.Second, 24*time.Hour)
	}
	return out
}

// conditions validates backend policy conditions. Each problem is reported
// once (for the default environment's pass) to avoid repeats per environment.
func (b *builder) conditions(path string, list []*configv1.Condition, report bool) []model.Condition {
	add := func(p, format string, args ...any) {
		if report {
			b.ps.add(p, format, args...)
		}
	}
	if len(list) == 0 {
		add(field(path, "conditions"), "a backend policy needs at least one condition")
	}
	var out []model.Condition
	for i, c := range list {
		cp := idx(field(path, "conditions"), i)
		mc := model.Condition{Name: c.GetName(), Values: c.GetValues()}
		if len(mc.Values) == 0 {
			add(field(cp, "values"), "list at least one value")
		}
		switch c.GetType() {
		case "source_ip":
			mc.Type = model.ConditionSourceIP
			for j, v := range mc.Values {
				if _, err := netip.ParsePrefix(v); err != nil {
					if _, err := netip.ParseAddr(v); err != nil {
						add(idx(field(cp, "values"), j), "%q is not an IP address or CIDR", v)
					}
				}
			}
		case "header", "query":
			mc.Type = model.ConditionHeader
			if c.GetType() == "query" {
				mc.Type = model.ConditionQuery
			}
			if !reHeader.MatchString(mc.Name) {
				add(field(cp, "name"), "%q is not a valid %s name", mc.Name, c.GetType())
			}
		case "app":
			mc.Type = model.ConditionApp
		default:
			add(field(cp, "type"), "%q is not one of source_ip, header, query, app", c.GetType())
		}
		out = append(out, mc)
	}
	return out
}

// backend resolves a backend for one environment. Problems that do not
// depend on the environment are reported only for the default environment
// pass... except when the API is not published there, so every backend is
// validated at least once; duplicates are removed by the problems list.
func (b *builder) backend(path string, be *configv1.Backend, env *model.Environment) model.Backend {
	var out model.Backend
	if be == nil {
		b.addOnce(path, "a backend is required (url, channel or mock)")
		return out
	}
	set := 0
	for _, ok := range []bool{be.GetUrl() != "", be.GetChannel() != "", be.GetMock() != nil} {
		if ok {
			set++
		}
	}
	if set != 1 {
		b.addOnce(path, "set exactly one of url, channel, mock")
		return out
	}
	out.Timeout = DefaultBackendTimeout
	if be.GetTimeout() != "" {
		d, err := parseDuration(be.GetTimeout())
		switch {
		case err != nil:
			b.addOnce(field(path, "timeout"), "%v", err)
		case d < time.Millisecond || d > MaxBackendTimeout:
			b.addOnce(field(path, "timeout"), "%s is out of range (1ms-%s)", d, MaxBackendTimeout)
		default:
			out.Timeout = d
		}
	}
	out.Retries = be.GetRetries()
	if out.Retries > MaxRetries {
		b.addOnce(field(path, "retries"), "%d is more than %d", out.Retries, MaxRetries)
	}
	out.HostHeader = be.GetHostHeader()
	if strings.ContainsAny(out.HostHeader, " /\t\r\n") {
		b.addOnce(field(path, "host_header"), "%q is not a host", out.HostHeader)
	}
	if be.GetPath() != "" {
		p, ok := b.substitute(field(path, "path"), be.GetPath(), env)
		if ok && !strings.HasPrefix(p, "/") {
			b.addOnce(field(path, "path"), "%q must start with /", be.GetPath())
		}
		out.Path = p
	}
	switch {
	case be.GetUrl() != "":
		out.Kind = model.BackendURL
		raw, ok := b.substitute(field(path, "url"), be.GetUrl(), env)
		if !ok {
			return out
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			b.ps.add(field(path, "url"), "%q (environment %s) is not an http(s)://host[:port][/path] URL without user, query or fragment", raw, env.Name)
			return out
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
				b.ps.add(field(path, "url"), "%q (environment %s) has an invalid port", raw, env.Name)
			}
		}
		b.checkBackendHost(field(path, "url"), u.Hostname())
		if out.Path == "" && u.Path != "" {
			out.Path = u.Path
		}
		out.URL = u
	case be.GetChannel() != "":
		out.Kind = model.BackendChannel
		out.Channel = be.GetChannel()
		if b.snap.Channels[out.Channel] == nil {
			b.addOnce(field(path, "channel"), "channel %q is not defined", out.Channel)
		}
	default:
		out.Kind = model.BackendMock
		m := be.GetMock()
		out.Mock = &model.Mock{Status: orDefault(m.GetStatus(), 200), Body: m.GetBody(), Headers: m.GetHeaders()}
		if out.Mock.Status < 200 || out.Mock.Status > 599 {
			b.addOnce(field(path, "mock.status"), "%d is not an HTTP status (200-599)", m.GetStatus())
		}
	}
	return out
}

// addOnce adds a problem unless the same one is already listed (a backend is
// resolved once per environment; its environment-independent problems must
// be reported once).
func (b *builder) addOnce(path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	for _, p := range b.ps.list {
		if p.Path == path && p.Message == msg {
			return
		}
	}
	b.ps.list = append(b.ps.list, Problem{Path: path, Message: msg})
}

// substitute replaces #{name}# references with env's variables.
func (b *builder) substitute(path, s string, env *model.Environment) (string, bool) {
	ok := true
	out := reVarRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := ref[2 : len(ref)-2]
		v, found := env.Variables[name]
		if !found {
			b.ps.add(path, "variable %q is not defined in environment %s", name, env.Name)
			ok = false
		}
		return v
	})
	if ok && (strings.Contains(out, "#{") || strings.Contains(s, "}#") && !reVarRef.MatchString(s)) {
		b.addOnce(path, "%q has an unterminated variable reference (write #{name}#)", s)
		ok = false
	}
	return out, ok
}

func (b *builder) secret(path string, s *configv1.Secret) (model.Secret, bool) {
	return b.secretAllowShort(path, s, MinSecretBytes)
}

// secretAllowShort resolves a secret of at least min bytes.
func (b *builder) secretAllowShort(path string, s *configv1.Secret, min int) (model.Secret, bool) {
	var v []byte
	switch src := s.GetSource().(type) {
	case *configv1.Secret_Value:
		v = []byte(src.Value)
	case *configv1.Secret_Env:
		val, ok := b.opts.LookupEnv(src.Env)
		if !ok {
			b.ps.add(path, "environment variable %q is not set", src.Env)
			return model.Secret{}, false
		}
		v = []byte(val)
	case *configv1.Secret_File:
		data, err := b.opts.ReadFile(src.File)
		if err != nil {
			b.ps.add(path, "cannot read secret file %q: %v", src.File, unwrapPathError(err))
			return model.Secret{}, false
		}
		v = []byte(strings.TrimSpace(string(data)))
	default:
		b.ps.add(path, "a secret is required: give value, env or file")
		return model.Secret{}, false
	}
	if len(v) < min || len(v) > MaxSecretBytes {
		b.ps.add(path, "the secret must be %d to %d bytes long (it is %d)", min, MaxSecretBytes, len(v))
		return model.Secret{}, false
	}
	b.secrets = append(b.secrets, v)
	return model.NewSecret(v), true
}

func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func (b *builder) apps(list []*configv1.App) {
	names := map[string]bool{}
	keys := map[string]string{}
	for i, a := range list {
		path := idx("apps", i)
		if !reGroupName.MatchString(a.GetName()) {
			b.ps.add(field(path, "name"), "%q is not a valid app name (letters, digits, _ . -; at most 64)", a.GetName())
		} else if names[a.GetName()] {
			b.ps.add(field(path, "name"), "app %q is defined twice", a.GetName())
		}
		names[a.GetName()] = true
		if !reKey.MatchString(a.GetKey()) {
			b.ps.add(field(path, "key"), "an app key is 1-128 letters, digits, _ . or -")
		} else if first, dup := keys[a.GetKey()]; dup {
			b.ps.add(field(path, "key"), "key is already used by %s", first)
		}
		keys[a.GetKey()] = path
		sec, _ := b.secret(field(path, "secret"), a.GetSecret())
		var grants [][2]string
		for j, g := range a.GetGrants() {
			grants = append(grants, b.grant(idx(field(path, "grants"), j), g)...)
		}
		app := model.NewApp(a.GetName(), a.GetKey(), sec, grants)
		b.appExtras(path, a, app)
		if !a.GetDisabled() {
			b.snap.Apps[a.GetKey()] = app
		}
	}
}

// grant expands one grant into (API id, environment) pairs.
func (b *builder) grant(path string, g *configv1.Grant) [][2]string {
	var out [][2]string
	for _, t := range b.expand(path, g.GetApi(), g.GetEnvironments()) {
		out = append(out, [2]string{t.api.ID, t.env})
	}
	return out
}

// target is an API published in an environment.
type target struct {
	api *model.API
	env string
}

// expand resolves an API reference ("<group>/<api>" or "<group>/*") and a
// list of environments (default: every environment the API is published in)
// into published (API, environment) pairs. For a named API, an environment
// it is not published in is a problem; a group wildcard skips it.
func (b *builder) expand(path, ref string, envs []string) []target {
	var apis []*model.API
	group, name, ok := strings.Cut(ref, "/")
	switch {
	case !ok:
		b.ps.add(field(path, "api"), "%q is not an API id (write <group>/<api> or <group>/*)", ref)
		return nil
	case name == "*":
		grp := b.group(group)
		if grp == nil {
			b.ps.add(field(path, "api"), "group %q is not defined", group)
			return nil
		}
		apis = grp.APIs
	default:
		api := b.snap.APIs[ref]
		if api == nil {
			b.ps.add(field(path, "api"), "API %q is not defined", ref)
			return nil
		}
		apis = []*model.API{api}
	}
	var out []target
	for _, api := range apis {
		list := envs
		if len(list) == 0 {
			list = api.Environments
		}
		for k, e := range list {
			if b.envs[e] == nil {
				b.addOnce(idx(field(path, "environments"), k), "environment %q is not defined", e)
				continue
			}
			if api.Deployments[e] == nil {
				if name != "*" {
					b.ps.add(idx(field(path, "environments"), k), "API %q is not published in environment %s", api.ID, e)
				}
				continue
			}
			out = append(out, target{api, e})
		}
	}
	return out
}

func (b *builder) group(name string) *model.Group {
	for _, g := range b.snap.Groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

func (b *builder) iamUsers(list []*configv1.IamUser) {
	users := map[string]bool{}
	keys := map[string]bool{}
	for i, u := range list {
		path := idx("iam_users", i)
		if !reGroupName.MatchString(u.GetAccount()) {
			b.ps.add(field(path, "account"), "%q is not a valid account name", u.GetAccount())
		}
		if !reGroupName.MatchString(u.GetUser()) {
			b.ps.add(field(path, "user"), "%q is not a valid user name", u.GetUser())
		}
		if id := u.GetAccount() + "/" + u.GetUser(); users[id] {
			b.ps.add(path, "user %q is defined twice", id)
		} else {
			users[id] = true
		}
		for j, k := range u.GetAccessKeys() {
			kp := idx(field(path, "access_keys"), j)
			if !reKey.MatchString(k.GetId()) {
				b.ps.add(field(kp, "id"), "an access key id is 1-128 letters, digits, _ . or -")
				continue
			}
			if keys[k.GetId()] {
				b.ps.add(field(kp, "id"), "access key %q is defined twice", k.GetId())
				continue
			}
			keys[k.GetId()] = true
			sec, _ := b.secret(field(kp, "secret"), k.GetSecret())
			if !k.GetDisabled() {
				b.snap.AccessKeys[k.GetId()] = &model.AccessKey{ID: k.GetId(), Secret: sec, Account: u.GetAccount(), User: u.GetUser()}
			}
		}
	}
}
