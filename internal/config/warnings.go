package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"

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
// listener serves them without any certificate (tlsWarnings).
func layoutWarnings(snap *model.Snapshot) []string {
	type use struct {
		api   *model.API
		env   string
		open  bool // prefix, auth none
		guard bool // authenticates
	}
	// Only the hosts of open APIs can warn: find them first, then collect
	// the uses of those hosts only (without a string per deployment of a
	// large configuration).
	openHosts := map[hostKey]bool{}
	for _, g := range snap.Groups {
		for _, api := range g.APIs {
			if api.Match != model.MatchPrefix || api.Auth != model.AuthNone {
				continue
			}
			for _, dep := range api.Deployments {
				if dep == nil {
					continue
				}
				if k, ok := backendKey(dep.Backend); ok {
					openHosts[k] = true
				}
				for _, p := range dep.Policies {
					if k, ok := backendKey(p.Backend); ok {
						openHosts[k] = true
					}
				}
			}
		}
	}
	if len(openHosts) == 0 {
		return tlsWarnings(snap)
	}
	uses := func(dep *model.Deployment) bool {
		if k, ok := backendKey(dep.Backend); ok && openHosts[k] {
			return true
		}
		for _, p := range dep.Policies {
			if k, ok := backendKey(p.Backend); ok && openHosts[k] {
				return true
			}
		}
		return false
	}
	byHost := map[string][]use{}
	for _, g := range snap.Groups {
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
					if k, ok := backendKey(b); !ok || !openHosts[k] {
						continue
					}
					host := backendHost(b)
					byHost[host] = append(byHost[host], use{api, env,
						api.Match == model.MatchPrefix && api.Auth == model.AuthNone, api.Auth != model.AuthNone})
				}
			}
		}
	}
	var out []string
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
					o.api.ID, o.api.Path, host, s.api.ID, s.api.Auth, s.api.ID, o.api.ID, o.api.ID)
				if !seen[msg] {
					seen[msg] = true
					out = append(out, msg)
				}
			}
		}
	}
	return append(out, tlsWarnings(snap)...)
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
	switch {
	case b.Kind == model.BackendURL && b.URL != nil:
		host, port := strings.ToLower(b.URL.Hostname()), b.URL.Port()
		if port == "" {
			port = "80"
			if b.URL.Scheme == "https" {
				port = "443"
			}
		}
		return host + ":" + port
	case b.Kind == model.BackendChannel:
		return "channel " + b.Channel
	}
	return ""
}

// Warnings returns every warning about snap, none of which refuses it:
// those found while building it (Snapshot.Warnings: replay windows, ...)
// and those about its layout (layoutWarnings).
func Warnings(snap *model.Snapshot) []string {
	return append(slices.Clone(snap.Warnings), layoutWarnings(snap)...)
}
