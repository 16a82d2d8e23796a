// Package testbin finds the real programs tests start (redis-server,
// redis-cli, etcd), skips or fails a test that lacks one, and picks free
// loopback ports for them.
package testbin

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"testing"
)

// Find returns the program to run: the path in $envVar when it exists,
// else name on PATH, else the first of paths that exists. ok is false when
// none does.
func Find(envVar, name string, paths ...string) (path string, ok bool) {
	if p := os.Getenv(envVar); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	return "", false
}

// Missing skips t with msg (which says how to install the program), or
// fails it when $requireVar is 1 (CI: a missing program is a failure).
func Missing(t testing.TB, requireVar, msg string) {
	t.Helper()
	if os.Getenv(requireVar) == "1" {
		t.Fatalf("%s (and %s=1)", msg, requireVar)
	}
	t.Skip(msg)
}

// FreePort returns a TCP port free on 127.0.0.1 at the time of the call
// (callers retry when another process takes it meanwhile).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("no free loopback port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
