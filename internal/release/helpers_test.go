package release

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"sigs.k8s.io/yaml"

	"github.com/apigwio/apigw/authz"
	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/envoycheck"
	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// parse parses a configuration text.
func parse(t testing.TB, text string) *configv1.Gateway {
	t.Helper()
	gw, err := config.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return gw
}

// readConfig parses testdata/name.
func readConfig(t testing.TB, name string) *configv1.Gateway {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return parse(t, string(data))
}

// yamlOf renders gw as YAML with the schema's field names.
func yamlOf(t testing.TB, gw *configv1.Gateway) string {
	t.Helper()
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(gw)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.JSONToYAML(js)
	if err != nil {
		t.Fatal(err)
	}
	return string(y)
}

// golden compares got with testdata/name (rewritten with -update).
func golden(t testing.TB, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// build builds gw as the serve command would.
func build(t testing.TB, gw *configv1.Gateway) *model.Snapshot {
	t.Helper()
	snap, err := config.Build("test", gw, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// rel is a release of env with number n.
func rel(env string, n uint64, gw *configv1.Gateway) *Release {
	return &Release{Env: env, Number: n, Config: gw}
}

// mustRestrict restricts gw to env.
func mustRestrict(t testing.TB, gw *configv1.Gateway, env string) *configv1.Gateway {
	t.Helper()
	out, err := Restrict(gw, env)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var checkNow = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)

// caller is a way of calling: anonymous, or signed with an app's or an
// access key's credentials.
type caller struct{ name, key, secret string }

var callers = []caller{
	{name: "anonymous"},
	{name: "web", key: "web-key-0001", secret: "web-secret-0001-abcdef"},
	{name: "mobile", key: "mobile-key-0001", secret: "mobile-secret-0001-abcdef"},
	{name: "tester", key: "tester-key-0001", secret: "tester-secret-0001-abcdef"},
	{name: "alice", key: "ALICEAK000000000001", secret: "alice-secret-0001-abcdef"},
}

// decisions runs the real Check service on snap for every API published
// in env and every caller, from 10.1.2.3 and from 192.0.2.1, and returns
// "api caller address -> status code upstream-api-id" lines, sorted.
func decisions(t testing.TB, snap *model.Snapshot, env string) []string {
	t.Helper()
	svc, err := authz.New(context.Background(), snap, authz.Options{Now: func() time.Time { return checkNow }})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	var out []string
	for _, g := range snap.Groups {
		for _, api := range g.APIs {
			if api.Deployments[env] == nil {
				continue
			}
			for _, c := range callers {
				for _, addr := range []string{"10.1.2.3", "192.0.2.1"} {
					method := api.Method
					if method == model.MethodAny {
						method = http.MethodGet
					}
					req, _ := http.NewRequest(method, "http://"+g.Domains[0]+api.Path, nil)
					req.Host = g.Domains[0]
					req.Header.Set("X-Stage", env)
					if c.key != "" {
						if err := signing.SignRequest(req, nil, signing.SignOptions{Access: c.key, Secret: c.secret, Time: checkNow}); err != nil {
							t.Fatal(err)
						}
					}
					cr := envoycheck.FromHTTP(req, nil, api.ID, env)
					cr.Attributes.Source = sourceAddr(addr)
					resp, err := svc.Check(context.Background(), cr)
					if err != nil {
						t.Fatal(err)
					}
					line := fmt.Sprintf("%s %s %s -> ", api.ID, c.name, addr)
					if ok := resp.GetOkResponse(); ok != nil {
						var id string
						for _, h := range ok.GetHeaders() {
							if h.GetHeader().GetKey() == model.HeaderAPIID {
								id = h.GetHeader().GetValue()
							}
						}
						line += "200 " + id
					} else {
						line += fmt.Sprintf("%d %s", resp.GetDeniedResponse().GetStatus().GetCode(), resp.GetStatus().GetMessage())
					}
					out = append(out, line)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// sameDecisions fails unless a and b (decisions outputs) are equal.
func sameDecisions(t testing.TB, what string, a, b []string) {
	t.Helper()
	if !slices.Equal(a, b) {
		t.Errorf("%s: decisions differ:\n--- got\n%s\n--- want\n%s", what, strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	if len(a) == 0 {
		t.Errorf("%s: no decision at all", what)
	}
}

// sourceAddr is the peer Envoy reports for a client at addr.
func sourceAddr(addr string) *authv3.AttributeContext_Peer {
	return &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
		SocketAddress: &corev3.SocketAddress{Address: addr, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 40000}},
	}}}
}
