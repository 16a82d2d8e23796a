// Package soak runs the Check service under steady load while its
// configuration changes every 200 ms and (with Redis) the shared store
// restarts, and checks every decision; a delta xDS client checks every
// route configuration it receives. It is not part of the default test
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

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/envoycheck"
	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/internal/redistest"
	"github.com/apigwio/apigw/internal/server"
	"github.com/apigwio/apigw/xds"
)

// Three configurations take turns (A, C, B, A, ...). All have the API
// g/main, the app "stable" and the group "steady"; A and C also have the
// API g/extra (with another backend in C) and the app "temp". From A to C
// only group g changes (the xDS side reuses the translation of "steady");
// the other steps change apps too (everything is translated again).
const base = `
server: {grpc_address: "127.0.0.1:0", admin_address: "127.0.0.1:0"}
settings: {lockout: {max_failures: 5, duration: 1m}}
groups:
  - name: g
    apis:
      - {name: main, path: /main, auth: app, backend: {url: "http://10.0.0.1"}}
%s
  - name: steady
    domains: [steady.example.com]
    apis:
      - {name: one, path: /one, auth: none, backend: {url: "https://steady.internal/one"}}
      - {name: two, path: /two, auth: none, environments: [RELEASE], backend: {mock: {status: 204}}}
apps:
  - {name: stable, key: stable-key, secret: {value: stable-secret}, grants: [{api: g/*}]}
  - {name: burner, key: burner-key, secret: {value: burner-secret}, grants: [{api: g/*}]}
%s
`

var (
	cfgA = fmt.Sprintf(base, `      - {name: extra, path: /extra, auth: app, backend: {url: "http://10.0.0.1"}}`,
		`  - {name: temp, key: temp-key, secret: {value: temp-secret-1}, grants: [{api: g/*}]}`)
	cfgB = fmt.Sprintf(base, "", "")
	cfgC = fmt.Sprintf(base, `      - {name: extra, path: /extra, auth: app, backend: {url: "http://10.0.0.2"}}`,
		`  - {name: temp, key: temp-key, secret: {value: temp-secret-1}, grants: [{api: g/*}]}`)
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
	snapC, err := config.Load("C", []byte(cfgC), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	expect := map[string]func(probe) bool{
		snapA.Version: func(p probe) bool { return p.allowA },
		snapB.Version: func(p probe) bool { return p.allow },
		snapC.Version: func(p probe) bool { return p.allowA },
	}

	runtime.GC()
	baseGoroutines := runtime.NumGoroutine()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapAlloc

	dir := t.TempDir()
	path := filepath.Join(dir, "gw.yaml")
	writeFile(t, path, cfgA)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	xdsSrv := xds.NewServer(quiet, xds.Options{})
	srv, err := server.Start(context.Background(), server.Options{
		ConfigPath: path, RedisAddress: redisAddr, WatchInterval: 50 * time.Millisecond,
		Logger: quiet, XDS: xdsSrv,
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
				writeFile(t, path, []string{cfgC, cfgB, cfgA}[i%3])
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

	// A delta xDS client (like Envoy) ACKs every response and checks that
	// every route configuration it receives is exactly the translation of
	// A, B or C (the server sends it assembled from stored encodings).
	routes := map[string]*routev3.RouteConfiguration{
		snapA.Version: translateRoutes(t, snapA), snapB.Version: translateRoutes(t, snapB), snapC.Version: translateRoutes(t, snapC),
	}
	var routeUpdates, badRoutes atomic.Int64
	var lastRoutes atomic.Value
	adsCtx, adsCancel := context.WithCancel(context.Background())
	defer adsCancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(adsCtx)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{resourcev3.ClusterType, resourcev3.ListenerType, resourcev3.RouteType} {
		if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "soak"}, TypeUrl: typ}); err != nil {
			t.Fatal(err)
		}
	}
	adsDone := make(chan struct{})
	go func() {
		defer close(adsDone)
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			if resp.GetTypeUrl() == resourcev3.RouteType {
				for _, r := range resp.GetResources() {
					rc := &routev3.RouteConfiguration{}
					err := r.GetResource().UnmarshalTo(rc)
					known := false
					for _, want := range routes {
						known = known || proto.Equal(rc, want)
					}
					if err != nil || !known {
						badRoutes.Add(1)
					}
					lastRoutes.Store(rc)
					routeUpdates.Add(1)
				}
			}
			if stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()}) != nil {
				return
			}
		}
	}()

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
	// The client ends with the routes of the configuration in use.
	final := routes[srv.Reloader().Current().Version]
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if rc, _ := lastRoutes.Load().(*routev3.RouteConfiguration); proto.Equal(rc, final) {
			break
		}
	}
	if rc, _ := lastRoutes.Load().(*routev3.RouteConfiguration); !proto.Equal(rc, final) {
		t.Error("the xDS client did not end with the routes of the configuration in use")
	}
	adsCancel()
	<-adsDone
	conn.Close()
	st := srv.Reloader().Status()
	srv.Shutdown()
	t.Logf("xDS: %d route configurations received, %d not a translation of A, B or C", routeUpdates.Load(), badRoutes.Load())
	if badRoutes.Load() > 0 {
		t.Errorf("%d route configurations received were not the translation of either configuration", badRoutes.Load())
	}
	if routeUpdates.Load() < int64(st.Reloads/2) {
		t.Errorf("only %d route configurations received for %d reloads", routeUpdates.Load(), st.Reloads)
	}

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

// translateRoutes is the route configuration of snap.
func translateRoutes(t *testing.T, snap *model.Snapshot) *routev3.RouteConfiguration {
	t.Helper()
	res, err := xds.Translate(snap, xds.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Routes[0]
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
