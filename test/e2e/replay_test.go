package e2e

import (
	"net/http"
	"strings"
	"testing"
	"text/template"

	"github.com/apigwio/apigw/authz/signing"
)

// The APIs and the app of the replay-protection and calendar-quota
// subtests.
const (
	quotaAppName   = "e2e-quota-app"
	quotaAppKey    = "e2e0quota0app0key000000000000001"
	quotaAppSecret = "e2e-quota-app-secret-do-not-use"
)

func init() {
	_ = template.Must(configTemplate.New("replayAPIs").Parse(strings.TrimSuffix(`      - {name: nonced, method: GET, path: /nonced, auth: app, replay_protection: {required: true}, backend: {url: "http://{{.Release}}/nonced"}}
      - {name: metered, method: GET, path: /metered, auth: app, backend: {url: "http://{{.Release}}/metered"}}
`, "\n")))
	_ = template.Must(configTemplate.New("replayApps").Parse(strings.TrimSuffix(`  - name: `+quotaAppName+`
    key: `+quotaAppKey+`
    secret: {value: "`+quotaAppSecret+`"}
    quota: {requests: 2, period: day, time_zone: Europe/Berlin}
    grants: [{api: e2e/metered}]
`, "\n")))
}

// runReplaySubtests runs the replay-protection and calendar-quota subtests
// of TestEndToEnd.
func (g *gateway) runReplaySubtests(t *testing.T) {
	t.Run("replay protection: a signed nonce is accepted once, a replay gets APIG.0303 'nonce has been used'", func(t *testing.T) {
		req := g.signed(t, "GET", "/nonced", nil, map[string]string{"X-Sdk-Nonce": "e2e-nonce-1"})
		replay := req.Clone(req.Context())
		g.echoed(t, req)
		e := g.expectError(t, replay, http.StatusUnauthorized, "APIG.0303")
		if !strings.Contains(e.Msg, "nonce has been used") {
			t.Fatalf("replay answered %q, want the nonce detail", e.Msg)
		}
		// Without a nonce (required) or with one outside the signature.
		g.expectError(t, g.signed(t, "GET", "/nonced", nil, nil), http.StatusUnauthorized, "APIG.0303")
		unsigned := g.signed(t, "GET", "/nonced", nil, nil)
		unsigned.Header.Set("X-Sdk-Nonce", "e2e-nonce-2")
		g.expectError(t, unsigned, http.StatusUnauthorized, "APIG.0303")
		// A new nonce is accepted.
		g.echoed(t, g.signed(t, "GET", "/nonced", nil, map[string]string{"X-Sdk-Nonce": "e2e-nonce-3"}))
	})

	t.Run("calendar quota: the third request of a 2-a-day app gets 429 APIG.0501 with X-RateLimit headers through Envoy", func(t *testing.T) {
		send := func() (int, http.Header, string) {
			req := g.request(t, "GET", "/metered", nil)
			if err := signing.SignRequest(req, nil, signing.SignOptions{Access: quotaAppKey, Secret: quotaAppSecret}); err != nil {
				t.Fatal(err)
			}
			code, hdr, body, err := g.do(req)
			if err != nil {
				t.Fatal(err)
			}
			return code, hdr, body
		}
		for i := range 2 {
			if code, _, body := send(); code != http.StatusOK {
				t.Fatalf("request %d within the quota: %d %s", i+1, code, body)
			}
		}
		code, hdr, body := send()
		if code != http.StatusTooManyRequests || !strings.Contains(body, `"error_code":"APIG.0501"`) {
			t.Fatalf("over the quota: %d %s, want 429 APIG.0501", code, body)
		}
		if hdr.Get("X-RateLimit-Limit") != "2" || hdr.Get("X-RateLimit-Remaining") != "0" || hdr.Get("X-RateLimit-Reset") == "" || hdr.Get("Retry-After") == "" {
			t.Fatalf("quota headers through Envoy: %v", hdr)
		}
	})
}
