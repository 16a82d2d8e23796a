package server

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/internal/envoycheck"
	"github.com/apigwio/apigw/internal/redistest"
)

const replayQuotaCfg = `
server: {grpc_address: "127.0.0.1:0", admin_address: "127.0.0.1:0"}
groups:
  - name: g
    replay_protection: {required: true}
    apis:
      - {name: a, path: /a, auth: app, backend: {url: "http://10.0.0.1"}}
apps:
  - {name: x, key: shared-app, secret: {value: shared-app-secret}, grants: [{api: g/a}], quota: {requests: 3, period: month, time_zone: America/New_York}}
`

func nonceCheck(t *testing.T, nonce string) *authv3.CheckRequest {
	t.Helper()
	r, _ := http.NewRequest("GET", "http://gw.example.com/a", nil)
	r.Header.Set("X-Sdk-Nonce", nonce)
	if err := signing.SignRequest(r, nil, signing.SignOptions{Access: "shared-app", Secret: "shared-app-secret"}); err != nil {
		t.Fatal(err)
	}
	return envoycheck.FromHTTP(r, nil, "g/a", "RELEASE")
}

// TestReplicasShareNoncesAndQuotas: with the shared store of the
// configuration (here a Redis Cluster), a nonce used through replica A is
// a replay through B, and a calendar quota counts across both; the usage
// is at /debug/quotas.
func TestReplicasShareNoncesAndQuotas(t *testing.T) {
	o := Options{RedisCluster: redistest.StartCluster(t).Addrs}
	path := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte(replayQuotaCfg), 0o600); err != nil {
		t.Fatal(err)
	}
	sa, connA := startReplica(t, path, o)
	_, connB := startReplica(t, path, o)
	a, b := authv3.NewAuthorizationClient(connA), authv3.NewAuthorizationClient(connB)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status := func(c authv3.AuthorizationClient, req *authv3.CheckRequest) (int, string) {
		t.Helper()
		resp, err := c.Check(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetOkResponse() != nil {
			return 200, ""
		}
		return int(resp.GetDeniedResponse().GetStatus().GetCode()), resp.GetDeniedResponse().GetBody()
	}
	first := nonceCheck(t, "nonce-1")
	if st, body := status(a, first); st != 200 {
		t.Fatalf("A: %d %s", st, body)
	}
	if st, body := status(b, first); st != 401 || !strings.Contains(body, "nonce has been used") {
		t.Fatalf("replay through B: %d %s", st, body)
	}
	for i, c := range []authv3.AuthorizationClient{b, a} {
		if st, body := status(c, nonceCheck(t, "nonce-"+string(rune('2'+i)))); st != 200 {
			t.Fatalf("request %d: %d %s", i+2, st, body)
		}
	}
	if st, body := status(b, nonceCheck(t, "nonce-9")); st != 429 || !strings.Contains(body, "APIG.0501") {
		t.Fatalf("fourth request of a quota of 3: %d %s", st, body)
	}
	code, body := get(t, "http://"+sa.AdminAddr().String()+"/debug/quotas")
	var usage []struct {
		Credential, Scope, Period, TimeZone string `json:",omitempty"`
		Limit                               uint32
		Used                                uint64
	}
	if code != 200 || json.Unmarshal([]byte(body), &usage) != nil || len(usage) != 1 || usage[0].Used != 3 || usage[0].Limit != 3 {
		t.Fatalf("/debug/quotas on A: %d %s", code, body)
	}
}
