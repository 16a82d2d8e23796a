package admin

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
)

// TestDebugConfigVocabulary: the quickstart's /debug/config speaks the
// configuration's vocabulary: snake_case keys, durations as strings, enums
// by name, and no secret of examples/quickstart/gateway.yaml.
func TestDebugConfigVocabulary(t *testing.T) {
	path := filepath.Join("..", "..", "..", "examples", "quickstart", "gateway.yaml")
	snap, err := config.LoadFile(path, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(Options{Snapshot: func() *model.Snapshot { return snap }}))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/debug/config")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}

	// Keys that are data (environment, channel and variable names) may be
	// upper case; none may be CamelCase.
	camel := regexp.MustCompile(`[a-z][A-Z]|^[A-Z][a-z]`)
	durationKey := regexp.MustCompile(`(^|_)(timeout|duration|clock_skew|max_age|interval|refresh|cache_ttl)$`)
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if camel.MatchString(k) {
					t.Errorf("%s: CamelCase key %q", path, k)
				}
				if durationKey.MatchString(k) {
					if _, ok := x.(string); !ok {
						t.Errorf("%s.%s: duration %v is not a string", path, k, x)
					}
				}
				walk(path+"."+k, x)
			}
		case []any:
			for i, x := range v {
				walk(path+"["+string(rune('0'+i%10))+"]", x)
			}
		}
	}
	walk("", doc)

	text := string(body)
	yaml, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	secrets := regexp.MustCompile(`value: (\S+)`).FindAllStringSubmatch(string(yaml), -1)
	if len(secrets) < 2 {
		t.Fatalf("found %d secrets in the quickstart", len(secrets))
	}
	for _, s := range secrets {
		if strings.Contains(text, s[1]) {
			t.Errorf("/debug/config contains the secret %q", s[1])
		}
	}
	for _, want := range []string{`"grpc_address": "127.0.0.1:18000"`, `"max_body_size": 12582912`, `"clock_skew": "15m0s"`,
		`"auth": "app"`, `"match": "exact"`, `"kind": "url"`, `"url": "http://127.0.0.1:18080/echo/hello"`, `"timeout": "5s"`,
		`"secret": "[redacted]"`, `"dialect": "apig"`, `"max_age": "10m0s"`, `"iam_access_keys"`, `"duration": "5m0s"`} {
		if !strings.Contains(text, want) {
			t.Errorf("/debug/config lacks %s", want)
		}
	}
}

func TestRenderRedactsURLUserinfo(t *testing.T) {
	u, _ := url.Parse("https://user:pa55@backend.example.com:8443/v1?q=1")
	b := model.Backend{Kind: model.BackendURL, URL: u}
	got, _ := json.Marshal(Render(&model.Snapshot{Groups: []*model.Group{{Name: "g", APIs: []*model.API{{Name: "a",
		Deployments: map[string]*model.Deployment{"RELEASE": {Backend: b}}}}}}}))
	if strings.Contains(string(got), "pa55") || strings.Contains(string(got), "user") ||
		!strings.Contains(string(got), `"https://[redacted]@backend.example.com:8443/v1?q=1"`) {
		t.Fatalf("%s", got)
	}
}

func TestSnake(t *testing.T) {
	for in, want := range map[string]string{
		"GRPCAddress": "grpc_address", "MaxURIBytes": "max_uri_bytes", "APIs": "apis", "ACLs": "acls",
		"XFFNumTrustedHops": "xff_num_trusted_hops", "ClockSkew": "clock_skew", "ID": "id", "JWKSURL": "jwksurl",
		"LBPolicy": "lb_policy", "AppCodeAllowHTTP": "app_code_allow_http", "DeniedBackendCIDRs": "denied_backend_cidrs",
	} {
		if got := snake(in); got != want {
			t.Errorf("snake(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDebugConfigLeavesOutDigests: the group and API digests (reload
// bookkeeping, not configuration) are not rendered.
func TestDebugConfigLeavesOutDigests(t *testing.T) {
	snap, err := config.Load("t", []byte(`groups: [{name: g, apis: [{name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}}]}]`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Groups[0].Digest == "" || snap.Groups[0].APIs[0].Digest.IsZero() {
		t.Fatal("no digests to leave out")
	}
	b, err := json.Marshal(Render(snap))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToLower(string(b)), "digest") {
		t.Errorf("/debug/config shows a digest: %s", b)
	}
}
