package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/apigwio/apigw/internal/model"
)

func TestQuickstartLoads(t *testing.T) {
	snap, err := LoadFile(filepath.Join("..", "..", "examples", "quickstart", "gateway.yaml"), Options{})
	if err != nil {
		t.Fatalf("quickstart config refused: %v", err)
	}
	if len(snap.Version) != 16 {
		t.Errorf("version %q, want 16 hex digits", snap.Version)
	}
	hello := snap.APIs["demo/hello"]
	if hello == nil {
		t.Fatalf("demo/hello missing; APIs: %v", keys(snap.APIs))
	}
	if got := hello.Environments; fmt.Sprint(got) != "[RELEASE BETA]" {
		t.Errorf("hello environments = %v, want [RELEASE BETA]", got)
	}
	if got := hello.Deployments["BETA"].Backend.URL.Host; got != "127.0.0.1:18081" {
		t.Errorf("BETA backend host = %q, want 127.0.0.1:18081 (variable substituted)", got)
	}
	if got := hello.Deployments["RELEASE"].Backend.Path; got != "/echo/hello" {
		t.Errorf("RELEASE backend path = %q", got)
	}
	app := snap.Apps["4f5a1c2e9b8d4e6f8a7b6c5d4e3f2a1b"]
	if app == nil || !app.Granted(snap.APIs["demo/hello"], "BETA") || !app.Granted(snap.APIs["demo/orders"], "RELEASE") || app.Granted(snap.APIs["demo/orders"], "BETA") {
		t.Errorf("app grants wrong: %+v", app)
	}
	if ak := snap.AccessKeys["QUICKSTARTAK0000000001"]; ak == nil || ak.Account != "demo-account" || ak.User != "alice" {
		t.Errorf("access key wrong: %+v", ak)
	}
	s := snap.Settings
	if s.ClockSkew != 15*time.Minute || s.MaxBodyBytes != 12<<20 || s.MaxURIBytes != 32<<10 || s.Lockout.MaxFailures != 5 || s.Lockout.Duration != 5*time.Minute {
		t.Errorf("settings = %+v", s)
	}
}

func keys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func TestDefaults(t *testing.T) {
	snap, err := Load("inline", []byte("{allow_empty: true}"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := model.Settings{
		ClockSkew: DefaultClockSkew, MaxBodyBytes: DefaultMaxBodyBytes, MaxURIBytes: DefaultMaxURIBytes,
		DefaultEnvironment:   "RELEASE",
		Lockout:              model.Lockout{Enabled: true, MaxFailures: 5, Duration: 5 * time.Minute, MaxTrackedKeys: DefaultLockoutTrackedKeys},
		HMAC:                 model.HMACPolicy{ClockSkew: 900 * time.Second},
		Throttling:           model.Throttling{DefaultAPIRPS: 200},
		BackendTLS:           model.BackendTLS{CAFile: DefaultBackendCAFile},
		MaxAPIRemovalPercent: 100,
	}
	if fmt.Sprint(snap.Settings) != fmt.Sprint(want) {
		t.Errorf("settings = %+v\nwant       %+v", snap.Settings, want)
	}
	if snap.Server.GRPCAddress != DefaultGRPCAddress || snap.Server.AdminAddress != DefaultAdminAddress || snap.Listener.Port != DefaultListenerPort {
		t.Errorf("server/listener defaults wrong: %+v %+v", snap.Server, snap.Listener)
	}
	if len(snap.Environments) != 1 || !snap.Environments[0].Default || snap.Environments[0].Name != "RELEASE" {
		t.Errorf("environments = %+v", snap.Environments)
	}
}

func TestSecretSources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sk")
	if err := os.WriteFile(file, []byte("file-secret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
allow_empty: true
iam_users:
  - account: a
    user: u
    access_keys:
      - {id: AK1, secret: {value: inline-secret}}
      - {id: AK2, secret: {env: MY_SK}}
      - {id: AK3, secret: {file: %q}}
`, file)
	opts := Options{LookupEnv: func(k string) (string, bool) {
		if k == "MY_SK" {
			return "env-secret-value", true
		}
		return "", false
	}}
	snap, err := Load("inline", []byte(cfg), opts)
	if err != nil {
		t.Fatal(err)
	}
	for ak, want := range map[string]string{"AK1": "inline-secret", "AK2": "env-secret-value", "AK3": "file-secret-value"} {
		if got := string(snap.AccessKeys[ak].Secret.Bytes()); got != want {
			t.Errorf("%s secret = %q, want %q", ak, got, want)
		}
	}
	// A changed secret changes the version even though the file did not change.
	opts2 := opts
	opts2.LookupEnv = func(string) (string, bool) { return "another-env-secret", true }
	snap2, err := Load("inline", []byte(cfg), opts2)
	if err != nil {
		t.Fatal(err)
	}
	if snap2.Version == snap.Version {
		t.Error("version did not change when a secret changed")
	}
	if s := fmt.Sprintf("%v %+v %#v", snap.AccessKeys["AK1"], *snap.AccessKeys["AK1"], snap.AccessKeys["AK1"].Secret); strings.Contains(s, "inline-secret") {
		t.Errorf("secret leaked through fmt: %s", s)
	}
}

// TestValidationListsEveryProblem feeds a config with many mistakes and
// expects every one of them, with its path, in one error.
func TestValidationListsEveryProblem(t *testing.T) {
	cfg := `
listener: {address: not-an-ip, port: 70000}
settings:
  clock_skew: 15 minutes
  max_body_size: 20GB
  max_uri_size: 12XB
  lockout: {max_failures: 0}
  denied_backend_cidrs: ["169.254.0.0/16", "bogus"]
  backend_tls: {ca_file: certs/ca.pem}
environments:
  - name: BETA
  - name: BETA
  - name: "1bad"
channels:
  - name: pool
    members: [{address: "10.0.0.1"}, {address: "10.0.0.2:80", weight: 500}]
    lb_policy: fastest
groups:
  - name: g
    apis:
      - {name: a, method: FETCH, path: nope, match: regex, auth: magic, backend: {url: "http://x"}}
      - {name: b, path: /b, backend: {url: "ftp://x/y"}}
      - {name: b, path: /b2, backend: {url: "http://x"}}
      - {name: c, path: /c, environments: [RELEASE, GAMMA], backend: {url: "http://#{host}#/"}}
      - {name: d, path: /d, backend: {channel: missing}}
      - {name: e, path: /d, backend: {channel: missing}}
      - {name: f, path: /f, backend: {url: "http://169.254.169.254/latest", timeout: 2m, retries: 11}}
      - {name: h, path: /h, backend: {url: "http://x", mock: {body: hi}}}
      - {name: i, path: /i}
apps:
  - {name: app1, key: k1, secret: {value: short}, grants: [{api: g/zzz}, {api: nogroup/*}, {api: g/c, environments: [BETA]}]}
  - {name: app1, key: k1, secret: {env: UNSET_VAR_FOR_TEST}}
iam_users:
  - {account: acc, user: u, access_keys: [{id: AK, secret: {file: /nonexistent/sk}}, {id: AK, secret: {value: longenough}}]}
`
	_, err := Load("bad.yaml", []byte(cfg), Options{LookupEnv: func(string) (string, bool) { return "", false }})
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("want *config.Error, got %v", err)
	}
	want := []string{
		`listener.address: "not-an-ip" is not an IP address`,
		`listener.port: 70000 is not a port`,
		`settings.clock_skew: "15 minutes" is not a duration`,
		`settings.max_body_size: 21474836480 bytes is out of range`,
		`settings.max_uri_size: "12XB" has an unknown unit`,
		`settings.lockout.max_failures: 0 is out of range`,
		`settings.denied_backend_cidrs[1]: "bogus" is not a CIDR`,
		`settings.backend_tls.ca_file: "certs/ca.pem" is not an absolute path (Envoy reads the file)`,
		`environments[1].name: environment "BETA" is defined twice`,
		`environments[2].name: "1bad" is not a valid environment name`,
		`channels[0].members[0].address: "10.0.0.1" is not host:port`,
		`channels[0].members[1].weight: 500 is out of range`,
		`channels[0].lb_policy: "fastest" is not one of`,
		`groups[0].apis[0].method: "FETCH" is not one of`,
		`groups[0].apis[0].path: "nope" must start with /`,
		`groups[0].apis[0].match: "regex" is not exact or prefix`,
		`groups[0].apis[0].auth: "magic" is not one of app, iam, hmac, token, app_code, authorizer, mtls, none`,
		`groups[0].apis[1].backend.url: "ftp://x/y" (environment RELEASE) is not an http(s)`,
		`groups[0].apis[2].name: API "b" is defined twice in group "g"`,
		`groups[0].apis[3].environments[1]: environment "GAMMA" is not defined`,
		`groups[0].apis[3].backend.url: variable "host" is not defined in environment RELEASE`,
		`groups[0].apis[4].backend.channel: channel "missing" is not defined`,
		`groups[0].apis[5].backend.channel: channel "missing" is not defined`,
		`groups[0].apis[5]: duplicate route: ANY /d (exact match) in environment RELEASE is already defined at groups[0].apis[4]`,
		`groups[0].apis[6].backend.timeout: 2m0s is out of range`,
		`groups[0].apis[6].backend.retries: 11 is more than 10`,
		`groups[0].apis[6].backend.url: backend address 169.254.169.254 is in the denied range 169.254.0.0/16`,
		`groups[0].apis[7].backend: set exactly one of url, channel, mock`,
		`groups[0].apis[8].backend: a backend is required`,
		`apps[0].secret: the secret must be 8 to 4096 bytes long (it is 5)`,
		`apps[0].grants[0].api: API "g/zzz" is not defined`,
		`apps[0].grants[1].api: group "nogroup" is not defined`,
		`apps[0].grants[2].environments[0]: API "g/c" is not published in environment BETA`,
		`apps[1].name: app "app1" is defined twice`,
		`apps[1].key: key is already used by apps[0]`,
		`apps[1].secret: environment variable "UNSET_VAR_FOR_TEST" is not set`,
		`iam_users[0].access_keys[0].secret: cannot read secret file "/nonexistent/sk"`,
		`iam_users[0].access_keys[1].id: access key "AK" is defined twice`,
	}
	msg := cerr.Error()
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("missing problem %q", w)
		}
	}
	if len(cerr.Problems) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(cerr.Problems), len(want), msg)
	}
	if strings.Contains(msg, "longenough") || strings.Contains(msg, "short\"") {
		t.Errorf("secret value in error: %s", msg)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"yaml syntax", "groups: [", "not valid YAML or JSON"},
		{"unknown field", "groupz: []", `x:1:1: groupz: unknown field; did you mean "groups"?`},
		{"wrong type", "listener: {port: abc}", `x:1:18: listener.port: expected a whole number (0-4294967295), got "abc"`},
		{"json ok but typo", `{"settings": {"clockskew": "1m"}}`, `x:1:15: settings.clockskew: unknown field; did you mean "clock_skew"?`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("x", []byte(tt.in), Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want containing %q", err, tt.want)
			}
		})
	}
}

// TestJSONAndYAMLAgree: a JSON file (loaded without the YAML conversion)
// and its YAML form give the same snapshot version.
func TestJSONAndYAMLAgree(t *testing.T) {
	y := []byte("groups: [{name: g, apis: [{name: a, path: /a, auth: none, backend: {url: 'http://10.0.0.1'}}]}]\n")
	j := []byte(`{"groups":[{"name":"g","apis":[{"name":"a","path":"/a","auth":"none","backend":{"url":"http://10.0.0.1"}}]}]}`)
	sy, err := Load("y", y, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sj, err := Load("j", j, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sy.Version != sj.Version {
		t.Errorf("versions differ: %s (YAML) vs %s (JSON)", sy.Version, sj.Version)
	}
	if _, err := Load("bad", []byte(`{"groups": [}`), Options{}); err == nil || !strings.Contains(err.Error(), "not valid YAML or JSON") {
		t.Errorf("broken JSON: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"12MB", 12 << 20, true}, {"32KB", 32 << 10, true}, {"1024", 1024, true}, {"9536MB", 9536 << 20, true},
		{"1 GiB", 1 << 30, true}, {"5b", 5, true}, {"", 0, false}, {"-1MB", 0, false}, {"MB", 0, false},
		{"12XB", 0, false}, {"99999999999999999999GB", 0, false}, {"9999999999GB", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func FuzzLoad(f *testing.F) {
	data, _ := os.ReadFile(filepath.Join("..", "..", "examples", "quickstart", "gateway.yaml"))
	f.Add(data)
	f.Add([]byte("groups: [{name: g, apis: [{name: a, path: /a, backend: {url: 'http://#{x}#/'}}]}]"))
	f.Add([]byte(`{"apps":[{"name":"a","key":"k","grants":[{"api":"g/*"}]}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		snap, err := Load("fuzz", in, Options{LookupEnv: func(string) (string, bool) { return "", false }, ReadFile: func(string) ([]byte, error) { return nil, os.ErrNotExist }})
		if err == nil && snap == nil {
			t.Fatal("nil snapshot without error")
		}
		if err != nil && snap != nil {
			t.Fatal("snapshot returned with error")
		}
	})
}

// TestGroupDigests: a group's digest changes exactly when something its
// model is resolved from changes (its own definition, or anything outside
// the groups), so the translator may reuse an unchanged group's output.
func TestGroupDigests(t *testing.T) {
	const base = `
environments: [{name: BETA, variables: {h: 10.0.0.1}}]
apps: [{name: a, key: 0123456789abcdef0123456789abcdef, secret: {env: APP_SECRET}}]
groups:
  - name: one
    domains: [one.example.com]
    apis: [{name: ax, path: /x, auth: none, backend: {url: "http://10.0.0.1"}}]
  - name: two
    domains: [two.example.com]
    apis: [{name: ay, path: /y, auth: none, backend: {url: "http://#{h}#"}, environments: [BETA]}]
`
	const secretValue = "s3cr3t-s3cr3t-s3cr3t"
	secret := secretValue
	load := func(src string) *model.Snapshot {
		t.Helper()
		snap, err := Load("digests", []byte(src), Options{LookupEnv: func(string) (string, bool) { return secret, true }})
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	digests := func(s *model.Snapshot) []string {
		var out []string
		for _, g := range s.Groups {
			if len(g.Digest) != 64 {
				t.Fatalf("group %s digest %q, want 64 hex digits", g.Name, g.Digest)
			}
			out = append(out, g.Digest)
		}
		return out
	}
	orig := load(base)
	was := digests(orig)
	if was[0] == was[1] {
		t.Fatalf("different groups share digest %s", was[0])
	}
	tests := []struct {
		name    string
		edit    func(string) string
		secret  string
		changed []bool // per group
	}{
		{"nothing", func(s string) string { return s }, secret, []bool{false, false}},
		{"comment and layout", func(s string) string {
			return "# edited\n" + strings.ReplaceAll(s, "[one.example.com]", "\n      - one.example.com")
		}, secret, []bool{false, false}},
		{"one API of group one", func(s string) string { return strings.Replace(s, "path: /x", "path: /x2", 1) }, secret, []bool{true, false}},
		{"group two's domains", func(s string) string { return strings.Replace(s, "two.example.com", "2.example.com", 1) }, secret, []bool{false, true}},
		{"a variable (outside the groups)", func(s string) string { return strings.Replace(s, "h: 10.0.0.1", "h: 10.0.0.2", 1) }, secret, []bool{true, true}},
		{"an app (outside the groups)", func(s string) string { return strings.Replace(s, "name: a,", "name: b,", 1) }, secret, []bool{true, true}},
		// No group model holds a secret: a new secret value changes the
		// version only.
		{"a secret's resolved value", func(s string) string { return s }, "another-secret-value", []bool{false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret = tt.secret
			defer func() { secret = secretValue }()
			snap := load(tt.edit(base))
			now := digests(snap)
			for i := range now {
				if got := now[i] != was[i]; got != tt.changed[i] {
					t.Errorf("group %d digest changed = %v, want %v", i, got, tt.changed[i])
				}
			}
			want := tt.changed[0] || tt.changed[1] || tt.secret != secretValue
			if changed := snap.Version != orig.Version; changed != want {
				t.Errorf("version changed = %v (%s -> %s), want %v", changed, orig.Version, snap.Version, want)
			}
		})
	}
}

func TestBackendTLS(t *testing.T) {
	tests := []struct {
		in      string
		want    model.BackendTLS
		problem string
	}{
		{"{allow_empty: true}", model.BackendTLS{CAFile: DefaultBackendCAFile}, ""},
		{"{allow_empty: true, settings: {backend_tls: {ca_file: /etc/ssl/ca.pem}}}", model.BackendTLS{CAFile: "/etc/ssl/ca.pem"}, ""},
		{"{allow_empty: true, settings: {backend_tls: {insecure_skip_verify: true}}}", model.BackendTLS{InsecureSkipVerify: true}, ""},
		{"{settings: {backend_tls: {ca_file: ca.pem}}}", model.BackendTLS{}, `settings.backend_tls.ca_file: "ca.pem" is not an absolute path`},
		{"{settings: {backend_tls: {ca_file: /ca.pem, insecure_skip_verify: true}}}", model.BackendTLS{}, "a CA file is pointless with insecure_skip_verify"},
	}
	for _, tt := range tests {
		snap, err := Load("tls", []byte(tt.in), Options{})
		if tt.problem != "" {
			if err == nil || !strings.Contains(err.Error(), tt.problem) {
				t.Errorf("%s: error %v, want %q", tt.in, err, tt.problem)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if snap.Settings.BackendTLS != tt.want {
			t.Errorf("%s: backend TLS %+v, want %+v", tt.in, snap.Settings.BackendTLS, tt.want)
		}
	}
}

// TestEmptyConfigurationRefused: an empty, comment-only or group-less file
// is refused (it would remove every route), unless it says allow_empty.
func TestEmptyConfigurationRefused(t *testing.T) {
	const want = "groups: no groups: refusing to publish an empty configuration"
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"empty file", "", false},
		{"whitespace", "\n  \n", false},
		{"comments only", "# nothing yet\n# still nothing\n", false},
		{"empty object", "{}", false},
		{"empty JSON object", `{"groups": []}`, false},
		{"settings but no groups", "settings: {clock_skew: 5m}\n", false},
		{"allow_empty", "allow_empty: true\n", true},
		{"allow_empty false", "allow_empty: false\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("gateway.yaml", []byte(tt.in), Options{})
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want %q", err, want)
			}
		})
	}
}

// TestSubstitute: variable references are replaced, and a string without
// one is returned as it is (the same string, not a copy); unterminated
// and undefined references are refused either way.
func TestSubstitute(t *testing.T) {
	env := &model.Environment{Name: "BETA", Variables: map[string]string{"h": "10.0.0.1:80"}}
	for _, c := range []struct {
		in, want string
		ok       bool
		problem  string
	}{
		{"http://svc:8080/v1", "http://svc:8080/v1", true, ""},
		{"", "", true, ""},
		{"http://#{h}#/x", "http://10.0.0.1:80/x", true, ""},
		{"http://#{nope}#/x", "http:///x", false, `variable "nope" is not defined in environment BETA`},
		{"http://#{h/x", "http://#{h/x", false, "unterminated variable reference"},
		{"http://h}#/x", "http://h}#/x", false, "unterminated variable reference"},
		{"http://{h}/x#", "http://{h}/x#", true, ""},
	} {
		b := &builder{}
		got, ok := b.substitute("p", c.in, env)
		if got != c.want || ok != c.ok {
			t.Errorf("%q: %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
		msgs := ""
		for _, p := range b.ps.list {
			msgs += p.Message + "\n"
		}
		if c.problem == "" && msgs != "" || !strings.Contains(msgs, c.problem) {
			t.Errorf("%q: problems %q, want %q", c.in, msgs, c.problem)
		}
		if ok && !strings.Contains(c.in, "#{") && unsafe.StringData(got) != unsafe.StringData(c.in) {
			t.Errorf("%q: copied", c.in)
		}
	}
}

// TestBackendURLShared: an API's backend URL that is the same string in
// each of its environments is one URL shared by its deployments; one
// that differs by environment (a variable) is not, and each deployment
// has its own environment's.
func TestBackendURLShared(t *testing.T) {
	const cfg = `environments: [{name: BETA, variables: {h: "10.0.0.2:81"}}, {name: PROD, variables: {h: "10.0.0.3:82"}}]
groups:
  - name: g
    apis:
      - {name: same, path: /s, auth: none, environments: [RELEASE, BETA, PROD], backend: {url: "http://10.0.0.1:80/s"}}
      - {name: vary, path: /v, auth: none, environments: [BETA, PROD], backend: {url: "http://#{h}#/v"}}
      - {name: other, path: /o, auth: none, environments: [BETA, PROD], backend: {url: "http://10.0.0.1:80/s"}}
`
	snap, err := Load("urls.yaml", []byte(cfg), Options{})
	if err != nil {
		t.Fatal(err)
	}
	same := snap.APIs["g/same"].Deployments
	if u := same["RELEASE"].Backend.URL; u == nil || u != same["BETA"].Backend.URL || u != same["PROD"].Backend.URL || u.Host != "10.0.0.1:80" {
		t.Errorf("g/same: URLs %p %p %p, want one", u, same["BETA"].Backend.URL, same["PROD"].Backend.URL)
	}
	vary := snap.APIs["g/vary"].Deployments
	if b, p := vary["BETA"].Backend.URL, vary["PROD"].Backend.URL; b == p || b.Host != "10.0.0.2:81" || p.Host != "10.0.0.3:82" {
		t.Errorf("g/vary: BETA %v, PROD %v", b, p)
	}
	if snap.APIs["g/other"].Deployments["BETA"].Backend.URL == same["BETA"].Backend.URL {
		t.Error("two APIs share a URL (only an API's own deployments do)")
	}
}
