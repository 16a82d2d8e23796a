package config

// Server, listener, settings and environments: the sections outside the groups
// that every group resolves against.

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

func (b *builder) server(s *configv1.Server) {
	srv := &b.snap.Server
	srv.GRPCAddress = b.hostPort("server.grpc_address", firstSet(b.opts.GRPCAddress, s.GetGrpcAddress()), DefaultGRPCAddress, true)
	srv.AdminAddress = b.hostPort("server.admin_address", firstSet(b.opts.AdminAddress, s.GetAdminAddress()), DefaultAdminAddress, true)
	srv.AdvertiseAddress = b.hostPort("server.advertise_address", s.GetAdvertiseAddress(), srv.GRPCAddress, false)
	srv.TLS = b.serverTLS(s.GetTls(), srv.AdvertiseAddress)
}

// serverTLS validates server.tls: a certificate and key go together, the
// Envoy side needs a CA, and mTLS needs Envoy's client certificate. Paths
// Envoy reads must be absolute (like settings.backend_tls.ca_file); the
// files apigw reads are checked at start (a TLS error then is fatal).
func (b *builder) serverTLS(t *configv1.ServerTLS, advertise string) *model.ServerTLS {
	if t == nil {
		return nil
	}
	out := &model.ServerTLS{
		CertFile: t.GetCertFile(), KeyFile: t.GetKeyFile(), ClientCAFile: t.GetClientCaFile(),
		EnvoyCAFile: t.GetEnvoyCaFile(), EnvoyCertFile: t.GetEnvoyCertFile(), EnvoyKeyFile: t.GetEnvoyKeyFile(),
		ServerName: t.GetServerName(),
	}
	if out.CertFile == "" || out.KeyFile == "" {
		b.ps.add("server.tls", "cert_file and key_file are both required")
	}
	if out.EnvoyCAFile == "" {
		b.ps.add("server.tls.envoy_ca_file", "required: the CA Envoy verifies the gRPC port's certificate with")
	}
	if out.ClientCAFile != "" && (out.EnvoyCertFile == "" || out.EnvoyKeyFile == "") {
		b.ps.add("server.tls", "client_ca_file (mTLS) needs envoy_cert_file and envoy_key_file, Envoy's client certificate")
	}
	if (out.EnvoyCertFile == "") != (out.EnvoyKeyFile == "") {
		b.ps.add("server.tls", "envoy_cert_file and envoy_key_file go together")
	}
	for _, f := range [][2]string{{"envoy_ca_file", out.EnvoyCAFile}, {"envoy_cert_file", out.EnvoyCertFile}, {"envoy_key_file", out.EnvoyKeyFile}} {
		name, p := f[0], f[1]
		if p != "" && (!strings.HasPrefix(p, "/") || strings.ContainsAny(p, "\x00\r\n")) {
			b.ps.add("server.tls."+name, "%q is not an absolute path (Envoy reads the file)", p)
		}
	}
	if out.ServerName == "" {
		out.ServerName, _, _ = net.SplitHostPort(advertise)
	}
	return out
}

// firstSet is the first non-empty string.
func firstSet(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
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
	b.listenerTLS(l)
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
	switch lo.GetScope() {
	case "", "key":
	case "key_and_ip":
		out.Lockout.PerIP = true
	default:
		b.ps.add("settings.lockout.scope", "%q is not key or key_and_ip", lo.GetScope())
	}
	if n := lo.GetMaxTrackedKeys(); n != 0 {
		if n < 100 || n > 10_000_000 {
			b.ps.add("settings.lockout.max_tracked_keys", "%d is out of range (100-10000000)", n)
		}
		out.Lockout.MaxTrackedKeys = int(n)
	}
	out.RequireSignedHost = s.GetRequireSignedHost()
	switch s.GetIdentityMetadata() {
	case "", "throttled":
	case "always":
		out.IdentityMetadataAlways = true
	default:
		b.ps.add("settings.identity_metadata", "%q is not throttled or always", s.GetIdentityMetadata())
	}
	out.MaxAPIRemovalPercent = 100
	if p := s.GetMaxApiRemovalPercent(); p != 0 {
		if p > 100 {
			b.ps.add("settings.max_api_removal_percent", "%d is out of range (1-100)", p)
		}
		out.MaxAPIRemovalPercent = int(p)
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
	seen := map[string]bool{}
	for i, addr := range th.GetRedisCluster() {
		field := fmt.Sprintf("settings.throttling.redis_cluster[%d]", i)
		if _, err := parseHostPort(addr, false); err != nil {
			b.ps.add(field, "%v", err)
		} else if seen[addr] {
			b.ps.add(field, "%q is listed twice", addr)
		}
		seen[addr] = true
		out.Throttling.RedisCluster = append(out.Throttling.RedisCluster, addr)
	}
	if out.Throttling.RedisAddress != "" && len(out.Throttling.RedisCluster) > 0 {
		b.ps.add("settings.throttling.redis_cluster", "set either redis_address (one Redis) or redis_cluster (a Redis Cluster), not both")
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
	out.BackendTLS.ClientCertificate = b.backendClientCertificate(bt.GetClientCertificate())
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
