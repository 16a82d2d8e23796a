package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apigwio/apigw/internal/config"
)

const quickstart = "../../examples/quickstart/gateway.yaml"

// runCLI runs the command line with stdin and returns the exit code,
// stdout and stderr.
func runCLI(stdin string, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const badConfig = "groups: [{name: g, apis: [{name: a, path: x}]}]\n"

func TestCommands(t *testing.T) {
	bad := writeFile(t, "bad.yaml", badConfig)
	tests := []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"quickstart", []string{"validate", "--config", quickstart}, 0, "Envoy: 7 routes, 3 clusters, about 6 MiB of heap)", ""},
		{"positional", []string{"validate", quickstart}, 0, "OK (version", ""},
		{"bad config lists every problem", []string{"validate", "--config", bad}, 1, "", "groups[0].apis[0].path"},
		{"no file", []string{"validate"}, 2, "", "no configuration file"},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"suggestion", []string{"sgin"}, 2, "", "did you mean sign?"},
		{"unknown flag", []string{"validate", "--frob"}, 2, "", "unknown flag: --frob"},
		{"no command: help on stdout", nil, 0, "Usage:", ""},
		{"help", []string{"help"}, 0, "Exit codes:", ""},
		{"--help", []string{"--help"}, 0, "Exit codes:", ""},
		{"sign --help", []string{"sign", "--help"}, 0, "--data-file", ""},
		{"version", []string{"version"}, 0, "apigw dev (go", ""},
		{"--version", []string{"--version"}, 0, "apigw dev (go", ""},
		{"ratelimit-config", []string{"ratelimit-config", "--config", quickstart}, 0, "domain: apigw", ""},
		{"ratelimit-config from stdin", []string{"ratelimit-config", "--config", "-"}, 0, "domain: apigw", ""},
		{"ratelimit-config without --config", []string{"ratelimit-config"}, 2, "", `required flag(s) "config" not set`},
		{"serve without --config", []string{"serve"}, 2, "", `required flag(s) "config" not set`},
		{"serve bad --log-level", []string{"serve", "--config", quickstart, "--log-level", "loud"}, 2, "", `--log-level "loud"`},
		{"serve --memory-limit-ratio above 1", []string{"serve", "--config", quickstart, "--memory-limit-ratio", "1.5"}, 2, "", "--memory-limit-ratio 1.5: want a fraction from 0 (off) to 1"},
		{"serve --memory-limit-ratio negative", []string{"serve", "--config", quickstart, "--memory-limit-ratio=-0.1"}, 2, "", "--memory-limit-ratio -0.1"},
		{"serve --memory-limit-ratio NaN", []string{"serve", "--config", quickstart, "--memory-limit-ratio", "NaN"}, 2, "", "--memory-limit-ratio NaN: want a fraction"},
		{"bootstrap", []string{"bootstrap", "--xds-address", "10.0.0.1:18000"}, 0, "10.0.0.1", ""},
		{"bootstrap bad port", []string{"bootstrap", "--admin-port", "0"}, 2, "", "--admin-port 0 is out of range"},
		{"single-dash long flag", []string{"sign", "-url", "http://h/"}, 2, "", "-url: long flags take two dashes: --url"},
		{"single-dash long flag read as a shorthand", []string{"sign", "--url", "http://h/", "-data-file", "x"}, 2, "", "--data-file"},
		{"-d with --data-file", []string{"sign", "--url", "http://h/", "-d", "x", "--data-file", "y"}, 2, "", "--data and --data-file cannot be used together"},
		{"--explain with -o curl", []string{"sign", "--url", "http://h/", "--explain", "-o", "curl"}, 2, "", "--explain and --output cannot be used together"},
		{"sign bad -o", []string{"sign", "--url", "http://h/", "--key", "k", "--secret", "s", "-o", "xml"}, 2, "", `--output "xml"`},
		{"sign without --url", []string{"sign"}, 2, "", `required flag(s) "url" not set`},
		{"completion bash", []string{"completion", "bash"}, 0, "__apigw", ""},
		{"completion zsh", []string{"completion", "zsh"}, 0, "#compdef apigw", ""},
		{"completion fish", []string{"completion", "fish"}, 0, "complete -c apigw", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdin := ""
			if strings.Contains(tt.name, "stdin") {
				data, err := os.ReadFile(quickstart)
				if err != nil {
					t.Fatal(err)
				}
				stdin = string(data)
			}
			code, stdout, stderr := runCLI(stdin, tt.args...)
			if code != tt.code || !strings.Contains(stdout, tt.out) || !strings.Contains(stderr, tt.err) {
				t.Errorf("code %d stdout %q stderr %q; want %d, %q, %q", code, stdout, stderr, tt.code, tt.out, tt.err)
			}
			if tt.err == "" && stderr != "" {
				t.Errorf("unexpected stderr %q", stderr)
			}
			if tt.code == 2 && strings.Count(stderr, "\n") != 1 {
				t.Errorf("a usage error takes one line; stderr %q", stderr)
			}
		})
	}
	_, _, stderr := runCLI("", "validate", "--config", bad)
	if !strings.Contains(stderr, "groups[0].apis[0].backend: a backend is required") {
		t.Errorf("not every problem listed: %s", stderr)
	}
	if strings.Count(stderr, "refused") > 1 || strings.Count(stderr, "groups[0].apis[0].path") != 1 {
		t.Errorf("an error printed twice: %s", stderr)
	}
}

// TestValidateSeveralFiles: every file is checked and reported, and one
// invalid file makes the exit status 1, whichever way files are given.
func TestValidateSeveralFiles(t *testing.T) {
	bad := writeFile(t, "bad.yaml", badConfig)
	for _, args := range [][]string{
		{"validate", "--config", quickstart, bad},
		{"validate", quickstart, bad},
		{"validate", "--config", quickstart, "--config", bad},
		{"validate", "--config", bad, quickstart},
	} {
		code, stdout, stderr := runCLI("", args...)
		if code != 1 || !strings.Contains(stdout, "gateway.yaml: OK") || !strings.Contains(stderr, bad+": 2 problems") {
			t.Errorf("%v: code %d stdout %q stderr %q; want 1, the good file OK and the bad one refused", args, code, stdout, stderr)
		}
	}
	if code, stdout, _ := runCLI("", "validate", quickstart, "--config", quickstart); code != 0 || strings.Count(stdout, "OK") != 2 {
		t.Errorf("two valid files: code %d stdout %q", code, stdout)
	}
	if code, _, stderr := runCLI("", "validate", "-", "-"); code != 2 || !strings.Contains(stderr, "only once") {
		t.Errorf("stdin twice: code %d stderr %q", code, stderr)
	}
}

func TestJSONOutput(t *testing.T) {
	bad := writeFile(t, "bad.yaml", badConfig)
	code, stdout, stderr := runCLI("", "validate", "-o", "json", quickstart, bad)
	var vr validateReport
	if err := json.Unmarshal([]byte(stdout), &vr); err != nil || code != 1 || stderr != "" {
		t.Fatalf("validate -o json: code %d stdout %q stderr %q (%v)", code, stdout, stderr, err)
	}
	if vr.Valid || len(vr.Files) != 2 || !vr.Files[0].Valid || vr.Files[0].Counts.APIs != 3 || vr.Files[1].Valid ||
		vr.Files[1].File != bad || !slices.ContainsFunc(vr.Files[1].Problems, func(p problemReport) bool { return p.Path == "groups[0].apis[0].path" }) {
		t.Errorf("validate -o json: %+v", vr)
	}
	// The quickstart's Envoy cost: 7 routes, 3 clusters (xds.EnvoyMemory).
	if m := vr.Files[0].EnvoyMemory; m == nil || m.Routes != 7 || m.Clusters != 3 || m.Bytes < 6_000_000 || vr.Files[1].EnvoyMemory != nil {
		t.Errorf("validate -o json: envoy_memory %+v (invalid file: %+v)", m, vr.Files[1].EnvoyMemory)
	}
	// Field names are part of the interface.
	for _, name := range []string{`"valid"`, `"files"`, `"file"`, `"version"`, `"counts"`, `"access_keys"`, `"envoy_memory"`, `"per_worker_bytes"`, `"problems"`, `"path"`, `"message"`} {
		if !strings.Contains(stdout, name) {
			t.Errorf("validate -o json lacks %s", name)
		}
	}

	code, stdout, _ = runCLI("", "version", "-o", "json")
	var vi map[string]any
	if err := json.Unmarshal([]byte(stdout), &vi); err != nil || code != 0 || vi["version"] != "dev" || vi["go"] == "" {
		t.Errorf("version -o json: code %d %q (%v)", code, stdout, err)
	}

	sign := []string{"sign", "--url", "http://h/hello", "--key", "k1", "--secret", "secret-123", "--date", "20221208T015751Z"}
	_, headers, _ := runCLI("", sign...)
	for _, scheme := range []string{"SDK-HMAC-SHA256", "hmac-sha256"} {
		code, stdout, stderr = runCLI("", append(sign, "--scheme", scheme, "-o", "json")...)
		var sr signResult
		if err := json.Unmarshal([]byte(stdout), &sr); err != nil || code != 0 {
			t.Fatalf("sign -o json: code %d stdout %q stderr %q (%v)", code, stdout, stderr, err)
		}
		if sr.Method != "GET" || sr.URL != "http://h/hello" || sr.Signature == "" || sr.StringToSign == "" ||
			len(sr.SignedHeaders) == 0 || !strings.Contains(sr.Headers["Authorization"], sr.Signature) {
			t.Errorf("sign --scheme %s -o json: %+v", scheme, sr)
		}
		if scheme == "SDK-HMAC-SHA256" && !strings.Contains(headers, "Authorization: "+sr.Headers["Authorization"]) {
			t.Errorf("-o json and -o headers disagree:\n%s\n%+v", headers, sr)
		}
		if strings.Contains(stdout, "secret-123") {
			t.Error("sign -o json prints the secret")
		}
	}
}

// TestBadInput gives every command that reads a file garbage: each answers
// with one line on stderr and its documented exit status, and none panics.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	binary := filepath.Join(dir, "binary.yaml")
	if err := os.WriteFile(binary, []byte("\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe\n\x00garbage\x01\x02"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if f, err := os.Create(big); err != nil {
		t.Fatal(err)
	} else {
		f.Close()
	}
	if err := os.Truncate(big, config.MaxFileSize+1); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	unreadable := filepath.Join(dir, "unreadable.yaml")
	if err := os.WriteFile(unreadable, []byte("groups: []\n"), 0o000); err != nil {
		t.Fatal(err)
	}
	inputs := []struct{ name, path string }{
		{"binary file", binary},
		{"directory", dir},
		{"over the size limit", big},
		{"missing file", filepath.Join(dir, "missing.yaml")},
		{"unreadable file", unreadable},
		{"- with empty stdin", "-"},
	}
	commands := []struct {
		name string
		args func(path string) []string
		// code by input name; stderrEmpty: inputs the command accepts silently.
		code map[string]int
	}{
		{"validate", func(p string) []string { return []string{"validate", p} }, nil},
		{"validate --config", func(p string) []string { return []string{"validate", "--config", p} }, nil},
		{"ratelimit-config", func(p string) []string { return []string{"ratelimit-config", "--config", p} }, nil},
		{"serve", func(p string) []string { return []string{"serve", "--config", p, "--watch-interval", "0"} },
			map[string]int{"- with empty stdin": 2}},
		// A binary body is a body like any other; an empty one is signed
		// with a warning.
		{"sign", func(p string) []string {
			return []string{"sign", "--url", "http://h/", "--key", "k", "--secret", "s", "-X", "POST", "--data-file", p}
		}, map[string]int{"binary file": 0, "- with empty stdin": 0}},
		{"bootstrap", func(p string) []string { return []string{"bootstrap", p} }, map[string]int{"*": 2}},
		{"version", func(p string) []string { return []string{"version", p} }, map[string]int{"*": 2}},
	}
	root := os.Geteuid() == 0
	for _, c := range commands {
		for _, in := range inputs {
			t.Run(c.name+"/"+in.name, func(t *testing.T) {
				if in.path == unreadable && root {
					t.Skip("running as root, which reads a chmod 000 file anyway")
				}
				want, ok := c.code[in.name]
				if !ok {
					if want, ok = c.code["*"]; !ok {
						want = 1
					}
				}
				code, stdout, stderr := runCLI("", c.args(in.path)...)
				if code != want {
					t.Errorf("exit %d, want %d; stderr %q", code, want, stderr)
				}
				if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
					t.Fatalf("panicked: %s", stderr)
				}
				switch {
				case c.name == "sign" && in.name == "binary file":
					if stderr != "" || !strings.Contains(stdout, "Authorization: ") {
						t.Errorf("sign with a binary body: stdout %q stderr %q", stdout, stderr)
					}
				case strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "apigw "):
					t.Errorf("want one line on stderr, got %q", stderr)
				}
				if want != 0 && stdout != "" {
					t.Errorf("stdout on failure: %q", stdout)
				}
			})
		}
	}
}

// TestValidateWarnsOpenPrefixSharingBackend: a warning is printed (text on
// stderr, "warnings" in JSON) and the file is still valid (exit 0).
func TestValidateWarnsOpenPrefixSharingBackend(t *testing.T) {
	path := writeFile(t, "warn.yaml", `groups:
  - name: g
    apis:
      - {name: public, path: /public, match: prefix, auth: none, backend: {url: "http://svc:8080/public"}}
      - {name: admin, path: /admin, auth: app, backend: {url: "http://svc:8080/admin"}}
`)
	code, out, errOut := runCLI("", "validate", path)
	if code != 0 || !strings.Contains(out, "OK (version") || !strings.Contains(errOut, "warning: API g/public (prefix /public, auth none) shares backend svc:8080 with API g/admin") {
		t.Errorf("validate = %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	code, out, _ = runCLI("", "validate", "-o", "json", path)
	if code != 0 || !strings.Contains(out, `"warnings": [`) || !strings.Contains(out, `"valid": true`) {
		t.Errorf("validate -o json = %d\n%s", code, out)
	}
}
