package e2e

// Hot reload through a real Envoy, under traffic (TestEndToEnd calls
// testReloadUnderTraffic last: it rewrites the configuration file, and puts
// the suite's configuration back when it is done).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apigwio/apigw/examples/echo/echoserver"
	"github.com/apigwio/apigw/internal/config/reload"
	"github.com/apigwio/apigw/xds"
)

// reloadedAPI is the API the reload test adds and removes.
const reloadedAPI = `      - name: reloaded
        method: GET
        path: /reloaded
        auth: app
        backend: {url: "http://#{backend}#/reloaded"}`

// freshAPI is the API whose backend (host:port) is a new cluster.
const freshAPI = `      - name: fresh
        method: GET
        path: /fresh
        auth: app
        backend: {url: "http://%s/fresh"}`

// adminJSON GETs an admin endpoint of apigw and decodes its JSON.
func (g *gateway) adminJSON(t *testing.T, path string, v any) {
	t.Helper()
	code, _, body, err := g.do(mustRequest(t, "GET", "http://"+g.srv.AdminAddr().String()+path, nil))
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET admin %s = %d %v", path, code, err)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET admin %s: %v in %s", path, err, body)
	}
}

// reloadStatus is GET /debug/reload.
func (g *gateway) reloadStatus(t *testing.T) reload.Status {
	t.Helper()
	var st reload.Status
	g.adminJSON(t, "/debug/reload", &st)
	return st
}

// xdsStatus is GET /debug/xds.
func (g *gateway) xdsStatus(t *testing.T) xds.Status {
	t.Helper()
	var st xds.Status
	g.adminJSON(t, "/debug/xds", &st)
	return st
}

// rewrite writes the configuration for p and waits until apigw reports it
// loaded (/debug/reload shows a new version) and Envoy acknowledged its
// routes (/debug/xds). It returns the new version.
func (g *gateway) rewrite(t *testing.T, p params) string {
	t.Helper()
	before := g.reloadStatus(t)
	writeFileAtomic(t, g.configPath, renderConfig(t, p))
	var version string
	g.eventually(t, reloadTimeout, "apigw reports the reload", func() (bool, string) {
		st := g.reloadStatus(t)
		version = st.Version
		return st.Version != before.Version && st.Reloads > before.Reloads, mustJSON(st)
	})
	g.waitAcked(t, version)
	return version
}

// waitAcked waits until /debug/xds shows Envoy's ACK of version for the
// routes, and no NACK of it.
func (g *gateway) waitAcked(t *testing.T, version string) {
	t.Helper()
	g.eventually(t, reloadTimeout, "Envoy ACKs version "+version+" in /debug/xds", func() (bool, string) {
		st := g.xdsStatus(t)
		for _, n := range st.Nodes {
			if n.LastNACK != nil && n.LastNACK.Version == version {
				t.Fatalf("Envoy rejected version %s: %+v", version, *n.LastNACK)
			}
			if n.ID == "apigw-e2e" && n.Connected && n.Acked["route"] == version {
				return st.Version == version, ""
			}
		}
		return false, mustJSON(st)
	})
}

// traffic sends a steady stream of requests to APIs that every
// configuration of the reload test has, and records every answer that is
// not a 200 from an echo backend.
type traffic struct {
	g        *gateway
	stop     chan struct{}
	done     sync.WaitGroup
	mu       sync.Mutex
	sent     int
	backends map[string]int
	failures []string
}

func startTraffic(t *testing.T, g *gateway) *traffic {
	tr := &traffic{g: g, stop: make(chan struct{}), backends: map[string]int{}}
	for worker := range 2 {
		tr.done.Add(1)
		go func() {
			defer tr.done.Done()
			for i := 0; ; i++ {
				select {
				case <-tr.stop:
					return
				default:
				}
				var req *http.Request
				if (i+worker)%2 == 0 {
					req = g.signed(t, "GET", "/hello", nil, nil)
				} else {
					req = g.request(t, "GET", "/public", nil)
				}
				tr.record(req)
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	return tr
}

func (tr *traffic) record(req *http.Request) {
	code, _, body, err := tr.g.do(req)
	var r echoserver.Response
	ok := err == nil && code == http.StatusOK && json.Unmarshal([]byte(body), &r) == nil && r.Name != ""
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.sent++
	if ok {
		tr.backends[r.Name]++
	} else if len(tr.failures) < 20 {
		tr.failures = append(tr.failures, fmt.Sprintf("%s %s at %s: %d %s %v", req.Method, req.URL.Path, time.Now().Format("15:04:05.000"), code, strings.TrimSpace(body), err))
	}
}

// finish stops the traffic and fails the test on any failed request.
func (tr *traffic) finish(t *testing.T) {
	t.Helper()
	close(tr.stop)
	tr.done.Wait()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	t.Logf("traffic during the reloads: %d requests, answered by %v", tr.sent, tr.backends)
	if tr.sent < 20 {
		t.Errorf("only %d requests sent during the reloads", tr.sent)
	}
	for _, f := range tr.failures {
		t.Errorf("request to an API in every configuration failed during a reload: %s", f)
	}
}

// testReloadUnderTraffic adds an API, changes a backend, removes the API and
// writes a broken file while requests flow; then restores the suite's
// configuration (base).
func testReloadUnderTraffic(t *testing.T, g *gateway, base params) {
	tr := startTraffic(t, g)
	var versions []string

	// 1. Add an API: once apigw reported the reload and Envoy ACKed it,
	// the API answers — never APIG.0101.
	p := base
	p.ExtraAPIs = reloadedAPI
	versions = append(versions, g.rewrite(t, p))
	for i := range 20 {
		code, _, body, err := g.do(g.signed(t, "GET", "/reloaded", nil, nil))
		if err != nil || code != http.StatusOK {
			t.Fatalf("GET /reloaded #%d after the reload was reported and ACKed = %d %s %v, want 200", i, code, body, err)
		}
	}

	// 1b. Add an API whose backend is a cluster Envoy does not have yet (a
	// new echo server): the new cluster reaches Envoy before the route
	// naming it — over delta xDS the cluster watch is answered ahead of
	// go-control-plane (xds/deltaahead.go) — so the API answers from its
	// first request after the ACK, never 503.
	fresh := httptest.NewServer(echoserver.Handler("fresh"))
	t.Cleanup(fresh.Close)
	p.ExtraAPIs = reloadedAPI + "\n" + fmt.Sprintf(freshAPI, strings.TrimPrefix(fresh.URL, "http://"))
	versions = append(versions, g.rewrite(t, p))
	for i := range 20 {
		if r := g.echoed(t, g.signed(t, "GET", "/fresh", nil, nil)); r.Name != "fresh" {
			t.Fatalf("GET /fresh #%d after the reload was reported and ACKed reached %q, want the new backend", i, r.Name)
		}
	}

	// 2. Change a backend: RELEASE now points at the BETA echo server.
	p.Release = base.Beta
	versions = append(versions, g.rewrite(t, p))
	if r := g.echoed(t, g.signed(t, "GET", "/hello", nil, nil)); r.Name != "beta" || r.Headers["x-apig-stage"] != "RELEASE" {
		t.Errorf("after the backend change GET /hello reached %q in %q, want beta in RELEASE", r.Name, r.Headers["x-apig-stage"])
	}

	// 3. Remove the API: once ACKed, it is gone.
	p.ExtraAPIs = ""
	versions = append(versions, g.rewrite(t, p))
	g.expectError(t, g.signed(t, "GET", "/reloaded", nil, nil), http.StatusNotFound, "APIG.0101")

	// 4. A broken file is refused: Check and Envoy stay on the last good
	// configuration.
	before := g.reloadStatus(t)
	writeFileAtomic(t, g.configPath, []byte("groups:\n  - name: e2e\n    apis: [ {name: broken, path: \n"))
	g.eventually(t, reloadTimeout, "apigw refuses the broken file", func() (bool, string) {
		st := g.reloadStatus(t)
		return st.Failures > before.Failures && st.LastError != "", mustJSON(st)
	})
	if st := g.reloadStatus(t); st.Version != before.Version {
		t.Errorf("after a broken file apigw reports version %s, want the last good %s", st.Version, before.Version)
	}
	if st := g.xdsStatus(t); st.Version != before.Version {
		t.Errorf("after a broken file xDS serves %s, want the last good %s", st.Version, before.Version)
	}
	time.Sleep(300 * time.Millisecond) // more traffic on the last good configuration
	if r := g.echoed(t, g.signed(t, "GET", "/hello", nil, nil)); r.Name != "beta" {
		t.Errorf("after a broken file GET /hello reached %q, want beta (the last good configuration)", r.Name)
	}
	g.expectError(t, g.signed(t, "GET", "/reloaded", nil, nil), http.StatusNotFound, "APIG.0101")

	// 5. The suite's configuration again.
	versions = append(versions, g.rewrite(t, base))
	tr.finish(t)
	t.Logf("versions published and ACKed: %v", versions)
	for i, v := range versions {
		for _, w := range versions[:i] {
			if v == w {
				t.Errorf("version %s published twice: %v", v, versions)
			}
		}
	}
	if r := g.echoed(t, g.signed(t, "GET", "/hello", nil, nil)); r.Name != "release" {
		t.Errorf("after restoring the configuration GET /hello reached %q, want release", r.Name)
	}
}

// metricValue is the value of an unlabelled metric at apigw's /metrics.
func (g *gateway) metricValue(t *testing.T, name string) string {
	t.Helper()
	code, _, body, err := g.do(mustRequest(t, "GET", "http://"+g.srv.AdminAddr().String()+"/metrics", nil))
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics = %d %v", code, err)
	}
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			return v
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return ""
}

// testNACK publishes a configuration apigw accepts and Envoy refuses (the
// backend CA file does not exist on Envoy's file system): the NACK shows in
// /debug/xds and /metrics, Envoy keeps serving the last configuration it
// accepted, and the next good configuration is ACKed again.
func testNACK(t *testing.T, g *gateway, base params) {
	before := g.reloadStatus(t)
	nacksBefore := g.metricValue(t, "apigw_xds_nacks_total")
	p := base
	p.CAFile = filepath.Join(g.dir, "no-such-ca.pem")
	writeFileAtomic(t, g.configPath, renderConfig(t, p))
	var version string
	g.eventually(t, reloadTimeout, "apigw accepts the configuration", func() (bool, string) {
		st := g.reloadStatus(t)
		version = st.Version
		return st.Version != before.Version, mustJSON(st)
	})
	var nack *xds.NACK
	g.eventually(t, reloadTimeout, "Envoy's NACK of version "+version+" in /debug/xds", func() (bool, string) {
		st := g.xdsStatus(t)
		for _, n := range st.Nodes {
			if n.ID == "apigw-e2e" && n.LastNACK != nil && n.LastNACK.Version == version {
				nack = n.LastNACK
				return true, ""
			}
		}
		return false, mustJSON(st)
	})
	t.Logf("NACK: %+v", *nack)
	if nack.Type != "cluster" || !strings.Contains(nack.Message, "no-such-ca.pem") {
		t.Errorf("NACK %+v, want the clusters refused for the missing CA file", *nack)
	}
	if got := g.metricValue(t, "apigw_xds_nodes_nacking"); got != "1" {
		t.Errorf("apigw_xds_nodes_nacking = %s, want 1", got)
	}
	if got := g.metricValue(t, "apigw_xds_nacks_total"); got == nacksBefore {
		t.Errorf("apigw_xds_nacks_total = %s, unchanged by the NACK", got)
	}
	// Envoy keeps the clusters it had: the https backend still answers.
	if r := g.echoed(t, g.request(t, "GET", "/secure", nil)); r.Name != "secure" {
		t.Errorf("GET /secure after the NACK reached %q", r.Name)
	}
	// The next good configuration is ACKed.
	g.rewrite(t, base)
	if got := g.metricValue(t, "apigw_xds_nodes_nacking"); got != "0" {
		t.Errorf("after a good configuration apigw_xds_nodes_nacking = %s, want 0", got)
	}
}
