package server

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/internal/envoycheck"
)

const benchCfg = `
server: {grpc_address: "127.0.0.1:0", admin_address: "127.0.0.1:0"}
settings: {throttling: {default_disabled: true}}
groups:
  - name: bench
    apis:
      - {name: app, method: POST, path: /app, auth: app, backend: {url: "http://127.0.0.1:9"}}
      - {name: open, method: GET, path: /open, auth: none, backend: {url: "http://127.0.0.1:9"}}
apps:
  - {name: bench-app, key: bench-app-key-0001, secret: {value: bench-app-secret-0001}, grants: [{api: bench/*}]}
`

// cpuTime is the process's user and system CPU time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCheckOverGRPC is loadbench's app1k, none and app64k in one
// process:
// 50 callers on 2 loopback connections against the server Start serves,
// the variants of the Check path side by side (pooled: decoded into
// pooled requests, as served; new: a new message per request). cpu-µs/op
// is the process's CPU per Check, the client's included (the same in
// every variant); compare variants with benchstat on interleaved -count
// runs.
func BenchmarkCheckOverGRPC(b *testing.B) {
	path := filepath.Join(b.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte(benchCfg), 0o600); err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"data":"` + strings.Repeat("x", 1024-11) + `"}`)
	hr, _ := http.NewRequest("POST", "http://bench.example.com/app?a=1&b=two", nil)
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("X-Trace-Id", "bench")
	if err := signing.SignRequest(hr, body, signing.SignOptions{Access: "bench-app-key-0001", Secret: "bench-app-secret-0001", Time: time.Now()}); err != nil {
		b.Fatal(err)
	}
	body64 := []byte(`{"data":"` + strings.Repeat("x", 64<<10-11) + `"}`)
	hr64, _ := http.NewRequest("POST", "http://bench.example.com/app?a=1&b=two", nil)
	hr64.Header.Set("Content-Type", "application/json")
	if err := signing.SignRequest(hr64, body64, signing.SignOptions{Access: "bench-app-key-0001", Secret: "bench-app-secret-0001", Time: time.Now()}); err != nil {
		b.Fatal(err)
	}
	open, _ := http.NewRequest("GET", "http://bench.example.com/open", nil)
	requests := []struct {
		name string
		req  *authv3.CheckRequest
	}{
		{"app1k", envoycheck.FromHTTP(hr, body, "bench/app", "RELEASE")},
		{"none", envoycheck.FromHTTP(open, nil, "bench/open", "RELEASE")},
		{"app64k", envoycheck.FromHTTP(hr64, body64, "bench/app", "RELEASE")},
	}
	for _, variant := range []string{"pooled", "new"} {
		pooledCheckRequests = variant == "pooled"
		s, err := Start(context.Background(), Options{ConfigPath: path, WatchInterval: -1, ShutdownTimeout: time.Second, Logger: slog.New(slog.DiscardHandler)})
		pooledCheckRequests = true
		if err != nil {
			b.Fatal(err)
		}
		var clients []authv3.AuthorizationClient
		for range 2 {
			conn, err := grpc.NewClient(s.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			clients = append(clients, authv3.NewAuthorizationClient(conn))
		}
		for _, r := range requests {
			b.Run(r.name+"/check="+variant, func(b *testing.B) {
				b.SetParallelism((50 + 1) / 2) // 50 callers on 2 cores
				cpu0 := cpuTime(b)
				var next atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					client := clients[next.Add(1)%int64(len(clients))]
					for pb.Next() {
						resp, err := client.Check(context.Background(), r.req)
						if err != nil || resp.GetOkResponse() == nil {
							b.Errorf("Check: %v %v", err, resp)
							return
						}
					}
				})
				b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
			})
		}
		s.Shutdown()
	}
}
