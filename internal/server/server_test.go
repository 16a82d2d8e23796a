package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/apigwio/apigw/internal/model"
)

const cfg = `
server: {grpc_address: "127.0.0.1:0", admin_address: "127.0.0.1:0"}
groups:
  - name: g
    apis:
      - {name: open, path: /open, auth: none, backend: {url: "http://10.0.0.1"}}
`

func checkOpen(t *testing.T, c authv3.AuthorizationClient, api string) *authv3.CheckResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		ContextExtensions: map[string]string{model.ContextKeyAPI: api, model.ContextKeyEnv: "RELEASE"},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: "/x", Host: "h", Headers: map[string]string{"x-request-id": "rid"},
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestServeReloadAndShutdown(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gw.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &strings.Builder{}
	s, err := Start(context.Background(), Options{
		ConfigPath: path, WatchInterval: 20 * time.Millisecond, ShutdownTimeout: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&syncWriter{w: logs}, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(s.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn)

	// Health and readiness.
	hc, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: authv3.Authorization_ServiceDesc.ServiceName})
	if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", hc, err)
	}
	if code, _ := get(t, "http://"+s.AdminAddr().String()+"/readyz"); code != 200 {
		t.Fatalf("readyz %d", code)
	}

	if resp := checkOpen(t, client, "g/open"); resp.GetOkResponse() == nil {
		t.Fatalf("open API refused: %v", resp)
	}
	if resp := checkOpen(t, client, "g/new"); resp.GetDeniedResponse().GetStatus().GetCode() != 404 {
		t.Fatalf("unknown API not 404: %v", resp)
	}

	// Add an API: picked up without restart.
	write(t, path, cfg+`      - {name: new, path: /new, auth: none, backend: {url: "http://10.0.0.1"}}
`)
	waitFor(t, func() bool { return checkOpen(t, client, "g/new").GetOkResponse() != nil })

	// A broken file keeps the last good configuration serving, and says why.
	write(t, path, cfg+`      - {name: new, path: no-slash}
`)
	waitFor(t, func() bool {
		_, body := get(t, "http://"+s.AdminAddr().String()+"/debug/reload")
		return strings.Contains(body, "groups[0].apis[1].path")
	})
	if checkOpen(t, client, "g/new").GetOkResponse() == nil {
		t.Fatal("last good config stopped serving after a bad change")
	}

	// Metrics: decisions by API, result and code; config version; reloads.
	_, m := get(t, "http://"+s.AdminAddr().String()+"/metrics")
	for _, want := range []string{
		`apigw_check_decisions_total{api="g/open",code="OK",result="allow"}`,
		`apigw_check_decisions_total{api="unknown",code="APIG.0101",result="deny"}`,
		`apigw_check_duration_seconds_count`,
		`apigw_admin_request_duration_seconds_count{path="GET /debug/reload"}`,
		`apigw_config_info{version="`,
		`apigw_config_reloads_total 2`,
		`apigw_config_reload_failures_total 1`,
		`apigw_ratelimit_requests_total 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	s.Shutdown()
	if !strings.Contains(logs.String(), "config refused") {
		t.Errorf("refusal not logged:\n%s", logs)
	}
	if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err == nil {
		t.Error("gRPC still answering after shutdown")
	}
}

func TestStartRefusesBadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	write(t, path, "groups: [{name: '', apis: []}]\nlistener: {port: 99999}\n")
	_, err := Start(context.Background(), Options{ConfigPath: path, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "groups[0].name") || !strings.Contains(err.Error(), "listener.port") {
		t.Fatalf("want every problem, got %v", err)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func write(t *testing.T, path, s string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// syncWriter serialises writes to a strings.Builder shared with the test.
type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// String returns everything written so far.
func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

// TestPanicAnsweredAndServing: a panic inside a Check is answered with
// 500 APIG.0601 and the request id, counted, and the service keeps serving.
func TestPanicAnsweredAndServing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var boom atomic.Bool
	boom.Store(true)
	logs := &strings.Builder{}
	s, err := Start(context.Background(), Options{
		ConfigPath: path, WatchInterval: -1, ShutdownTimeout: time.Second,
		Logger: slog.New(slog.NewTextHandler(&syncWriter{w: logs}, nil)),
		UnaryInterceptors: []grpc.UnaryServerInterceptor{func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if boom.Load() {
				panic("injected fault")
			}
			return h(ctx, req)
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	conn, err := grpc.NewClient(s.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn)
	resp := checkOpen(t, client, "g/open")
	denied := resp.GetDeniedResponse()
	if denied.GetStatus().GetCode() != 500 || !strings.Contains(denied.GetBody(), `"error_code":"APIG.0601"`) || !strings.Contains(denied.GetBody(), `"request_id":"rid"`) {
		t.Fatalf("panic answered with %v", resp)
	}
	if !strings.Contains(logs.String(), "injected fault") || !strings.Contains(logs.String(), "request_id=rid") || strings.Count(logs.String(), "panic in a gRPC handler") != 1 {
		t.Fatalf("panic not logged once with its request id:\n%s", logs.String())
	}
	boom.Store(false)
	if resp := checkOpen(t, client, "g/open"); resp.GetOkResponse() == nil {
		t.Fatalf("service not serving after a panic: %v", resp)
	}
	if _, body := get(t, "http://"+s.AdminAddr().String()+"/metrics"); !strings.Contains(body, "apigw_panics_total 1") {
		t.Fatalf("panic not counted:\n%s", body)
	}
}

// TestPortZeroIsWhatEnvoyIsTold: with --grpc-address 127.0.0.1:0 the
// snapshot (hence the apigw_authz cluster and /debug/config) carries the
// port actually bound, not the file's 18000.
func TestPortZeroIsWhatEnvoyIsTold(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	body := "server: {grpc_address: \"127.0.0.1:18000\", admin_address: \"127.0.0.1:0\"}\n" + cfg[strings.Index(cfg, "groups:"):]
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	x := &recordingXDS{}
	s, err := Start(context.Background(), Options{ConfigPath: path, GRPCAddress: "127.0.0.1:0", WatchInterval: -1, ShutdownTimeout: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), XDS: x})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	bound := s.GRPCAddr().String()
	if strings.HasSuffix(bound, ":18000") || strings.HasSuffix(bound, ":0") {
		t.Fatalf("bound %s", bound)
	}
	if got := x.last().Server.AdvertiseAddress; got != bound {
		t.Fatalf("Envoy is told %s, the service listens on %s", got, bound)
	}
	if got := s.Reloader().Current().Server.GRPCAddress; got != bound {
		t.Fatalf("/debug/config shows %s, the service listens on %s", got, bound)
	}
	// A reload keeps the bound address.
	if err := s.Reloader().LoadNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := x.last().Server.AdvertiseAddress; got != bound {
		t.Fatalf("after a reload Envoy is told %s, the service listens on %s", got, bound)
	}
}

// recordingXDS is an XDS side that records what it is given.
type recordingXDS struct {
	mu    sync.Mutex
	snaps []*model.Snapshot
	// beforeCommit runs when a prepared snapshot is committed.
	beforeCommit func(*model.Snapshot)
}

func (x *recordingXDS) Register(*grpc.Server) {}

func (x *recordingXDS) Publish(_ context.Context, snap *model.Snapshot) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.snaps = append(x.snaps, snap)
	return nil
}

func (x *recordingXDS) Prepare(_ context.Context, snap *model.Snapshot) (func() error, error) {
	return func() error {
		if x.beforeCommit != nil {
			x.beforeCommit(snap)
		}
		return x.Publish(context.Background(), snap)
	}, nil
}

func (x *recordingXDS) last() *model.Snapshot {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.snaps[len(x.snaps)-1]
}

// TestReloadOrder: when Envoy receives a configuration that adds an API,
// Check already allows it; when Envoy receives one that removes an API,
// Check still answers for it (Envoy may route it until it applies the
// change), so Envoy never sees APIG.0101 for a route it has.
func TestReloadOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	x := &recordingXDS{}
	s, err := Start(context.Background(), Options{ConfigPath: path, WatchInterval: -1, ShutdownTimeout: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), XDS: x})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	conn, err := grpc.NewClient(s.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn)

	var atCommit []string
	x.beforeCommit = func(snap *model.Snapshot) {
		for _, api := range []string{"g/open", "g/new"} {
			resp := checkOpen(t, client, api)
			atCommit = append(atCommit, fmt.Sprintf("%s in=%v ok=%v", api, snap.APIs[api] != nil, resp.GetOkResponse() != nil))
		}
	}
	added := cfg + "      - {name: new, path: /new, auth: none, backend: {url: \"http://10.0.0.1\"}}\n"
	if err := os.WriteFile(path, []byte(added), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reloader().Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	removed := strings.Replace(cfg, "{name: open, path: /open", "{name: new, path: /new", 1)
	if err := os.WriteFile(path, []byte(removed), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reloader().Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"g/open in=true ok=true", "g/new in=true ok=true", // added: Check knows g/new before Envoy
		"g/open in=false ok=true", "g/new in=true ok=true", // removed: Check still answers g/open while Envoy may route it
	}
	if fmt.Sprint(atCommit) != fmt.Sprint(want) {
		t.Fatalf("Check's answers when Envoy got each configuration:\n got %q\nwant %q", atCommit, want)
	}
	// After the change, an API that is gone from both is not found once
	// the grace has passed; an unknown one at once.
	if resp := checkOpen(t, client, "g/never"); resp.GetDeniedResponse().GetStatus().GetCode() != 404 {
		t.Fatalf("unknown API: %v", resp)
	}
}
