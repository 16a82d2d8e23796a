package main

import (
	"strings"
	"testing"
	"time"
)

// TestServeStoreCommandLine: the store flags need --store, and a URL that
// is not etcd:// is a usage error; a store that
// cannot be reached at start fails with one line naming it (exit 1), after
// the start timeout.
func TestServeStoreCommandLine(t *testing.T) {
	local := writeFile(t, "local.yaml", "server: {grpc_address: \"127.0.0.1:0\", admin_address: \"127.0.0.1:0\"}\n")
	for _, flag := range []string{"--store-user=u", "--replica-id=r", "--store-ca=ca.pem", "--store-start-timeout=1s"} {
		code, _, stderr := runCLI("", "serve", "--config", local, flag)
		if code != 2 || !strings.Contains(stderr, "needs --store") {
			t.Errorf("serve %s without --store: exit %d, %q", flag, code, stderr)
		}
	}
	code, _, stderr := runCLI("", "serve", "--config", local, "--store", "http://127.0.0.1:1/apigw")
	if code != 2 || !strings.Contains(stderr, "--store: store URL must start with etcd://") {
		t.Errorf("serve with a bad store URL: exit %d, %q", code, stderr)
	}
	t.Setenv("APIGW_STORE_PASSWORD", "")
	start := time.Now()
	code, _, stderr = runCLI("", "serve", "--config", local, "--store", "etcd://127.0.0.1:1/apigw", "--store-start-timeout", "500ms", "--log-level", "error")
	if code != 1 || time.Since(start) > 10*time.Second {
		t.Fatalf("serve with an unreachable store: exit %d after %v, %q", code, time.Since(start), stderr)
	}
	last := strings.TrimSpace(stderr[strings.LastIndex(strings.TrimSpace(stderr), "\n")+1:])
	if !strings.Contains(last, "release store etcd://127.0.0.1:1/apigw unavailable") {
		t.Fatalf("last line: %q\n%s", last, stderr)
	}
}
