package config

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/internal/testcerts"
)

func TestWarningsOpenPrefixSharesBackend(t *testing.T) {
	const cfg = `groups:
  - name: g
    apis:
      - {name: public, path: /public, match: prefix, auth: none, backend: {url: "http://svc.internal:8080/public"}}
      - {name: admin, path: /admin, auth: app, backend: {url: "http://SVC.internal:8080/admin"}}
      - {name: other, path: /other, match: prefix, auth: none, backend: {url: "http://elsewhere:8080/"}}
      - {name: exact, path: /exact, auth: none, backend: {url: "http://svc.internal:8080/exact"}}
`
	snap, err := Load("warn.yaml", []byte(cfg), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ws := Warnings(snap)
	if len(ws) != 1 || !strings.Contains(ws[0], "API g/public (prefix /public, auth none) shares backend svc.internal:8080 with API g/admin (auth app)") {
		t.Errorf("warnings %q, want one about g/public and g/admin", ws)
	}
	snap, err = Load("ok.yaml", []byte(strings.ReplaceAll(cfg, "SVC.internal:8080/admin", "admin.internal:8080/admin")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ws := Warnings(snap); len(ws) != 0 {
		t.Errorf("warnings %q, want none", ws)
	}
}

// TestWarningsSharedHostsAcrossGroups: hosts shared through backend
// policies, channels, default ports and other groups, in a stable order.
func TestWarningsSharedHostsAcrossGroups(t *testing.T) {
	const cfg = `environments: [{name: BETA}]
channels: [{name: ch, members: [{address: "10.0.0.7:80"}]}]
groups:
  - name: g
    domains: [g.example.com]
    apis:
      - {name: open, path: /open/, match: prefix, auth: none, environments: [RELEASE, BETA], backend: {url: "http://svc:80/"}}
      - {name: chopen, path: /ch/, match: prefix, auth: none, backend: {channel: ch}}
      - {name: signed, path: /s, auth: app, backend: {url: "http://other:9000"},
         backend_policies: [{name: p, conditions: [{type: header, name: x, values: ["1"]}], backend: {url: "http://svc"}}]}
  - name: h
    domains: [h.example.com]
    apis:
      - {name: iam, path: /i, auth: iam, environments: [BETA], backend: {channel: ch}}
      - {name: app, path: /a, auth: app, backend: {url: "http://SVC/x"}}
apps: [{name: x, key: app-key-x, secret: {value: app-secret-x-12345}, grants: [{api: g/signed}]}]
`
	snap, err := Load("warn.yaml", []byte(cfg), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(Warnings(snap), "\n")
	want := strings.Join([]string{
		"API g/chopen (prefix /ch/, auth none) shares backend channel ch with API h/iam (auth iam): a backend that reads paths differently from Envoy could serve h/iam's paths through g/chopen without authentication; give them separate backends or tighten g/chopen",
		"API g/open (prefix /open/, auth none) shares backend svc:80 with API g/signed (auth app): a backend that reads paths differently from Envoy could serve g/signed's paths through g/open without authentication; give them separate backends or tighten g/open",
		"API g/open (prefix /open/, auth none) shares backend svc:80 with API h/app (auth app): a backend that reads paths differently from Envoy could serve h/app's paths through g/open without authentication; give them separate backends or tighten g/open",
	}, "\n")
	if got != want {
		t.Errorf("warnings:\n%s\nwant:\n%s", got, want)
	}
}

// fullLayoutWarnings is layoutWarnings computed from scratch over every
// group and API, as before WarningsMemo: the reference its output is
// compared with.
func fullLayoutWarnings(snap *model.Snapshot) []string {
	type use struct {
		api   *model.API
		env   string
		open  bool
		guard bool
	}
	openHosts := map[hostKey]bool{}
	for _, g := range snap.Groups {
		for _, api := range g.APIs {
			if api.Match != model.MatchPrefix || api.Auth != model.AuthNone {
				continue
			}
			for _, dep := range api.Deployments {
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
	var out []string
	if len(openHosts) > 0 {
		byHost := map[string][]use{}
		for _, g := range snap.Groups {
			for _, api := range g.APIs {
				for _, env := range slices.Sorted(maps.Keys(api.Deployments)) {
					dep := api.Deployments[env]
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
	}
	for _, g := range snap.Groups {
		if g.TLS == nil || g.TLS.ClientCAFile == "" {
			continue
		}
		var open []string
		for _, api := range g.APIs {
			if api.Auth != model.AuthMTLS {
				open = append(open, api.Name)
			}
		}
		if len(open) > 0 {
			out = append(out, fmt.Sprintf("group %s requires client certificates on the TLS listener, but its APIs %s (not auth mtls) are also served without one on the plain-HTTP listener (port %d): use auth mtls, or keep the plain port off the network those clients reach",
				g.Name, strings.Join(open, ", "), snap.Listener.Port))
		}
	}
	return append(slices.Clone(snap.Warnings), out...)
}

// layoutConfig writes a configuration of 4 groups of 12 APIs whose
// backends are drawn from 5 hosts (URLs, with and without the default
// port, in upper and lower case, and a channel), with open prefixes,
// exact routes, several auth types, backend policies and a second
// environment, chosen by api (one int per API).
func layoutConfig(port int, api []int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listener: {port: %d}\nenvironments: [{name: BETA}]\nchannels: [{name: ch, members: [{address: \"10.0.0.7:80\"}]}]\ngroups:\n", port)
	hosts := []string{`url: "http://svc"`, `url: "http://SVC:80/x"`, `url: "https://svc"`, `url: "http://other:9000/o"`, `channel: ch`}
	auths := []string{"none", "app", "iam", "none", "app_code"}
	for g := 0; g < 4; g++ {
		fmt.Fprintf(&b, "  - name: g%d\n    domains: [g%d.example.com]\n    apis:\n", g, g)
		for i := 0; i < 12; i++ {
			v := api[g*12+i]
			match := "exact"
			if v%2 == 0 {
				match = "prefix"
			}
			envs := "[RELEASE]"
			if v%3 == 0 {
				envs = "[RELEASE, BETA]"
			}
			fmt.Fprintf(&b, "      - {name: a%d, path: /a%d/, match: %s, auth: %s, environments: %s, backend: {%s}", i, i, match, auths[v/2%5], envs, hosts[v/3%5])
			if v%7 == 0 {
				fmt.Fprintf(&b, ", backend_policies: [{name: p, conditions: [{type: header, name: x, values: [\"1\"]}], backend: {%s}}]", hosts[(v/5+1)%5])
			}
			b.WriteString("}\n")
		}
	}
	return b.String()
}

// TestWarningsMemo: a WarningsMemo fed the snapshots of one Parser, as
// the reloader does, gives the full computation's warnings after every
// change, those changes being one API at a time (its auth, match,
// backend), several at once, and the shared definitions (the listener's
// port, in every group's digest), on random layouts.
func TestWarningsMemo(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	api := make([]int, 48)
	for i := range api {
		api[i] = rng.IntN(1000)
	}
	port := 10080
	var p Parser
	var m WarningsMemo
	warned := 0
	for step := 0; step < 300; step++ {
		switch r := rng.IntN(20); {
		case r == 0:
			port++
		case r < 3:
			for k := 0; k < 5; k++ {
				api[rng.IntN(len(api))] = rng.IntN(1000)
			}
		default:
			api[rng.IntN(len(api))] = rng.IntN(1000)
		}
		snap, err := p.Load("gw.yaml", []byte(layoutConfig(port, api)), Options{})
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		want := fullLayoutWarnings(snap)
		if got := m.Warnings(snap); !slices.Equal(got, want) {
			t.Fatalf("step %d: memo's warnings:\n%s\nwant:\n%s", step, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if got := Warnings(snap); !slices.Equal(got, want) {
			t.Fatalf("step %d: Warnings:\n%s\nwant:\n%s", step, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		warned += len(want)
	}
	if warned == 0 {
		t.Fatal("no warnings in any step: the layouts test nothing")
	}
}

// TestWarningsMemoOtherGroup: a change in one group that opens a host
// used by an unchanged group warns about the unchanged group's API, and
// closing it again takes the warning away (the unchanged group's part is
// reused, its uses collected again for the new open hosts).
func TestWarningsMemoOtherGroup(t *testing.T) {
	cfg := func(auth string) string {
		return `groups:
  - name: g
    domains: [g.example.com]
    apis:
      - {name: open, path: /open/, match: prefix, auth: ` + auth + `, backend: {url: "http://svc:80/"}}
  - name: h
    domains: [h.example.com]
    apis:
      - {name: app, path: /a, auth: app, backend: {url: "http://SVC/x"}}
`
	}
	var p Parser
	var m WarningsMemo
	for _, c := range []struct {
		auth string
		want int
	}{{"app", 0}, {"none", 1}, {"app", 0}, {"none", 1}} {
		snap, err := p.Load("gw.yaml", []byte(cfg(c.auth)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := m.Warnings(snap)
		if len(got) != c.want || (c.want == 1 && !strings.Contains(got[0], "API g/open (prefix /open/, auth none) shares backend svc:80 with API h/app (auth app)")) {
			t.Errorf("auth %s: warnings %q, want %d about g/open and h/app", c.auth, got, c.want)
		}
	}
}

// TestWarningsMemoTLS: the TLS warning follows the listener's port and
// the group's APIs through the memo.
func TestWarningsMemoTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, dir, "ca")
	cert, key, _ := ca.Leaf(t, dir, "g", "g.example.com")
	var p Parser
	var m WarningsMemo
	for _, c := range []struct {
		port       int
		auth, want string
	}{
		{10080, "app", "its APIs a (not auth mtls) are also served without one on the plain-HTTP listener (port 10080)"},
		{10081, "app", "its APIs a (not auth mtls) are also served without one on the plain-HTTP listener (port 10081)"},
		{10081, "mtls", ""},
	} {
		cfg := fmt.Sprintf("listener: {port: %d, tls_port: 10443}\ngroups:\n  - name: g\n    domains: [g.example.com]\n    tls: {cert_file: %q, key_file: %q, client_ca_file: %q}\n    apis:\n      - {name: a, path: /a, auth: %s, backend: {url: \"http://svc\"}}\n",
			c.port, cert, key, ca.File, c.auth)
		snap, err := p.Load("gw.yaml", []byte(cfg), Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(m.Warnings(snap), "\n")
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("port %d auth %s: warnings %q, want %q", c.port, c.auth, got, c.want)
		}
	}
}
