package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/apigwio/apigw/internal/redistest"
)

// TestStartPortInUseLeaksNothing starts the service on a gRPC or admin
// address already bound by another listener: Start fails naming the
// address, and closes what it had opened (the token verifier's refresh
// loop, the Redis client and its connections, the other listener), so no
// goroutine is left behind.
func TestStartPortInUseLeaksNothing(t *testing.T) {
	rdb := redistest.Start(t)
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	jwksPath := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(jwksPath, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "gw.yaml")
	write(t, path, fmt.Sprintf(`
server: {grpc_address: "127.0.0.1:0", admin_address: "127.0.0.1:0"}
token_issuers:
  - {name: corp, issuer: "https://id.example.com", jwks_file: %q}
groups:
  - name: g
    apis:
      - {name: t, path: /t, auth: token, token_issuers: [corp], backend: {url: "http://10.0.0.1"}}
`, jwksPath))
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()

	for _, tt := range []struct {
		name string
		o    Options
		want string
	}{
		{"grpc", Options{GRPCAddress: addr}, "gRPC listener on " + addr},
		{"admin", Options{AdminAddress: addr}, "admin listener on " + addr},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			o.ConfigPath, o.WatchInterval, o.RedisAddress = path, -1, rdb.Addr
			o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			before := countGoroutines()
			s, err := Start(context.Background(), o)
			if err == nil {
				s.Shutdown()
				t.Fatal("Start succeeded on an address in use")
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "address already in use") {
				t.Fatalf("error %q does not name %s", err, tt.want)
			}
			if after := settledGoroutines(before); after > before {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines before Start, %d after it failed (expirable LRU cleanups aside):\n%s", before, after, buf[:runtime.Stack(buf, true)])
			}
			// The other address was released: binding it again works.
			if tt.name == "admin" {
				s, err := Start(context.Background(), Options{ConfigPath: path, WatchInterval: -1, Logger: o.Logger})
				if err != nil {
					t.Fatalf("a second Start after the failure: %v", err)
				}
				s.Shutdown()
			}
		})
	}
}

// settledGoroutines counts goroutines, waiting up to 2 s for the count to
// drop to target (goroutines that were told to stop take a moment to
// return). It leaves out the cleanup goroutine of every
// golang-lru/v2/expirable cache: that version has no way to stop it (its
// done channel is never closed), so each lockout store leaks one for the
// life of the process, whether Start fails or not.
func settledGoroutines(target int) int {
	deadline := time.Now().Add(2 * time.Second)
	for {
		n := countGoroutines()
		if n <= target || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func countGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.HasPrefix(g, "goroutine ") && !strings.Contains(g, "golang-lru/v2/expirable.NewLRU") {
			count++
		}
	}
	return count
}
