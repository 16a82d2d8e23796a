package admin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
)

func TestEndpoints(t *testing.T) {
	snap, err := config.LoadFile(filepath.Join("..", "..", "..", "examples", "quickstart", "gateway.yaml"), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ready := false
	srv := httptest.NewServer(NewHandler(Options{
		Ready:    func() bool { return ready },
		Snapshot: func() *model.Snapshot { return snap },
		Debug:    map[string]func() any{"xds": func() any { return map[string]int{"nodes": 2} }},
		Extra: map[string]http.Handler{"GET /metrics": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("apigw_up 1\n"))
		})},
	}))
	defer srv.Close()

	tests := []struct {
		path   string
		before func()
		status int
		want   string
	}{
		{"/healthz", nil, 200, "ok"},
		{"/readyz", nil, 503, "not ready"},
		{"/readyz", func() { ready = true }, 200, "ready"},
		{"/debug/config", nil, 200, `"demo/hello"`},
		{"/debug/config", nil, 200, `"secret": "[redacted]"`},
		{"/debug/xds", nil, 200, `"nodes": 2`},
		{"/", nil, 200, "/debug/xds"},
		{"/", nil, 200, `"/metrics"`},
		{"/", nil, 200, `"/debug/pprof/"`},
		{"/metrics", nil, 200, "apigw_up 1"},
		{"/nope", nil, 404, ""},
	}
	for _, tt := range tests {
		if tt.before != nil {
			tt.before()
		}
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.want) {
			t.Errorf("%s: %d %q, want %d containing %q", tt.path, resp.StatusCode, body, tt.status, tt.want)
		}
		for _, secret := range []string{"quickstart-app-secret-change-me", "quickstart-iam-secret-change-me"} {
			if strings.Contains(string(body), secret) {
				t.Errorf("%s leaks a secret", tt.path)
			}
		}
	}
}

// TestObserve: each request answered is reported with the route pattern
// that served it ("" for none), once the answer is written.
func TestObserve(t *testing.T) {
	var seen []string
	h := NewHandler(Options{
		Ready:    func() bool { return true },
		Snapshot: func() *model.Snapshot { return nil },
		Debug:    map[string]func() any{"reload": func() any { return map[string]int{"reloads": 1} }},
		Observe:  func(pattern string, _ time.Duration) { seen = append(seen, pattern) },
	})
	for _, tc := range []struct{ path, pattern string }{
		{"/debug/reload", "GET /debug/reload"},
		{"/debug/config?full=true", "GET /debug/config"},
		{"/healthz", "GET /healthz"},
		{"/nope", ""},
	} {
		seen = nil
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", tc.path, nil))
		if len(seen) != 1 || seen[0] != tc.pattern {
			t.Errorf("GET %s: observed %q, want [%q]", tc.path, seen, tc.pattern)
		}
	}
}
