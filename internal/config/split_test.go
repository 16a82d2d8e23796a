package config

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

func TestSplitYAML(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		rest  string
		items []string // nil: refused
	}{
		{
			name:  "plain layout",
			in:    "settings: {max_body_size: 1MB}\ngroups:\n  - name: a\n    domains: [a]\n\n  # about b\n  - name: b\nenvironments: []\n",
			rest:  "settings: {max_body_size: 1MB}\ngroups:\n  - {}\n  - {}\nenvironments: []\n",
			items: []string{"  - name: a\n    domains: [a]\n\n  # about b\n", "  - name: b\n"},
		},
		{
			name:  "items at column 0, comment on the key, CRLF",
			in:    "groups: # all of them\r\n- name: a\r\n  apis: []\r\n- name: b\r\n",
			rest:  "groups: # all of them\r\n- {}\n- {}\n",
			items: []string{"- name: a\r\n  apis: []\r\n", "- name: b\r\n"},
		},
		{
			name:  "empty item marker",
			in:    "groups:\n  -\n    name: a\n",
			rest:  "groups:\n  - {}\n",
			items: []string{"  -\n    name: a\n"},
		},
		{name: "no groups", in: "settings: {}\n", rest: "settings: {}\n", items: []string{}},
		{name: "flow groups stay in the rest", in: "groups: [{name: a}]\n", rest: "groups: [{name: a}]\n", items: []string{}},
		{name: "document marker", in: "---\ngroups:\n  - name: a\n", items: nil},
		{name: "directive", in: "%YAML 1.2\n---\ngroups:\n  - name: a\n", items: nil},
		{name: "complex key", in: "? groups\n: []\ngroups:\n  - name: a\n", items: nil},
		{name: "two groups entries", in: "groups:\n  - name: a\ngroups:\n  - name: b\n", items: nil},
		{name: "less indented line", in: "groups:\n    - name: a\n  - name: b\n", items: nil},
		{name: "a key at the items' indentation", in: "groups:\n  - name: a\n  name: b\n", items: nil},
		{name: "not a sequence", in: "groups:\n  name: a\n", items: nil},
		{name: "tab indentation", in: "groups:\n\t- name: a\n", items: nil},
		{name: "groups without items", in: "groups:\n# nothing\n", items: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rest, items, err := splitYAML([]byte(tt.in))
			if tt.items == nil {
				if err == nil {
					t.Fatalf("split into %q and %q, want a refusal", rest, items)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(rest) != tt.rest {
				t.Errorf("rest = %q, want %q", rest, tt.rest)
			}
			got := []string{}
			for _, it := range items {
				got = append(got, string(it))
			}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.items) {
				t.Errorf("items = %q, want %q", got, tt.items)
			}
		})
	}
}

func TestSplitAPIs(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		rest  string
		items []string // nil: refused
	}{
		{
			name:  "plain layout",
			in:    "  - name: g\n    domains: [a]\n    apis:\n      - name: a\n        path: /a\n\n      # b\n      - {name: b}\n    description: x\n",
			rest:  "  - name: g\n    domains: [a]\n    apis:\n      - {}\n      - {}\n    description: x\n",
			items: []string{"      - name: a\n        path: /a\n\n      # b\n", "      - {name: b}\n"},
		},
		{
			name:  "items at the keys' indentation, CRLF",
			in:    "- name: g\r\n  apis: # all\r\n  - name: a\r\n  - name: b\r\n  domains: [a]\r\n",
			rest:  "- name: g\r\n  apis: # all\r\n  - {}\n  - {}\n  domains: [a]\r\n",
			items: []string{"  - name: a\r\n", "  - name: b\r\n"},
		},
		{name: "flow apis", in: "  - name: g\n    apis: [{name: a}]\n", items: nil},
		{name: "apis first", in: "  - apis:\n      - name: a\n", items: nil},
		{name: "empty item marker", in: "  -\n    name: g\n    apis:\n      - name: a\n", items: nil},
		{name: "flow group", in: "  - {name: g, apis: [{name: a}]}\n", items: nil},
		{name: "two apis entries", in: "  - name: g\n    apis:\n      - name: a\n    apis:\n      - name: b\n", items: nil},
		{name: "line between the indentations", in: "  - name: g\n    apis:\n        - name: a\n      x: 1\n", items: nil},
		{name: "apis without items", in: "  - name: g\n    apis:\n    domains: [a]\n", items: nil},
		{name: "tab", in: "  - name: g\n    apis:\n      - name: a\n      \t path: /a\n", items: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rest, items, err := splitAPIs([]byte(tt.in))
			if tt.items == nil {
				if err == nil {
					t.Fatalf("split into %q and %q, want a refusal", rest, items)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(rest) != tt.rest {
				t.Errorf("rest = %q, want %q", rest, tt.rest)
			}
			got := []string{}
			for _, it := range items {
				got = append(got, string(it))
			}
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.items) {
				t.Errorf("items = %q, want %q", got, tt.items)
			}
		})
	}
}

// TestParserReusesUnchangedAPIs: in a YAML group whose text changed, the
// APIs whose text did not change are the messages parsed before.
func TestParserReusesUnchangedAPIs(t *testing.T) {
	var p Parser
	base := bigConfig("")
	first := sameParse(t, &p, []byte(base))
	old := map[*configv1.Api]bool{}
	for _, g := range first.GetGroups() {
		for _, a := range g.GetApis() {
			old[a] = true
		}
	}
	second := sameParse(t, &p, []byte(strings.Replace(base, "path: /a7,", "path: /a7b,", 1)))
	var parsed []string
	for _, g := range second.GetGroups() {
		for _, a := range g.GetApis() {
			if !old[a] {
				parsed = append(parsed, g.GetName()+"/"+a.GetName())
			}
		}
	}
	if fmt.Sprint(parsed) != "[g0/a7]" {
		t.Errorf("APIs parsed again: %v, want [g0/a7]", parsed)
	}
}

func TestSplitJSON(t *testing.T) {
	rest, items, err := splitJSON([]byte(`{"settings": {"max_body_size": "1MB"}, "groups": [{"name": "a"}, {"name": "b", "apis": []}], "environments": []}`))
	if err != nil {
		t.Fatal(err)
	}
	if string(rest) != `{"settings":{"max_body_size": "1MB"},"environments":[]}` {
		t.Errorf("rest = %s", rest)
	}
	if len(items) != 2 || string(items[0]) != `{"name": "a"}` || string(items[1]) != `{"name": "b", "apis": []}` {
		t.Errorf("items = %q", items)
	}
	for _, in := range []string{
		`{"groups": [], "groups": [{"name": "a"}]}`,
		`{"groups": {"name": "a"}}`,
		`{"settings": {}}`,
		`[{"name": "a"}]`,
	} {
		if _, _, err := splitJSON([]byte(in)); err == nil {
			t.Errorf("splitJSON(%s) split, want a refusal", in)
		}
	}
}

// TestParserMatchesParse: the parser gives what Parse gives, for the
// repository's configurations in YAML and JSON, and on a second parse of
// an edited file reuses exactly the groups whose text did not change.
func TestParserMatchesParse(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "xds", "testdata", "*.input.yaml"))
	files = append(files, filepath.Join("..", "..", "examples", "quickstart", "gateway.yaml"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		js, err := yaml.YAMLToJSON(data)
		if err != nil {
			t.Fatal(err)
		}
		for format, in := range map[string][]byte{"yaml": data, "json": js} {
			t.Run(filepath.Base(f)+"/"+format, func(t *testing.T) {
				var p Parser
				sameParse(t, &p, in)
				sameParse(t, &p, in)
			})
		}
	}

	const base = `
settings: {max_body_size: 2MB}
groups:
  - name: one
    apis: [{name: a, path: /a, backend: {url: "http://10.0.0.1"}}]
  - name: two
    domains: [two.example.com]
    apis:
      - {name: b, path: /b, backend: {url: "http://10.0.0.2"}}
      - name: c
        path: /c
        backend: {url: "http://10.0.0.3"}
  - name: three
    domains: [three.example.com]
    apis: [{name: d, path: /d, backend: {mock: {status: 204}}}]
`
	edits := []struct {
		name   string
		edit   func(string) string
		reused []bool
	}{
		{"unchanged", func(s string) string { return s }, []bool{true, true, true}},
		{"one API in group two", func(s string) string { return strings.Replace(s, "path: /c", "path: /c2", 1) }, []bool{true, false, true}},
		{"outside the groups", func(s string) string { return strings.Replace(s, "2MB", "3MB", 1) }, []bool{true, true, true}},
		// A plain number (protojson refuses it for a string field; the
		// schema walker accepts it) in the rest keeps the groups split.
		{"a plain number outside the groups", func(s string) string { return strings.Replace(s, "2MB", "3145728", 1) }, []bool{true, true, true}},
		{"a group removed", func(s string) string { return s[:strings.Index(s, "  - name: three")] }, []bool{true, true}},
		{"groups reordered", func(s string) string {
			i, j := strings.Index(s, "  - name: two"), strings.Index(s, "  - name: three")
			return s[:strings.Index(s, "  - name: one")] + s[j:] + s[i:j] + s[strings.Index(s, "  - name: one"):i]
		}, []bool{true, true, true}},
	}
	formats := map[string]func(string) []byte{
		"yaml": func(s string) []byte { return []byte(s) },
		"json": func(s string) []byte {
			js, err := yaml.YAMLToJSON([]byte(s))
			if err != nil {
				t.Fatal(err)
			}
			return js
		},
	}
	for _, tt := range edits {
		for format, conv := range formats {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				var p Parser
				first := sameParse(t, &p, conv(base))
				old := map[*configv1.Group]bool{}
				for _, g := range first.GetGroups() {
					old[g] = true
				}
				second := sameParse(t, &p, conv(tt.edit(base)))
				var reused []bool
				for _, g := range second.GetGroups() {
					reused = append(reused, old[g])
				}
				if fmt.Sprint(reused) != fmt.Sprint(tt.reused) {
					t.Errorf("reused groups %v, want %v", reused, tt.reused)
				}
			})
		}
	}
}

// sameParse parses in with p and checks the result against Parse.
func sameParse(t *testing.T, p *Parser, in []byte) *configv1.Gateway {
	t.Helper()
	got, err := p.Parse(in)
	want, wantErr := Parse(in)
	if fmt.Sprint(err) != fmt.Sprint(wantErr) {
		t.Fatalf("Parser.Parse error %v, Parse error %v", err, wantErr)
	}
	if !proto.Equal(got, want) {
		t.Fatalf("Parser.Parse and Parse differ:\n%v\n%v", got, want)
	}
	return got
}

// FuzzParserSplit: whatever the input, the parser (which parses the groups
// of a split file one by one, reusing the previous file's) gives exactly
// what Parse gives: the same configuration, or the same error; and its
// Load (which also reuses the models of unchanged groups) what Load gives.
func FuzzParserSplit(f *testing.F) {
	data, _ := os.ReadFile(filepath.Join("..", "..", "examples", "quickstart", "gateway.yaml"))
	f.Add(data, []byte("groups:\n  - name: g\n    apis: [{name: a, path: /a}]\n"))
	f.Add([]byte("groups:\n- name: a\n  x: &y {}\n- name: b\n  z: *y\n"), []byte("groups:\n  - name: a\n    domains: [\"a\n  - b\"]\n"))
	f.Add([]byte(`{"groups":[{"name":"a"},{"name":"b"}],"settings":{}}`), []byte(`{"groups":[{"name":"a"}],"groups":[]}`))
	f.Add([]byte("groups:\n  - name: a\n    description: |\n      - name: b\n"), []byte("groups:\n  - name: a\n  - <<: {name: b}\n"))
	f.Add([]byte("groups:\n  - name: a\n    apis:\n      - name: x\n        path: &p /x\n      - name: y\n        path: *p\n"), []byte("groups:\n  - name: a\n    apis:\n      - {name: x}\n    apis:\n      - {name: y}\n"))
	f.Add([]byte("groups:\n- name: a\n  apis:\n  - name: x\n    description: |\n      - name: y\n  domains: [a]\n"), []byte("groups:\n  - name: a\n    apis:\n      - name: x\n        path: /x\n      - name: y\n        bogus: 1\n"))
	f.Add([]byte(`{"gr\u006fups":[{"name":"a,]}"},{"name":"b\"[{"}] , "settings" : {"max_body_size":"1MB"}}`), []byte(`{"groups":[{"name":"a"}],"gr\u006fups":[]}`))
	opts := Options{LookupEnv: func(string) (string, bool) { return "", false }, ReadFile: func(string) ([]byte, error) { return nil, os.ErrNotExist }}
	f.Fuzz(func(t *testing.T, a, b []byte) {
		var p, l Parser
		for _, in := range [][]byte{a, b, a} {
			got, err := p.Parse(in)
			want, wantErr := Parse(in)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Fatalf("input %q: Parser.Parse error %v, Parse error %v", in, err, wantErr)
			}
			if !proto.Equal(got, want) {
				t.Fatalf("input %q: Parser.Parse and Parse differ:\n%v\n%v", in, got, want)
			}
			// Loading, which also reuses the models of unchanged groups.
			snap, err := l.Load("fuzz", in, opts)
			wantSnap, wantErr := Load("fuzz", in, opts)
			if fmt.Sprint(err) != fmt.Sprint(wantErr) {
				t.Fatalf("input %q: Parser.Load error %v, Load error %v", in, err, wantErr)
			}
			if !reflect.DeepEqual(snap, wantSnap) {
				t.Fatalf("input %q: Parser.Load and Load differ", in)
			}
		}
	})
}

// bigConfig is a configuration of 10 groups of 1,000 APIs; extra is added
// to the first group's API list.
func bigConfig(extra string) string {
	var b strings.Builder
	b.WriteString("server: {grpc_address: \"127.0.0.1:0\"}\nenvironments: [{name: BETA}]\ngroups:\n")
	for g := 0; g < 10; g++ {
		fmt.Fprintf(&b, "  - name: g%d\n    domains: [g%d.example.com]\n    apis:\n", g, g)
		for i := 0; i < 1000; i++ {
			fmt.Fprintf(&b, "      - {name: a%d, path: /a%d, auth: none, environments: [RELEASE, BETA], backend: {url: \"http://10.0.%d.%d:8080\"}}\n", i, i, g, i%250+1)
		}
		if g == 0 {
			b.WriteString(extra)
		}
	}
	return b.String()
}

// BenchmarkParseOneGroupChanged parses a 10,000-API file (YAML, then
// JSON) in which one group changed since the last parse: whole with
// Parse, split with a Parser.
//
//	go test ./config -run '^$' -bench ParseOneGroupChanged -benchtime 20x
func BenchmarkParseOneGroupChanged(b *testing.B) {
	for _, format := range []string{"yaml", "json"} {
		conv := func(s string) []byte {
			if format == "yaml" {
				return []byte(s)
			}
			js, err := yaml.YAMLToJSON([]byte(s))
			if err != nil {
				b.Fatal(err)
			}
			return js
		}
		docs := [][]byte{conv(bigConfig("")), conv(bigConfig("      - {name: added, path: /added, backend: {url: \"http://10.9.9.9\"}}\n"))}
		b.Run(format+"/Parse", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := Parse(docs[i%2]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(format+"/Parser", func(b *testing.B) {
			var p Parser
			if _, err := p.Parse(docs[1]); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := p.Parse(docs[i%2]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestParserLoadReusesModels: Parser.Load builds the same snapshot as Load
// (deeply equal) while reusing the models of unchanged groups, re-binding
// the policies of the new configuration, and never changes the snapshot
// it reused from.
func TestParserLoadReusesModels(t *testing.T) {
	const base = `
environments: [{name: PREPUB}]
channels: [{name: pool, members: [{address: "10.0.1.1:80"}]}]
authorizers:
  - {name: fn, url: "http://127.0.0.1:9/auth", timeout: 100ms, identity_headers: [X-Token]}
groups:
  - name: one
    domains: [one.example.com]
    apis:
      - {name: k, path: /k, auth: hmac, environments: [RELEASE, PREPUB], backend: {url: "http://10.0.0.1"}}
      - {name: z, path: /z, auth: authorizer, authorizer: fn, backend: {channel: pool}}
  - name: two
    domains: [two.example.com]
    apis:
      - name: c
        path: /c
        cors: {allow_origins: ["https://app.example.com"]}
        backend: {url: "http://10.0.0.2/c"}
        backend_policies: [{name: canary, conditions: [{type: header, name: x-canary, values: ["1"]}], backend: {url: "http://10.0.0.3"}}]
      - {name: why, path: /y, auth: authorizer, authorizer: fn, backend: {url: "http://10.0.0.4"}}
key_pairs:
  - {id: kp1, secret: {value: key-pair-secret-1}}
usage_plans:
  - {name: gold, key_pairs: [kp1], environments: [RELEASE], rate_per_second: 10}
acl_policies:
  - {name: office, type: ip, action: allow, values: ["10.0.0.0/8"], bindings: [{api: one/*}, {api: two/c}]}
throttle_policies:
  - {name: std, unit: minute, api_limit: 100, bindings: [{api: two/c}, {api: one/k, environments: [PREPUB]}]}
apps:
  - {name: app, key: app-key-0001, secret: {value: app-secret-0001}, grants: [{api: "two/*"}]}
`
	tests := []struct {
		name   string
		edit   func(string) string
		reused []bool // per group
	}{
		{"unchanged", func(s string) string { return s }, []bool{true, true}},
		{"one API of group two", func(s string) string { return strings.Replace(s, "path: /c", "path: /c2", 1) }, []bool{true, false}},
		{"a policy binding (outside the groups)", func(s string) string { return strings.Replace(s, "10.0.0.0/8", "10.0.0.0/16", 1) }, []bool{false, false}},
		{"the authorizer (outside the groups)", func(s string) string { return strings.Replace(s, "timeout: 100ms", "timeout: 200ms", 1) }, []bool{false, false}},
		{"groups reordered", func(s string) string {
			i, j, k := strings.Index(s, "  - name: one"), strings.Index(s, "  - name: two"), strings.Index(s, "key_pairs:")
			return s[:i] + s[j:k] + s[i:j] + s[k:]
		}, []bool{true, true}},
	}
	load := func(t *testing.T, load func(string, []byte, Options) (*model.Snapshot, error), src string) *model.Snapshot {
		t.Helper()
		snap, err := load("reuse", []byte(src), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	fresh := load(t, Load, base)
	bound := map[string]bool{}
	for _, api := range fresh.APIs {
		bound["authorizer"] = bound["authorizer"] || api.Authorizer != nil
		for _, d := range api.Deployments {
			bound["acl"] = bound["acl"] || len(d.ACLs) > 0
			bound["throttle"] = bound["throttle"] || d.Throttle != nil
			bound["plan"] = bound["plan"] || len(d.UsagePlans) > 0
		}
	}
	if len(bound) != 4 || !bound["authorizer"] || !bound["acl"] || !bound["throttle"] || !bound["plan"] {
		t.Fatalf("the configuration must bind every kind of outside object: %v", bound)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Parser
			first := load(t, p.Load, base)
			if !reflect.DeepEqual(first, load(t, Load, base)) {
				t.Fatal("Parser.Load and Load differ on a first load")
			}
			backends := map[*url.URL]bool{}
			for _, api := range first.APIs {
				for _, d := range api.Deployments {
					backends[d.Backend.URL] = true
				}
			}
			edited := tt.edit(base)
			second := load(t, p.Load, edited)
			if want := load(t, Load, edited); !reflect.DeepEqual(second, want) {
				t.Error("Parser.Load reusing models differs from Load")
			}
			if !reflect.DeepEqual(first, load(t, Load, base)) {
				t.Error("the snapshot reused from was changed")
			}
			// One object per authorizer within a snapshot, as Load makes.
			authorizers := map[string]*model.Authorizer{}
			for _, api := range second.APIs {
				if a := api.Authorizer; a != nil {
					if prev := authorizers[a.Name]; prev != nil && prev != a {
						t.Errorf("API %s points at another copy of authorizer %s", api.ID, a.Name)
					}
					authorizers[a.Name] = a
				}
			}
			var reused []bool
			for _, g := range second.Groups {
				_, shared := backends[g.APIs[0].Deployments[g.APIs[0].Environments[0]].Backend.URL]
				reused = append(reused, shared)
			}
			if fmt.Sprint(reused) != fmt.Sprint(tt.reused) {
				t.Errorf("reused groups %v, want %v", reused, tt.reused)
			}
		})
	}
}

// TestParserLoadReusesAPIModels: in a changed group, the model of each API
// whose digest is unchanged is reused (its resolved backend is the very
// value built before), every other API's is built again, and the snapshot
// is the one Load builds afresh.
func TestParserLoadReusesAPIModels(t *testing.T) {
	const base = `
environments: [{name: BETA}]
throttle_policies:
  - {name: std, unit: minute, api_limit: 100, bindings: [{api: one/b}]}
groups:
  - name: one
    domains: [one.example.com]
    apis:
      - {name: a, path: /a, backend: {url: "http://10.0.0.1/a"}}
      - {name: b, path: /b, auth: none, backend: {url: "http://10.0.0.1/b"}}
      - {name: v, path: /v, environments: [RELEASE], backend: {url: "http://10.0.0.1/v1"}}
      - {name: v, path: /v, environments: [BETA], backend: {url: "http://10.0.0.1/v2"}}
      - {name: c, path: /c, backend: {url: "http://10.0.0.1/c"}}
  - name: two
    domains: [two.example.com]
    apis:
      - {name: d, path: /d, backend: {url: "http://10.0.0.2/d"}}
`
	tests := []struct {
		name   string
		edit   func(string) string
		reused []string // API keys whose model is reused
	}{
		{"one API changed", func(s string) string { return strings.Replace(s, "path: /a,", "path: /a2,", 1) },
			[]string{"one/b", "one/v", "one/v@BETA", "one/c", "two/d"}},
		{"an API added", func(s string) string {
			return strings.Replace(s, "      - {name: c,", "      - {name: added, path: /added, backend: {url: \"http://10.0.0.1/added\"}}\n      - {name: c,", 1)
		}, []string{"one/a", "one/b", "one/v", "one/v@BETA", "one/c", "two/d"}},
		{"an API removed", func(s string) string {
			return strings.Replace(s, "      - {name: a, path: /a, backend: {url: \"http://10.0.0.1/a\"}}\n", "", 1)
		},
			[]string{"one/b", "one/v", "one/v@BETA", "one/c", "two/d"}},
		{"an API renamed", func(s string) string { return strings.Replace(s, "name: c,", "name: c2,", 1) },
			[]string{"one/a", "one/b", "one/v", "one/v@BETA", "two/d"}},
		// The second variant becomes the first: another model (no
		// Variant), not the reused one under its old key.
		{"the first variant removed", func(s string) string {
			return strings.Replace(s, "      - {name: v, path: /v, environments: [RELEASE], backend: {url: \"http://10.0.0.1/v1\"}}\n", "", 1)
		}, []string{"one/a", "one/b", "one/c", "two/d"}},
		{"a variant's environments changed", func(s string) string {
			return strings.Replace(s, "environments: [RELEASE], backend: {url: \"http://10.0.0.1/v1\"}", "environments: [RELEASE], backend: {url: \"http://10.0.0.1/v1b\"}", 1)
		}, []string{"one/a", "one/b", "one/v@BETA", "one/c", "two/d"}},
		{"a group's own field", func(s string) string {
			return strings.Replace(s, "domains: [one.example.com]", "domains: [one.example.com]\n    hide_credentials: true", 1)
		}, []string{"two/d"}},
		{"a policy (outside the groups)", func(s string) string { return strings.Replace(s, "api_limit: 100", "api_limit: 101", 1) }, nil},
		{"an environment (outside the groups)", func(s string) string { return strings.Replace(s, "{name: BETA}", "{name: BETA}, {name: TEST}", 1) }, nil},
	}
	load := func(t *testing.T, load func(string, []byte, Options) (*model.Snapshot, error), src string) *model.Snapshot {
		t.Helper()
		snap, err := load("reuse", []byte(src), Options{})
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Parser
			first := load(t, p.Load, base)
			backends := map[*url.URL]bool{}
			for _, api := range first.APIs {
				for _, d := range api.Deployments {
					backends[d.Backend.URL] = true
				}
			}
			edited := tt.edit(base)
			second := load(t, p.Load, edited)
			if want := load(t, Load, edited); !reflect.DeepEqual(second, want) {
				t.Error("Parser.Load reusing API models differs from Load")
			}
			if !reflect.DeepEqual(first, load(t, Load, base)) {
				t.Error("the snapshot reused from was changed")
			}
			var reused []string
			for _, g := range second.Groups {
				for _, api := range g.APIs {
					if api.Digest.IsZero() {
						t.Errorf("API %s has no digest", api.Key())
					}
					// A reused API is shared unless policies bind it
					// (one/b: the throttle policy's, of this snapshot).
					if old := first.APIs[api.Key()]; old == api && api.ID == "one/b" {
						t.Error("one/b, bound to a policy, is shared with the previous snapshot")
					} else if old != nil && old.Digest == api.Digest && api.ID != "one/b" && old != api {
						t.Errorf("%s: reused but copied", api.Key())
					}
					if backends[api.Deployments[api.Environments[0]].Backend.URL] {
						reused = append(reused, api.Key())
					}
				}
			}
			if !slices.Equal(reused, tt.reused) {
				t.Errorf("reused %v, want %v", reused, tt.reused)
			}
			if d := second.LookupAPI("one/b", "RELEASE"); d == nil || d.Deployments["RELEASE"].Throttle == nil {
				t.Error("one/b lost its throttle policy binding")
			}
		})
	}
}

// TestOwnCopiesSharedAPI: a policy binding made to an API shared with a
// previous snapshot copies the API first: the previous snapshot is left
// as it was, and the copy replaces the shared API everywhere in the new
// one.
func TestOwnCopiesSharedAPI(t *testing.T) {
	const src = `
environments: [{name: BETA}]
groups:
  - name: g
    apis:
      - {name: a, path: /a, environments: [RELEASE, BETA], backend: {url: "http://10.0.0.1/a"}}
      - {name: b, path: /b, backend: {url: "http://10.0.0.1/b"}}
`
	var p Parser
	first, err := p.Load("own", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := p.Load("own", []byte(src), Options{})
	if err != nil {
		t.Fatal(err)
	}
	shared := first.APIs["g/a"]
	if second.APIs["g/a"] != shared {
		t.Fatal("the unchanged API is not shared")
	}
	b := &builder{snap: second, sharedAPIs: []*model.API{shared, first.APIs["g/b"]}}
	pol := &model.ThrottlePolicy{Name: "p"}
	for _, env := range []string{"BETA", "RELEASE", "BETA"} {
		d := b.own(shared.Deployments[env])
		if d == shared.Deployments[env] {
			t.Fatalf("%s: the shared deployment is returned for a binding", env)
		}
		d.Throttle = pol
	}
	c := second.APIs["g/a"]
	if c == shared || second.Groups[0].APIs[0] != c || b.definitions("g/a")[0] != c {
		t.Fatal("the copy does not replace the shared API in the snapshot")
	}
	if c.Deployments["BETA"].Throttle != pol || c.Deployments["RELEASE"].Throttle != pol {
		t.Error("the bindings are not on the copy")
	}
	for env, d := range shared.Deployments {
		if d.Throttle != nil {
			t.Errorf("%s: the previous snapshot's deployment was bound", env)
		}
	}
	if second.APIs["g/b"] != first.APIs["g/b"] {
		t.Error("an API no binding was made to is copied")
	}
}

// seqState is a configuration for TestParserLoadSequence: group g present
// when groups[g], API a of it when apis[g][a] >= 0 (its path version),
// with a variant in BETA when variant[g][a]; a throttle policy bound to
// g0/a0 when bind (outside the groups: every group's digest changes, and
// the bound API cannot be shared).
type seqState struct {
	groups  [4]bool
	apis    [4][6]int
	variant [4][6]bool
	bind    bool
}

// config is the configuration's text.
func (s seqState) config() string {
	var b strings.Builder
	b.WriteString("environments: [{name: BETA}]\nallow_empty: true\ngroups:\n")
	for g := range s.groups {
		if !s.groups[g] {
			continue
		}
		fmt.Fprintf(&b, "  - name: g%d\n    domains: [g%d.example.com]\n    apis:\n", g, g)
		for a, v := range s.apis[g] {
			if v < 0 {
				continue
			}
			envs := "[RELEASE, BETA]"
			if s.variant[g][a] {
				envs = "[RELEASE]"
			}
			fmt.Fprintf(&b, "      - {name: a%d, path: /a%d/v%d, auth: none, environments: %s, backend: {url: \"http://10.0.%d.%d\"}}\n", a, a, v, envs, g, a)
			if s.variant[g][a] {
				fmt.Fprintf(&b, "      - {name: a%d, path: /a%d/beta%d, auth: none, environments: [BETA], backend: {url: \"http://10.1.%d.%d\"}}\n", a, a, v, g, a)
			}
		}
	}
	if s.bind && s.groups[0] && s.apis[0][0] >= 0 {
		b.WriteString("throttle_policies:\n  - {name: std, unit: minute, api_limit: 100, bindings: [{api: g0/a0}]}\n")
	}
	return b.String()
}

// TestParserLoadSequence: a Parser's loads, each reusing the last one's
// models and its APIs map, equal fresh loads of the same text along random
// sequences of changes (APIs and groups added and removed, paths changed,
// variants added and removed, a binding outside the groups toggled), and
// a load leaves the previous snapshot as it was.
func TestParserLoadSequence(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var s seqState
	for g := range s.groups {
		s.groups[g] = g < 3
	}
	var p Parser
	var prev *model.Snapshot
	prevSrc := ""
	for step := 0; step < 400; step++ {
		g, a := rng.IntN(4), rng.IntN(6)
		switch r := rng.IntN(10); {
		case r == 0:
			s.groups[g] = !s.groups[g]
		case r == 1:
			s.bind = !s.bind
		case r < 4:
			s.variant[g][a] = !s.variant[g][a]
		case r < 6:
			if s.apis[g][a] < 0 {
				s.apis[g][a] = 0
			} else {
				s.apis[g][a] = -1
			}
		default:
			if s.apis[g][a] >= 0 {
				s.apis[g][a]++
			}
		}
		src := s.config()
		snap, err := p.Load("seq.yaml", []byte(src), Options{})
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		want, err := Load("seq.yaml", []byte(src), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(snap, want) {
			t.Fatalf("step %d: the incremental load differs from a fresh one:\n%s", step, src)
		}
		n := 0
		for _, api := range snap.APIs {
			if api.Variant == "" {
				n++
			}
		}
		for _, grp := range snap.Groups {
			for _, api := range grp.APIs {
				if snap.APIs[api.Key()] != api {
					t.Fatalf("step %d: APIs[%q] is not the model of group %s", step, api.Key(), grp.Name)
				}
			}
		}
		if snap.APICount() != n || len(snap.APIs) != len(want.APIs) {
			t.Fatalf("step %d: APICount %d, %d APIs; want %d, %d", step, snap.APICount(), len(snap.APIs), n, len(want.APIs))
		}
		if prev != nil {
			again, _ := Load("seq.yaml", []byte(prevSrc), Options{})
			if !reflect.DeepEqual(prev, again) {
				t.Fatalf("step %d: the load changed the previous snapshot", step)
			}
		}
		prev, prevSrc = snap, src
	}
}
