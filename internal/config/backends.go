package config

// Backends and channels: where an API's requests go, per environment.

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

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
			if c.GetType() == "header" && strings.HasPrefix(strings.ToLower(mc.Name), model.GatewayHeaderPrefix) {
				// Envoy routes on the client's headers, before Check
				// removes the gateway's namespace: such a condition would
				// let a client choose the backend.
				add(field(cp, "name"), "%q is in the x-apig- namespace the gateway owns: clients can forge it before routing", mc.Name)
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
		u, err := b.parseURL(raw)
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

// parseURL is url.Parse, returning the very URL parsed earlier for the same
// raw string while building the same API (see apiURLs): an API's backend
// in each of its environments is one URL, shared read-only by its
// deployments, instead of one per environment (most APIs are published in
// two: ~14 MB of URLs fewer per snapshot at 100,000 APIs).
func (b *builder) parseURL(raw string) (*url.URL, error) {
	for _, p := range b.apiURLs {
		if p.raw == raw {
			return p.u, nil
		}
	}
	u, err := url.Parse(raw)
	if err == nil {
		b.apiURLs = append(b.apiURLs, parsedURL{raw, u})
	}
	return u, err
}

// parsedURL is a URL parsed by parseURL, and the string it was parsed from.
type parsedURL struct {
	raw string
	u   *url.URL
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

// substitute replaces #{name}# references with env's variables. A string
// without a reference is returned as it is (ReplaceAllStringFunc would
// return a copy: 10 MB of backend URLs kept per snapshot at 100,000 APIs).
func (b *builder) substitute(path, s string, env *model.Environment) (string, bool) {
	if !strings.Contains(s, "#{") && !strings.Contains(s, "}#") {
		return s, true
	}
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
