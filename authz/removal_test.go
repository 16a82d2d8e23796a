package authz

import (
	"context"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
)

// TestRemovedAPIAnsweredForTheGrace: after a reload that removes an API,
// Check still decides requests for it as before for RemovalGrace (Envoy,
// which gets the removal after Check, may still route it), then answers
// APIG.0101. Revert goes back to the replaced configuration.
func TestRemovedAPIAnsweredForTheGrace(t *testing.T) {
	f := newFixture(t)
	hr, _ := http.NewRequest("GET", "http://shop.example.com/open", nil)
	req := envoyCheck(hr, nil, "shop/open", "RELEASE")
	if code, _, _ := f.check(t, req); code != 200 {
		t.Fatalf("before: %d", code)
	}
	without := strings.Replace(testConfig, "      - {name: open, method: GET, path: /open, auth: none, backend: {url: \"http://10.0.0.1:8080\"}}\n", "", 1)
	without = strings.Replace(without, "      - {api: shop/open}\n", "", 1)
	snap, err := config.Load("test", []byte(without), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if snap.APIs["shop/open"] != nil {
		t.Fatal("test premise: shop/open still in the new configuration")
	}
	if err := f.svc.Update(context.Background(), snap); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := f.check(t, req); code != 200 {
		t.Fatalf("right after the removal: %d, want 200 (the previous configuration decides)", code)
	}
	f.now = f.now.Add(RemovalGrace)
	if code, body, _ := f.check(t, req); code != 404 || body.Code != "APIG.0101" {
		t.Fatalf("after the grace: %d %s, want 404 APIG.0101", code, body.Code)
	}
	if !f.svc.Revert() {
		t.Fatal("nothing to revert to")
	}
	if code, _, _ := f.check(t, req); code != 200 {
		t.Fatalf("after Revert: %d, want 200", code)
	}
}

// A configuration replaced twice is garbage: only the last replaced one is
// kept for RemovalGrace (the grace timer of an earlier one used to keep
// every configuration of the last RemovalGrace alive).
func TestReplacedTablesReleased(t *testing.T) {
	f := newFixture(t)
	load := func() *model.Snapshot {
		snap, err := config.Load("test", []byte(testConfig), config.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	if err := f.svc.Update(context.Background(), load()); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	runtime.AddCleanup(f.svc.tables.Load(), func(ch chan struct{}) { close(ch) }, released)
	for range 2 {
		if err := f.svc.Update(context.Background(), load()); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		runtime.GC()
		select {
		case <-released:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatal("the tables replaced two reloads ago are still reachable")
}

// A reload that removes no deployment keeps nothing of the configuration
// it replaced once committed (there is nothing to answer for during
// RemovalGrace, and no Revert to come).
func TestCommittedReleasesTablesWithoutRemovals(t *testing.T) {
	f := newFixture(t)
	snap, err := config.Load("test", []byte(testConfig), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	runtime.AddCleanup(f.svc.tables.Load(), func(ch chan struct{}) { close(ch) }, released)
	if err := f.svc.Update(context.Background(), snap); err != nil {
		t.Fatal(err)
	}
	if f.svc.removed.Load() != nil {
		t.Fatal("the replaced configuration is kept for a grace without removals")
	}
	f.svc.Committed()
	if f.svc.Revert() {
		t.Fatal("Revert after Committed")
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		runtime.GC()
		select {
		case <-released:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatal("the replaced tables are still reachable")
}

func TestLacksDeployments(t *testing.T) {
	const base = `environments: [{name: BETA}]
groups:
  - name: a
    domains: [a.example.com]
    apis:
      - {name: x, path: /x, auth: none, environments: [RELEASE, BETA], backend: {url: "http://10.0.0.1"}}
      - {name: yy, path: /y, auth: none, backend: {url: "http://10.0.0.1"}}
  - name: b
    domains: [b.example.com]
    apis:
      - {name: z, path: /z, auth: none, backend: {url: "http://10.0.0.1"}}
`
	compiled := func(cfg string) *tables {
		snap, err := config.Load("test", []byte(cfg), config.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return compile(snap, nil)
	}
	old := compiled(base)
	for _, tt := range []struct {
		name string
		cfg  string
		want bool
	}{
		{"unchanged", base, false},
		{"an API changed", strings.Replace(base, "path: /y,", "path: /y2,", 1), false},
		{"an API added", strings.Replace(base, "  - name: b\n", "      - {name: w, path: /w, auth: none, backend: {url: \"http://10.0.0.1\"}}\n  - name: b\n", 1), false},
		{"an environment dropped", strings.Replace(base, "environments: [RELEASE, BETA], ", "", 1), true},
		{"an API removed", strings.Replace(base, "      - {name: yy, path: /y, auth: none, backend: {url: \"http://10.0.0.1\"}}\n", "", 1), true},
		{"a group removed", base[:strings.Index(base, "  - name: b\n")], true},
	} {
		if got := lacksDeployments(compiled(tt.cfg), old); got != tt.want {
			t.Errorf("%s: lacksDeployments = %v, want %v", tt.name, got, tt.want)
		}
	}
}
