package envoybin

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func executable(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestFindOrder: $ENVOY_BIN, then the project-local .tools/envoy, then PATH.
func TestFindOrder(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(root, "test", "e2e")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	pathDir := t.TempDir()
	t.Setenv("PATH", pathDir)
	t.Setenv("ENVOY_BIN", "")

	if bin, err := Find(); err == nil {
		t.Fatalf("Find() = %s with no Envoy anywhere", bin)
	} else if !strings.Contains(err.Error(), filepath.Join(root, ".tools", "envoy", "bin", "envoy")) {
		t.Errorf("error %q does not name the project-local path", err)
	}

	onPath := filepath.Join(pathDir, "envoy")
	executable(t, onPath)
	if bin, err := Find(); err != nil || bin != onPath {
		t.Errorf("Find() = %s, %v; want %s (PATH)", bin, err, onPath)
	}

	local := filepath.Join(root, ".tools", "envoy", "bin", "envoy")
	executable(t, local)
	if bin, err := Find(); err != nil || bin != local {
		t.Errorf("Find() = %s, %v; want %s (before PATH)", bin, err, local)
	}

	explicit := filepath.Join(t.TempDir(), "my-envoy")
	executable(t, explicit)
	t.Setenv("ENVOY_BIN", explicit)
	if bin, err := Find(); err != nil || bin != explicit {
		t.Errorf("Find() = %s, %v; want %s ($ENVOY_BIN first)", bin, err, explicit)
	}
	t.Setenv("ENVOY_BIN", filepath.Join(root, "missing"))
	if bin, err := Find(); err == nil {
		t.Errorf("Find() = %s for a missing $ENVOY_BIN, want an error", bin)
	}
}

// stopTB records how Require stops a test.
type stopTB struct {
	testing.TB
	how string
	msg string
}

type stopped struct{}

func (s *stopTB) Helper() {}
func (s *stopTB) Fatalf(f string, args ...any) {
	s.how, s.msg = "fatal", fmt.Sprintf(f, args...)
	panic(stopped{})
}
func (s *stopTB) Skipf(f string, args ...any) {
	s.how, s.msg = "skip", fmt.Sprintf(f, args...)
	panic(stopped{})
}

func require(tb *stopTB) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(stopped); !ok {
				panic(r)
			}
		}
	}()
	Require(tb)
}

// TestRequire: without Envoy the test skips, saying `make envoy` installs
// it; with APIGW_REQUIRE_ENVOY=1 it fails.
func TestRequire(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("PATH", t.TempDir())
	t.Setenv("ENVOY_BIN", "")
	for _, tt := range []struct{ env, how string }{{"", "skip"}, {"0", "skip"}, {"1", "fatal"}} {
		t.Setenv(RequireEnv, tt.env)
		tb := &stopTB{}
		require(tb)
		if tb.how != tt.how || !strings.Contains(tb.msg, "make envoy") {
			t.Errorf("%s=%q: %s %q, want %s mentioning make envoy", RequireEnv, tt.env, tb.how, tb.msg, tt.how)
		}
	}
}
