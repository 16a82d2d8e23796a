package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateWarnings: a valid file with a questionable setting is valid
// (exit 0), with the warning on stderr (text) or in "warnings" (json).
func TestValidateWarnings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	cfg := `
groups:
  - name: g
    error_dialect: tencent
    replay_protection: {window: 2h}
    apis:
      - {name: a, path: /a, auth: app, backend: {url: "http://10.0.0.1"}}
`
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := validate([]string{path}, "text", nil, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errb.String(), "warning: groups[0].replay_protection.window: 2h0m0s is longer than 30m0s") {
		t.Errorf("stderr = %q", errb.String())
	}
	out.Reset()
	errb.Reset()
	if err := validate([]string{path}, "json", nil, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"warnings": [`) || errb.Len() != 0 {
		t.Errorf("json: stdout %s, stderr %q", out.String(), errb.String())
	}
}
