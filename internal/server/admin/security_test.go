package admin

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestDebugConfigRedactsUserinfo: credentials written into URLs (an
// authorizer's) never show in /debug/config. (Backend URLs cannot carry
// userinfo: validation refuses them.)
func TestDebugConfigRedactsUserinfo(t *testing.T) {
	snap, err := config.Load("gw", []byte(`
authorizers:
  - {name: fn, url: "https://svc:hunter2-pass@authz.internal:8443/decide?k=v", timeout: 300ms, identity_headers: [X-Token]}
groups:
  - name: g
    apis:
      - {name: a, path: /a, auth: authorizer, authorizer: fn, backend: {url: "http://10.0.0.1:8080/x"}}
`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(Options{Snapshot: func() *model.Snapshot { return snap }}))
	defer srv.Close()
	status, body := get(t, srv.URL+"/debug/config")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	for _, leak := range []string{"hunter2-pass", "svc:"} {
		if strings.Contains(body, leak) {
			t.Errorf("/debug/config shows %q", leak)
		}
	}
	for _, want := range []string{"authz.internal:8443/decide?k=v", "10.0.0.1:8080"} {
		if !strings.Contains(body, want) {
			t.Errorf("/debug/config lost %q:\n%s", want, body)
		}
	}
}

// TestPprofOffByDefault: the profiles are served only with Options.Pprof.
func TestPprofOffByDefault(t *testing.T) {
	for _, on := range []bool{false, true} {
		srv := httptest.NewServer(NewHandler(Options{Pprof: on}))
		status, _ := get(t, srv.URL+"/debug/pprof/")
		srv.Close()
		if (status == 200) != on {
			t.Errorf("Pprof %v: /debug/pprof/ answered %d", on, status)
		}
	}
}
