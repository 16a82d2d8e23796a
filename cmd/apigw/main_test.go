package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateCommand(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("groups: [{name: g, apis: [{name: a, path: x}]}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{
		{"quickstart", []string{"validate", "--config", "../../examples/quickstart/gateway.yaml"}, 0, "OK (version", ""},
		{"bad config lists every problem", []string{"validate", "--config", bad}, 1, "", "groups[0].apis[0].path"},
		{"missing flag", []string{"validate"}, 1, "", "--config is required"},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"no command", nil, 2, "", "Usage: apigw"},
		{"help", []string{"help"}, 0, "", "sign"},
		{"version", []string{"version"}, 0, "apigw dev", ""},
		{"ratelimit-config", []string{"ratelimit-config", "--config", "../../examples/quickstart/gateway.yaml"}, 0, "domain: apigw", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.code || !strings.Contains(stdout.String(), tt.out) || !strings.Contains(stderr.String(), tt.err) {
				t.Errorf("code %d stdout %q stderr %q; want %d, %q, %q", code, stdout.String(), stderr.String(), tt.code, tt.out, tt.err)
			}
		})
	}
	var stderr bytes.Buffer
	run([]string{"validate", "--config", bad}, &bytes.Buffer{}, &stderr)
	if !strings.Contains(stderr.String(), "groups[0].apis[0].backend: a backend is required") {
		t.Errorf("not every problem listed: %s", stderr.String())
	}
}
