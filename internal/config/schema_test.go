package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// schemaBase is a valid configuration the cases below break; its lines
// are numbered for the expected positions.
const schemaBase = `settings:
  max_body_size: 2MB
groups:
  - name: demo
    domains: [demo.example.com]
    apis:
      - name: hello
        path: /hello
        auth: none
        backend: {url: "http://10.0.0.1"}
      - name: world
        method: POST
        path: /world
        auth: none
        backend:
          url: http://10.0.0.2
          timeout: 5s
`

// TestSchemaProblems: every problem of a file, of the schema or of the
// values, is listed at once as file:line:col: path: message.
func TestSchemaProblems(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []string // the problem lines, in order
	}{
		{
			name: "unknown key at depth, with a suggestion",
			in:   strings.Replace(schemaBase, "        method: POST", "        methd: POST", 1),
			want: []string{`gw.yaml:12:9: groups[0].apis[1].methd: unknown field; did you mean "method"?`},
		},
		{
			name: "camelCase typo suggested in camelCase",
			in:   strings.Replace(schemaBase, "max_body_size: 2MB", "maxBodySise: 2MB", 1),
			want: []string{`gw.yaml:2:3: settings.maxBodySise: unknown field; did you mean "maxBodySize"?`},
		},
		{
			name: "unknown key without a close field lists the fields",
			in:   strings.Replace(schemaBase, "max_body_size: 2MB", "colour: blue", 1),
			want: []string{`gw.yaml:2:3: settings.colour: unknown field (expected one of ` + settingsFieldNames() + `)`},
		},
		{
			name: "a string where a list is expected",
			in:   strings.Replace(schemaBase, "[demo.example.com]", "demo.example.com", 1),
			want: []string{`gw.yaml:5:14: groups[0].domains: expected a list of strings, got "demo.example.com"`},
		},
		{
			name: "a list where a mapping is expected",
			in:   strings.Replace(schemaBase, `backend: {url: "http://10.0.0.1"}`, `backend: ["http://10.0.0.1"]`, 1),
			want: []string{`gw.yaml:10:18: groups[0].apis[0].backend: expected a mapping (with keys such as url, channel, mock), got a list`},
		},
		{
			name: "bad enum value",
			in:   strings.Replace(schemaBase, "method: POST", "method: FETCH", 1),
			want: []string{`gw.yaml:12:17: groups[0].apis[1].method: "FETCH" is not one of GET, POST, PUT, DELETE, PATCH, HEAD, OPTIONS, ANY`},
		},
		{
			name: "a number where a string is expected",
			in:   strings.Replace(schemaBase, "name: demo", "name: 0123", 1),
			want: []string{`gw.yaml:4:11: groups[0].name: expected a string, got 0123; write it in quotes: "0123"`},
		},
		{
			name: "a word YAML reads as a boolean",
			in:   strings.Replace(schemaBase, "auth: none", "auth: no", 1),
			want: []string{`gw.yaml:9:15: groups[0].apis[0].auth: expected a string, got no (which YAML reads as false); write it in quotes: "no"`},
		},
		{
			name: "two schema problems and a semantic one, together, in file order",
			in: strings.NewReplacer("        method: POST", "        methd: POST", "[demo.example.com]", "demo.example.com",
				"path: /hello", "path: hello").Replace(schemaBase),
			want: []string{
				`gw.yaml:5:14: groups[0].domains: expected a list of strings, got "demo.example.com"`,
				`gw.yaml:8:15: groups[0].apis[0].path: "hello" must start with / and contain no query, fragment or spaces (at most 1024 bytes)`,
				`gw.yaml:12:9: groups[0].apis[1].methd: unknown field; did you mean "method"?`,
			},
		},
		{
			name: "the key spelt twice",
			in:   strings.Replace(schemaBase, "  max_body_size: 2MB\n", "  max_body_size: 2MB\n  maxBodySize: 3MB\n", 1),
			// YAML reaches the walker through JSON with sorted keys: the
			// second is the second in that order.
			want: []string{`gw.yaml:2:3: settings.max_body_size: set twice (also as "maxBodySize")`},
		},
		{
			name: "a semantic problem under a camelCase key keeps the user's spelling",
			in:   strings.Replace(schemaBase, "max_body_size: 2MB", "maxBodySize: 20GB", 1),
			want: []string{`gw.yaml:2:16: settings.maxBodySize: 21474836480 bytes is out of range (1048576-9999220736 bytes)`},
		},
		{
			name: "a missing field is placed at what should hold it",
			in:   strings.Replace(schemaBase, "        backend: {url: \"http://10.0.0.1\"}\n", "", 1),
			want: []string{`gw.yaml:7:9: groups[0].apis[0].backend: a backend is required (url, channel or mock)`},
		},
		{
			name: "a bare number duration asks for a unit",
			in:   strings.Replace(schemaBase, "timeout: 5s", "timeout: 5", 1),
			want: []string{`gw.yaml:17:20: groups[0].apis[1].backend.timeout: 5 has no unit; write "5s" (or "5000ms")`},
		},
		{
			name: "a quoted bare number duration too",
			in:   strings.Replace(schemaBase, "timeout: 5s", "timeout: '1.5'", 1),
			want: []string{`gw.yaml:17:20: groups[0].apis[1].backend.timeout: 1.5 has no unit; write "1.5s" (or "1500ms")`},
		},
		{
			name: "a wrong value dropped is not reported again by the validation",
			in:   strings.Replace(schemaBase, `backend: {url: "http://10.0.0.1"}`, `backend: "http://10.0.0.1"`, 1),
			want: []string{`gw.yaml:10:18: groups[0].apis[0].backend: expected a mapping (with keys such as url, channel, mock), got "http://10.0.0.1"`},
		},
		{
			name: "only one of a oneof",
			in:   schemaBase + "apps:\n  - {name: a, key: k, secret: {value: 0123456789abc, file: /s}}\n",
			want: []string{`gw.yaml:19:32: apps[0].secret.value: set only one of value, env, file (file is set too)`},
		},
		{
			name: "not a mapping",
			in:   "- groups\n",
			want: []string{`gw.yaml:1:1: the file must be a mapping of sections (server, listener, settings, environments, groups, ...), not a list`},
		},
		{
			name: "YAML syntax error",
			in:   "settings:\n\tmax_body_size: 2MB\n",
			want: []string{`gw.yaml:2:1: not valid YAML or JSON: found character that cannot start any token`},
		},
		{
			name: "JSON, lines of the file",
			in: `{
  "settings": {"max_body_size": "2MB", "maxUriSize": "4KB"},
  "groups": [
    {
      "name": "demo",
      "apis": [
        {"name": "a", "path": "/a", "auth": "none", "backend": {"url": "http://10.0.0.1"}},
        {"name": "b", "methd": "GET", "path": "b", "websocket": "yes", "auth": "none", "backend": {"url": "http://10.0.0.1"}}
      ],
      "domains": "demo.example.com"
    }
  ]
}`,
			want: []string{
				`gw.yaml:8:23: groups[0].apis[1].methd: unknown field; did you mean "method"?`,
				`gw.yaml:8:47: groups[0].apis[1].path: "b" must start with / and contain no query, fragment or spaces (at most 1024 bytes)`,
				`gw.yaml:8:65: groups[0].apis[1].websocket: expected true or false, got "yes"`,
				`gw.yaml:10:18: groups[0].domains: expected an array of strings, got "demo.example.com"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, parse := range []string{"Load", "Parser.Load"} {
				var err error
				if parse == "Load" {
					_, err = Load("gw.yaml", []byte(tt.in), Options{})
				} else {
					var p Parser
					_, err = p.Load("gw.yaml", []byte(tt.in), Options{})
				}
				var cerr *Error
				if !errors.As(err, &cerr) {
					t.Fatalf("%s: want *config.Error, got %v", parse, err)
				}
				lines := strings.Split(cerr.Error(), "\n  ")[1:]
				if strings.Join(lines, "\n") != strings.Join(tt.want, "\n") {
					t.Errorf("%s: problems\n%s\nwant\n%s", parse, strings.Join(lines, "\n"), strings.Join(tt.want, "\n"))
				}
			}
		})
	}
}

// TestPlainNumberSizes: sizes may be plain numbers of bytes, in YAML and
// in JSON, whole or split by group.
func TestPlainNumberSizes(t *testing.T) {
	for _, in := range []string{
		strings.Replace(schemaBase, "max_body_size: 2MB", "max_body_size: 2097152\n  max_uri_size: 4096", 1),
		`{"settings": {"max_body_size": 2097152, "maxUriSize": "4KB"}, "groups": [{"name": "g", "apis": [{"name": "a", "path": "/a", "auth": "none", "backend": {"url": "http://10.0.0.1"}}]}]}`,
	} {
		var p Parser
		for _, load := range []func(string, []byte, Options) (*model.Snapshot, error){Load, p.Load} {
			snap, err := load("gw", []byte(in), Options{})
			if err != nil {
				t.Fatalf("%s: %v", in, err)
			}
			if snap.Settings.MaxBodyBytes != 2097152 || snap.Settings.MaxURIBytes != 4096 {
				t.Errorf("%s: sizes %d and %d", in, snap.Settings.MaxBodyBytes, snap.Settings.MaxURIBytes)
			}
		}
	}
}

// TestUnitHint: a duration without a unit gets the hint (0 is a
// duration in Go, refused where durations must be positive).
func TestUnitHint(t *testing.T) {
	for in, want := range map[string]string{
		"5":    `5 has no unit; write "5s" (or "5000ms")`,
		"0.25": `0.25 has no unit; write "0.25s" (or "250ms")`,
		"5x":   `"5x" is not a duration`,
		"1e3":  `"1e3" is not a duration`,
		"0":    `"0" must be positive`,
	} {
		_, err := parseDuration(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseDuration(%q) = %v, want %q", in, err, want)
		}
	}
}

// FuzzSchemaWalker: the walker accepts exactly what protojson accepts
// (besides plain numbers for sizes and durations): on a document protojson
// decodes, it finds nothing and decodes the same message; when it finds
// nothing, protojson decodes what it kept. It never panics, and places
// problems in the document as written.
func FuzzSchemaWalker(f *testing.F) {
	data, _ := os.ReadFile(filepath.Join("..", "..", "examples", "quickstart", "gateway.yaml"))
	f.Add(data)
	f.Add([]byte(schemaBase))
	f.Add([]byte(`{"settings":{"max_body_size":1,"maxBodySize":"2"},"apps":[{"secret":{"value":"a","env":null,"file":"x"}}],"environments":[{"variables":{"a":"b","a":"c"}}]}`))
	f.Add([]byte("groups:\n- name: a\n  x: &y {}\n- name: b\n  <<: *y\n  domains: [1, true, null]\n"))
	f.Add([]byte(`{"listener":{"port":"1e2","xffNumTrustedHops":-1},"groups":[null,{"apis":{}}],"x\u00e9":"\ud800"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > 1<<16 {
			return
		}
		js, isJSON := in, isJSONObject(in)
		if !isJSON {
			var err error
			if js, err = yaml.YAMLToJSON(in); err != nil {
				return
			}
		}
		e := decodeSlow(in, js, isJSON)
		for _, p := range e.problems {
			if strings.HasPrefix(p.Message, "does not match the schema") {
				t.Fatalf("walker accepted what protojson refuses: %s\n%s", p.Message, in)
			}
		}
		want := &configv1.Gateway{}
		if protojson.Unmarshal(js, want) == nil {
			if len(e.problems) != 0 {
				t.Fatalf("protojson accepts %s, the walker says %v", js, e.problems)
			}
			if !proto.Equal(e.gw, want) {
				t.Fatalf("protojson and the walker decode %s differently:\n%v\n%v", js, want, e.gw)
			}
		}
		_ = positions(in)
	})
}

// settingsFieldNames lists Settings' fields as the walker names them, in
// declaration order (so adding a setting does not break the test).
func settingsFieldNames() string {
	fields := (&configv1.Settings{}).ProtoReflect().Descriptor().Fields()
	names := make([]string, fields.Len())
	for i := range names {
		names[i] = string(fields.Get(i).Name())
	}
	return strings.Join(names, ", ")
}
