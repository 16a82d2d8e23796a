package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
