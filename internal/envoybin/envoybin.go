// Package envoybin finds the Envoy binary for the tests that run a real
// Envoy, the same way everywhere (scripts/quickstart.sh looks in the same
// order):
//
//  1. $ENVOY_BIN;
//  2. <repository root>/.tools/envoy/bin/envoy, where `make envoy`
//     (scripts/install-envoy.sh) installs the version of envoy/VERSION;
//  3. envoy on PATH.
//
// Require skips the test when none is found, or fails it when
// APIGW_REQUIRE_ENVOY=1 (as .ci/run sets), so that a CI run without Envoy
// cannot pass by skipping the real-Envoy tests.
package envoybin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RequireEnv is the environment variable that turns a missing Envoy into a
// test failure.
const RequireEnv = "APIGW_REQUIRE_ENVOY"

// Find returns the Envoy binary: $ENVOY_BIN (which must exist), else the
// project-local one under .tools/envoy, else envoy on PATH. The error says
// where it looked.
func Find() (string, error) {
	if bin := os.Getenv("ENVOY_BIN"); bin != "" {
		if _, err := exec.LookPath(bin); err != nil {
			return "", fmt.Errorf("ENVOY_BIN=%s: %w", bin, err)
		}
		return bin, nil
	}
	var local string
	if root, ok := repoRoot(); ok {
		local = filepath.Join(root, ".tools", "envoy", "bin", "envoy")
		if fi, err := os.Stat(local); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return local, nil
		}
	}
	if bin, err := exec.LookPath("envoy"); err == nil {
		return bin, nil
	}
	if local == "" {
		local = "<repository root>/.tools/envoy/bin/envoy"
	}
	return "", fmt.Errorf("no Envoy binary: ENVOY_BIN unset, no %s, no envoy on PATH", local)
}

// Require returns the Envoy binary for t. Without one it skips t with a
// line saying how to install it, or fails t when $APIGW_REQUIRE_ENVOY is 1.
func Require(t testing.TB) string {
	t.Helper()
	bin, err := Find()
	if err == nil {
		return bin
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%v (%s=1: a real Envoy is required; `make envoy` installs it)", err, RequireEnv)
	}
	t.Skipf("%v: `make envoy` installs it (%s=1 makes this a failure)", err, RequireEnv)
	return ""
}

// repoRoot is the nearest directory at or above the working directory (a
// test's package directory) that holds go.mod.
func repoRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}
