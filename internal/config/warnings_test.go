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
