package authz

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apigwio/apigw/internal/config"
)

// fakeAuthorizer answers by the value of the X-Token identity header.
func fakeAuthorizer(t *testing.T, calls *atomic.Int32) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		var in authorizerRequest
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.API == "" || in.Stage != "RELEASE" {
			http.Error(w, "bad request", 400)
			return
		}
		switch in.Headers["x-token"] {
		case "good":
			fmt.Fprintf(w, `{"context":{"user":"u-%s","bad name":"x","evil":"a\r\nb"}}`, in.Headers["x-token"])
		case "bad":
			w.WriteHeader(http.StatusForbidden)
		case "slow":
			time.Sleep(300 * time.Millisecond)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestCustomAuthorizer(t *testing.T) {
	var calls atomic.Int32
	srv := fakeAuthorizer(t, &calls)
	snap, err := config.Load("az", []byte(fmt.Sprintf(`
authorizers:
  - {name: fn, url: %q, timeout: 100ms, identity_headers: [X-Token], cache_ttl: 1m}
groups:
  - name: g
    apis:
      - {name: a, path: /a, auth: authorizer, authorizer: fn, backend: {url: "http://10.0.0.1"}}
`, srv.URL)), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{now: time.Now(), snap: snap}
	f.svc = mustNew(t, snap, Options{Now: func() time.Time { return f.now }})
	tests := []struct {
		name   string
		token  string
		status int
		code   string
		msg    string
	}{
		{"allow with context", "good", 200, "", ""},
		{"deny", "bad", 401, "APIG.0305", "Incorrect authentication information: custom authorizer denied the request"},
		{"authorizer error", "boom", 500, "APIG.0601", "Internal server error: custom authorizer failure"},
		{"authorizer timeout", "slow", 500, "APIG.0601", "Internal server error: custom authorizer failure"},
		{"identity missing", "", 401, "APIG.0305", "Incorrect authentication information: identity source not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{}
			if tt.token != "" {
				h["X-Token"] = tt.token
			}
			status, d, resp := f.check(t, plain("g/a", "10.0.0.1", "https", h))
			if status != tt.status || d.Code != tt.code || d.Msg != tt.msg {
				t.Fatalf("got %d %s %q", status, d.Code, d.Msg)
			}
			if status == 200 {
				got := upstreamHeaders(resp)
				if got["x-apig-context-user"] != "u-good" || len(got) != 3 { // api id, stage, one context header
					t.Errorf("context headers: %v (unsafe names and values must be dropped)", got)
				}
			}
		})
	}
	// Cached answers: the good and bad identities are not asked again.
	before := calls.Load()
	for _, tok := range []string{"good", "bad", "good"} {
		f.check(t, plain("g/a", "10.0.0.1", "https", map[string]string{"X-Token": tok}))
	}
	if calls.Load() != before {
		t.Errorf("%d calls for cached identities", calls.Load()-before)
	}
	// After the TTL the authorizer is asked again.
	f.now = f.now.Add(2 * time.Minute)
	f.check(t, plain("g/a", "10.0.0.1", "https", map[string]string{"X-Token": "good"}))
	if calls.Load() != before+1 {
		t.Errorf("expired cache entry not refreshed")
	}
}
