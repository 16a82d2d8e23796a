// Package soak runs the Check service under steady load while its
// configuration changes every 200 ms and (with Redis) the shared store
// restarts, and checks every decision. It is not part of the default test
// run: `make soak` (APIGW_SOAK=1, optionally APIGW_SOAK_DURATION=60s).
package soak

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/apigwio/apigw/config"
	"github.com/apigwio/apigw/internal/envoycheck"
	"github.com/apigwio/apigw/ratelimit/redistest"
	"github.com/apigwio/apigw/server"
	"github.com/apigwio/apigw/signing"
)

// Two configurations alternate. Both have the API g/main and the app
// "stable"; only A has the API g/extra and the app "temp".
const base = `
server: {grpc_address: "127.0.0.1:0", admin_address: "127.0.0.1:0"}
settings: {lockout: {max_failures: 5, duration: 1m}}
groups:
  - name: g
    apis:
      - {name: main, path: /main, auth: app, backend: {url: "http://10.0.0.1"}}
%s
apps:
  - {name: stable, key: stable-key, secret: {value: stable-secret}, grants: [{api: g/*}]}
  - {name: burner, key: burner-key, secret: {value: burner-secret}, grants: [{api: g/*}]}
%s
`

var (
	cfgA = fmt.Sprintf(base, `      - {name: extra, path: /extra, auth: app, backend: {url: "http://10.0.0.1"}}`,
		`  - {name: temp, key: temp-key, secret: {value: temp-secret-1}, grants: [{api: g/*}]}`)
	cfgB = fmt.Sprintf(base, "", "")
)

// probe is one kind of request and its expected decision per config.
type probe struct {
	name          string
	api           string
	key, secret   string
	allowA, allow bool // allowB in allow
}

var probes = []probe{
	{"stable on main", "g/main", "stable-key", "stable-secret", true, true},
	{"temp on main", "g/main", "temp-key", "temp-secret-1", true, false},
	{"stable on extra", "g/extra", "stable-key", "stable-secret", true, false},
	{"bad signature", "g/main", "burner-key", "not-the-secret", false, false},
}

func TestSoak(t *testing.T) {
	if os.Getenv("APIGW_SOAK") == "" {
		t.Skip("soak test: run with `make soak` (APIGW_SOAK=1)")
	}
	duration := 60 * time.Second
	if d, err := time.ParseDuration(os.Getenv("APIGW_SOAK_DURATION")); err == nil {
		duration = d
	}
	var redisAddr string
	var rdb *redistest.Server
	if _, ok := redistest.Binary(); ok {
		rdb = redistest.Start(t)
		redisAddr = rdb.Addr
	}
	snapA, err := config.Load("A", []byte(cfgA), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	snapB, err := config.Load("B", []byte(cfgB), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	expect := map[string]func(probe) bool{
		snapA.Version: func(p probe) bool { return p.allowA },
		snapB.Version: func(p probe) bool { return p.allow },
	}

	runtime.GC()
	baseGoroutines := runtime.NumGoroutine()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapAlloc

	dir := t.TempDir()
	path := filepath.Join(dir, "gw.yaml")
	writeFile(t, path, cfgA)
	srv, err := server.Start(context.Background(), server.Options{
		ConfigPath: path, RedisAddress: redisAddr, WatchInterval: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(srv.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	client := authv3.NewAuthorizationClient(conn)
	version := func() string { return srv.Reloader().Current().Version }

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var wg sync.WaitGroup

	// Rewrite the configuration every 200 ms.
	var flips atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				next := cfgA
				if i%2 == 0 {
					next = cfgB
				}
				writeFile(t, path, next)
				flips.Add(1)
			}
		}
	}()
	// Restart Redis once, halfway.
	if rdb != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-ctx.Done():
			case <-time.After(duration / 2):
				rdb.Stop()
				time.Sleep(500 * time.Millisecond)
				rdb.Restart()
			}
		}()
	}

	var total, wrong, rpcErrors atomic.Int64
	var firstWrong atomic.Value
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; ctx.Err() == nil; i++ {
				p := probes[i%len(probes)]
				req := signed(t, p)
				before := version()
				rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
				resp, err := client.Check(rctx, req)
				rcancel()
				after := version()
				if err != nil {
					rpcErrors.Add(1)
					continue
				}
				total.Add(1)
				allowed := resp.GetOkResponse() != nil
				if allowed != expect[before](p) && allowed != expect[after](p) {
					wrong.Add(1)
					firstWrong.CompareAndSwap(nil, fmt.Sprintf("%s: allowed=%v (versions %s..%s) %s", p.name, allowed, before, after, resp.GetDeniedResponse().GetBody()))
				}
				if !allowed {
					if body := resp.GetDeniedResponse().GetBody(); !strings.Contains(body, `"error_code":"APIG.0`) {
						wrong.Add(1)
						firstWrong.CompareAndSwap(nil, "undocumented answer: "+body)
					}
				}
			}
		}(w)
	}
	wg.Wait()
	conn.Close()
	st := srv.Reloader().Status()
	srv.Shutdown()

	t.Logf("%d decisions in %s (%.0f/s), %d config flips, %d reloads, %d refused, %d gRPC errors",
		total.Load(), duration, float64(total.Load())/duration.Seconds(), flips.Load(), st.Reloads, st.Failures, rpcErrors.Load())
	if wrong.Load() > 0 {
		t.Errorf("%d wrong decisions; first: %v", wrong.Load(), firstWrong.Load())
	}
	if rpcErrors.Load() > 0 || st.Failures > 0 {
		t.Errorf("%d gRPC errors, %d refused reloads", rpcErrors.Load(), st.Failures)
	}
	if st.Reloads < int(flips.Load()/2) {
		t.Errorf("only %d reloads for %d flips", st.Reloads, flips.Load())
	}

	// Goroutines and heap back to their baseline once everything stopped.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseGoroutines+5 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > baseGoroutines+5 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d after, %d before\n%s", g, baseGoroutines, buf[:runtime.Stack(buf, true)])
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("heap: %d KiB before, %d KiB after", baseHeap>>10, ms.HeapAlloc>>10)
	if ms.HeapAlloc > baseHeap+32<<20 {
		t.Errorf("heap grew from %d to %d bytes", baseHeap, ms.HeapAlloc)
	}
}

func signed(t *testing.T, p probe) *authv3.CheckRequest {
	r, _ := http.NewRequest("GET", "http://gw.example.com/"+strings.TrimPrefix(p.api, "g/"), nil)
	if err := signing.SignRequest(r, nil, signing.SignOptions{Access: p.key, Secret: p.secret}); err != nil {
		t.Error(err)
	}
	return envoycheck.FromHTTP(r, nil, p.api, "RELEASE")
}

func writeFile(t *testing.T, path, s string) {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(s), 0o600); err != nil {
		t.Error(err)
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Error(err)
	}
}
