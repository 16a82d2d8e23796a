package config

import (
	"strings"
	"testing"
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
