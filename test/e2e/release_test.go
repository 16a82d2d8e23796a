package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apigwio/apigw/examples/echo/echoserver"
	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/envoybin"
	"github.com/apigwio/apigw/internal/etcdtest"
	"github.com/apigwio/apigw/internal/release"
	"github.com/apigwio/apigw/internal/server"
	"github.com/apigwio/apigw/internal/server/metrics"
	"github.com/apigwio/apigw/internal/store/etcdstore"
	"github.com/apigwio/apigw/xds"
)

// releasedConfig is what TestReleasesThroughEnvoy publishes: /public and
// /hello in RELEASE and BETA, /hello's backend given.
func releasedConfig(t *testing.T, releaseBackend, helloBackend string) []byte {
	t.Helper()
	return []byte(fmt.Sprintf(`
environments: [{name: BETA}]
groups:
  - name: rel
    apis:
      - {name: public, method: GET, path: /public, auth: none, environments: [RELEASE, BETA], backend: {url: "http://%s/public"}}
      - {name: hello, method: GET, path: /hello, auth: none, environments: [RELEASE, BETA], backend: {url: "http://%s/hello"}}
`, releaseBackend, helloBackend))
}

// TestReleasesThroughEnvoy: two apigw replicas follow one etcd, each with
// its Envoy; one publish of BETA reaches both Envoys, and HTTP requests
// through either see BETA's new backend while RELEASE's is unchanged.
func TestReleasesThroughEnvoy(t *testing.T) {
	bin := envoybin.Require(t)
	c := etcdtest.StartSingle(t)
	storeURL := c.StoreURL("e2e")
	relSrv := httptest.NewServer(echoserver.Handler("release"))
	t.Cleanup(relSrv.Close)
	betaSrv := httptest.NewServer(echoserver.Handler("beta"))
	t.Cleanup(betaSrv.Close)
	relHost, betaHost := strings.TrimPrefix(relSrv.URL, "http://"), strings.TrimPrefix(betaSrv.URL, "http://")

	open := func(log *slog.Logger) *etcdstore.Store {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := etcdstore.Open(ctx, storeURL, etcdstore.Options{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	pub := open(slog.Default())
	publishText := func(text []byte, envs ...string) {
		t.Helper()
		gw, err := config.Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cur, err := pub.Current(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var rels []*release.Release
		for _, env := range envs {
			r, err := release.Restrict(gw, env)
			if err != nil {
				t.Fatal(err)
			}
			rels = append(rels, &release.Release{Env: env, SourceDigest: "e2e", Note: "e2e", Config: r})
		}
		if _, err := pub.Publish(ctx, rels, cur.Numbers()); err != nil {
			t.Fatal(err)
		}
	}
	publishText(releasedConfig(t, relHost, relHost), "RELEASE", "BETA")

	var gws []*gateway
	for i := range 2 {
		ports := freePorts(t, 4)
		g := &gateway{dir: t.TempDir(), envoyPort: ports[2], envoyAdminPort: ports[3], client: &http.Client{Timeout: requestTimeout}}
		g.configPath = filepath.Join(g.dir, "local.yaml")
		writeFileAtomic(t, g.configPath, []byte(fmt.Sprintf(`
server: {grpc_address: "127.0.0.1:%d", admin_address: "127.0.0.1:%d"}
listener: {address: 127.0.0.1, port: %d}
environments: [{name: BETA}]
`, ports[0], ports[1], ports[2])))
		g.apigwLog = filepath.Join(g.dir, "apigw.log")
		logFile, err := os.Create(g.apigwLog)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { logFile.Close() })
		logger := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))
		g.xds = xds.NewServer(logger, xds.Options{})
		reg := metrics.New()
		g.xds.RegisterMetrics(reg)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		g.srv, err = server.Start(ctx, server.Options{
			Metrics: reg, ConfigPath: g.configPath, WatchInterval: -1, ShutdownTimeout: 5 * time.Second, Logger: logger, XDS: g.xds,
			Store: open(logger), StoreURL: storeURL, ReplicaID: fmt.Sprintf("e2e-%d", i),
			Debug: map[string]func() any{"xds": func() any { return g.xds.Status() }},
		})
		cancel()
		if err != nil {
			t.Fatalf("starting apigw %d: %v", i, err)
		}
		t.Cleanup(g.srv.Shutdown)
		t.Cleanup(func() {
			if t.Failed() {
				g.dumpLogs(t)
			}
		})
		g.startEnvoy(t, bin)
		gws = append(gws, g)
	}

	// backend is the echo backend that answers GET /hello in env through
	// g's Envoy (the x-stage header selects the environment).
	backend := func(g *gateway, env string) (string, string) {
		req := g.request(t, "GET", "/hello", nil)
		req.Header.Set("x-stage", env)
		code, _, body, err := g.do(req)
		if err != nil || code != http.StatusOK {
			return "", fmt.Sprintf("%d %q %v", code, body, err)
		}
		var r echoserver.Response
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			return "", body
		}
		return r.Name, body
	}
	for i, g := range gws {
		for _, env := range []string{"RELEASE", "BETA"} {
			if name, last := backend(g, env); name != "release" {
				t.Fatalf("Envoy %d, %s before the publish: %s", i, env, last)
			}
		}
	}

	publishText(releasedConfig(t, relHost, betaHost), "BETA")
	for i, g := range gws {
		g.eventually(t, reloadTimeout, fmt.Sprintf("Envoy %d routes BETA's /hello to the new backend", i), func() (bool, string) {
			name, last := backend(g, "BETA")
			return name == "beta", last
		})
		// RELEASE did not change.
		for range 20 {
			if name, last := backend(g, "RELEASE"); name != "release" {
				t.Fatalf("Envoy %d, RELEASE after the publish to BETA: %s", i, last)
			}
		}
		if n := g.srv.Follower().Status().Environments["BETA"].Release; n != 2 {
			t.Fatalf("replica %d serves BETA#%d", i, n)
		}
	}
}
