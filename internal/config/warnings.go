package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/apigwio/apigw/internal/model"
)

// layoutWarnings lists what in a valid configuration deserves a second look
// without being refused: `apigw validate` prints them and `apigw serve`
// logs them at every load.
//
// Today: a prefix API with auth none whose backend host (URL host:port, or
// channel) also serves an API that authenticates. Envoy routes on the
// normalised path and refuses paths a backend could read differently
// (docs/xds.md, "Paths"), but such a layout relies on the backend reading
// paths exactly as Envoy does: a backend that maps /public/x and /admin to
// the same handlers by other means would serve the stricter API's content
// through the open prefix.
//
// And a group that requires client certificates on the TLS listener
// (tls.client_ca_file) with APIs other than auth mtls: the plain-HTTP
// listener serves them without any certificate (tlsOpenAPIs).
func layoutWarnings(snap *model.Snapshot) []string {
	var m WarningsMemo
	return m.layout(snap)
}

// WarningsMemo computes Warnings in proportion to what changed since its
// previous call: the part of the layout warnings that depends on one group
// only (its open hosts, and the uses of the open hosts by its APIs) is kept
// by group digest and reused for a group whose digest is unchanged (equal
// digests, equal models: model.Group.Digest); only the matching of hosts
// across groups, on those small sets, is done again. The output is
// Warnings'. A memo keeps the parts of the last snapshot's groups only. Its
// zero value is ready; it is safe for concurrent use. Use one memo for the
// snapshots of one Parser (whose models are equal for equal digests).
type WarningsMemo struct {
	mu sync.Mutex
	// groups are the parts of the groups of the last snapshot, by digest.
	groups map[string]*groupLayout
	// open is the set of open hosts the groups' uses were collected for.
	open map[hostKey]bool
}

// groupLayout is what the layout warnings need of one group.
type groupLayout struct {
	// open are the hosts of the group's open APIs (prefix, auth none),
	// each once.
	open []hostKey
	// uses are the uses of the hosts of openFor by the group's APIs, in
	// the order of its APIs, their environments (sorted) and backends.
	uses []hostUse
	// usesDone says uses were collected for the memo's open set.
	usesDone bool
	// tlsOpen are the names of the group's APIs that are not auth mtls
	// when the group requires client certificates (tlsWarnings).
	tlsOpen []string
}

// hostUse is a use of an open host by an API in one environment: what a
// warning says of it (not the API itself, which the memo would keep
// alive).
type hostUse struct {
	host     string
	id, path string
	auth     model.AuthType
	env      string
	open     bool // prefix, auth none
	guard    bool // authenticates
}

// Warnings returns every warning about snap, as the function Warnings does,
// reusing the parts of the groups whose digest m saw in its previous call.
func (m *WarningsMemo) Warnings(snap *model.Snapshot) []string {
	return append(slices.Clone(snap.Warnings), m.layout(snap)...)
}

// layout is layoutWarnings with m's parts.
func (m *WarningsMemo) layout(snap *model.Snapshot) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	parts := make([]*groupLayout, len(snap.Groups))
	next := make(map[string]*groupLayout, len(snap.Groups))
	openHosts := map[hostKey]bool{}
	for i, g := range snap.Groups {
		if g == nil {
			continue
		}
		p := m.groups[g.Digest]
		if p == nil || g.Digest == "" {
			p = newGroupLayout(g)
		}
		if g.Digest != "" {
			next[g.Digest] = p
		}
		parts[i] = p
		for _, k := range p.open {
			openHosts[k] = true
		}
	}
	sameOpen := maps.Equal(openHosts, m.open)
	m.groups, m.open = next, openHosts
	var out []string
	if len(openHosts) > 0 {
		byHost := map[string][]hostUse{}
		for i, g := range snap.Groups {
			p := parts[i]
			if p == nil {
				continue
			}
			if !sameOpen || !p.usesDone {
				p.uses, p.usesDone = groupUses(g, openHosts), true
			}
			for _, u := range p.uses {
				byHost[u.host] = append(byHost[u.host], u)
			}
		}
		seen := map[string]bool{}
		for _, host := range slices.Sorted(maps.Keys(byHost)) {
			uses := byHost[host]
			for _, o := range uses {
				if !o.open {
					continue
				}
				for _, s := range uses {
					if !s.guard {
						continue
					}
					msg := fmt.Sprintf("API %s (prefix %s, auth none) shares backend %s with API %s (auth %s): a backend that reads paths differently from Envoy could serve %s's paths through %s without authentication; give them separate backends or tighten %s",
						o.id, o.path, host, s.id, s.auth, s.id, o.id, o.id)
					if !seen[msg] {
						seen[msg] = true
						out = append(out, msg)
					}
				}
			}
		}
	}
	for i, g := range snap.Groups {
		if p := parts[i]; p != nil && len(p.tlsOpen) > 0 {
			out = append(out, tlsWarning(g.Name, p.tlsOpen, snap.Listener.Port))
		}
	}
	return out
}

// newGroupLayout computes the part of g that does not depend on the other
// groups: its open hosts and the names tlsWarnings lists (the uses are
// collected once the open hosts of every group are known).
func newGroupLayout(g *model.Group) *groupLayout {
	p := &groupLayout{}
	seen := map[hostKey]bool{}
	add := func(b model.Backend) {
		if k, ok := backendKey(b); ok && !seen[k] {
			seen[k] = true
			p.open = append(p.open, k)
		}
	}
	for _, api := range g.APIs {
		if api.Match != model.MatchPrefix || api.Auth != model.AuthNone {
			continue
		}
		for _, dep := range api.Deployments {
			if dep == nil {
				continue
			}
			add(dep.Backend)
			for _, pol := range dep.Policies {
				add(pol.Backend)
			}
		}
	}
	p.tlsOpen = tlsOpenAPIs(g)
	return p
}

// groupUses returns the uses of the hosts of openHosts by the APIs of g,
// in the order of its APIs, their environments (sorted) and backends.
func groupUses(g *model.Group, openHosts map[hostKey]bool) []hostUse {
	usesOpen := func(b model.Backend) bool {
		k, ok := backendKey(b)
		return ok && openHosts[k]
	}
	uses := func(dep *model.Deployment) bool {
		if usesOpen(dep.Backend) {
			return true
		}
		for _, p := range dep.Policies {
			if usesOpen(p.Backend) {
				return true
			}
		}
		return false
	}
	var out []hostUse
	for _, api := range g.APIs {
		found := false
		for _, dep := range api.Deployments {
			if dep != nil && uses(dep) {
				found = true
				break
			}
		}
		if !found {
			continue
		}
		for _, env := range slices.Sorted(maps.Keys(api.Deployments)) {
			dep := api.Deployments[env]
			if dep == nil {
				continue
			}
			bs := []model.Backend{dep.Backend}
			for _, p := range dep.Policies {
				bs = append(bs, p.Backend)
			}
			for _, b := range bs {
				if !usesOpen(b) {
					continue
				}
				out = append(out, hostUse{host: backendHost(b), id: api.ID, path: api.Path, auth: api.Auth, env: env,
					open: api.Match == model.MatchPrefix && api.Auth == model.AuthNone, guard: api.Auth != model.AuthNone})
			}
		}
	}
	return out
}

// hostKey is backendHost's identity of an upstream, without building its
// string: the channel name, or the lower-cased host and the port.
type hostKey struct {
	channel    bool
	host, port string
}

// backendKey returns the hostKey of b (false for a mock), equal for two
// backends exactly when their backendHost is.
func backendKey(b model.Backend) (hostKey, bool) {
	switch {
	case b.Kind == model.BackendURL && b.URL != nil:
		host, port := strings.ToLower(b.URL.Hostname()), b.URL.Port()
		if port == "" {
			port = "80"
			if b.URL.Scheme == "https" {
				port = "443"
			}
		}
		return hostKey{host: host, port: port}, true
	case b.Kind == model.BackendChannel:
		return hostKey{channel: true, host: b.Channel}, true
	}
	return hostKey{}, false
}

// backendHost identifies the upstream of b: "host:port" of a URL backend
// (the default port made explicit), "channel NAME", or "" for a mock.
func backendHost(b model.Backend) string {
	k, ok := backendKey(b)
	switch {
	case !ok:
		return ""
	case k.channel:
		return "channel " + k.host
	}
	return k.host + ":" + k.port
}

// Warnings returns every warning about snap, none of which refuses it:
// those found while building it (Snapshot.Warnings: replay windows, ...)
// and those about its layout (layoutWarnings).
func Warnings(snap *model.Snapshot) []string {
	return append(slices.Clone(snap.Warnings), layoutWarnings(snap)...)
}
