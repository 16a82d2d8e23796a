// Package soak runs the Check service under steady load while its
// configuration changes every 200 ms — among the changes, half-written
// files (a writer pausing mid-file) and empty files —, the shared store
// (Redis) is killed and restarted, and bursts of malformed requests
// arrive; it checks every decision, and a delta xDS client checks every
// route configuration it receives (never an empty or partial one). It is not part of the default test
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
	// The versions a decision may be made under: the one in use, and the
	// one being applied (Check switches to it before the reloader reports
	// it in use).
	versions := func() []string {
		st := srv.Reloader().Status()
		return []string{st.Version, st.Applying}
	}

	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var wg sync.WaitGroup

	// Rewrite the configuration every 200 ms. Every fifth write is a fault:
	// in turn, an empty file (truncated in place, as `: > gw.yaml` does)
	// followed 100 ms later by the next configuration, and a file written
	// in place in two chunks with a 100 ms pause between them (the first
	// chunk parses: a prefix of whole groups).
	var flips, emptyWrites, halfWrites atomic.Int64
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
				next := []string{cfgC, cfgB, cfgA}[i%3]
				switch i % 10 {
				case 4:
					writeInPlace(t, path, "", "", 0)
					emptyWrites.Add(1)
					time.Sleep(100 * time.Millisecond)
					writeFile(t, path, next)
				case 9:
					cut := strings.Index(next, "  - name: steady")
					writeInPlace(t, path, next[:cut], next[cut:], 100*time.Millisecond)
					halfWrites.Add(1)
				default:
					writeFile(t, path, next)
				}
				flips.Add(1)
			}
		}
	}()
	// Kill Redis (SIGKILL: no goodbye to its clients) at a third of the run
	// and at two thirds, and restart it 500 ms later each time.
	var redisKills atomic.Int64
	if rdb != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, at := range []time.Duration{duration / 3, duration / 3} {
				select {
				case <-ctx.Done():
					return
				case <-time.After(at):
					rdb.Stop() // SIGKILL
					redisKills.Add(1)
					time.Sleep(500 * time.Millisecond)
					rdb.Restart()
				}
			}
		}()
	}
	// A burst of malformed requests every second: each must get a
	// documented APIG answer (never a gRPC error, never an allow).
	var malformed, malformedBad atomic.Int64
	var firstMalformed atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				for _, req := range malformedRequests() {
					rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
					resp, err := client.Check(rctx, req)
					rcancel()
					malformed.Add(1)
					if err != nil || resp.GetOkResponse() != nil || !strings.Contains(resp.GetDeniedResponse().GetBody(), `"error_code":"APIG.0`) {
						malformedBad.Add(1)
						firstMalformed.CompareAndSwap(nil, fmt.Sprintf("%v %v", err, resp))
					}
				}
			}
		}
	}()

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
						if badRoutes.Add(1) == 1 && os.Getenv("APIGW_SOAK_DEBUG") != "" {
							for v, want := range routes {
								t.Logf("bad route config vs %s:\n got %v\nwant %v", v, rc, want)
							}
						}
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

	var total, wrong, rpcErrors, unknownVersions atomic.Int64
	var firstWrong atomic.Value
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; ctx.Err() == nil; i++ {
				p := probes[i%len(probes)]
				req := signed(t, p)
				before := versions()
				rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
				resp, err := client.Check(rctx, req)
				rcancel()
				after := versions()
				if err != nil {
					rpcErrors.Add(1)
					continue
				}
				total.Add(1)
				allowed := resp.GetOkResponse() != nil
				// Every version seen around the decision must be one of
				// the three configurations ("" is no reload in progress).
				var seen []string
				for _, v := range append(before, after...) {
					if v == "" {
						continue
					}
					if expect[v] == nil {
						unknownVersions.Add(1)
					}
					seen = append(seen, v)
				}
				right := false
				for _, v := range seen {
					if f := expect[v]; f != nil && allowed == f(p) {
						right = true
					}
					// An API the last reload removed is still decided by the
					// configuration before it for authz.RemovalGrace (Envoy
					// may still route it): g/extra is absent from B only.
					if v == snapB.Version && p.api == "g/extra" && allowed == p.allowA {
						right = true
					}
				}
				if !right {
					wrong.Add(1)
					firstWrong.CompareAndSwap(nil, fmt.Sprintf("%s: allowed=%v (versions %v..%v) %s", p.name, allowed, before, after, resp.GetDeniedResponse().GetBody()))
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

	t.Logf("%d decisions in %s (%.0f/s), %d wrong, %d config flips (%d empty files, %d half-written files), %d reloads, %d refused, %d gRPC errors, %d decisions under a version other than A, B or C",
		total.Load(), duration, float64(total.Load())/duration.Seconds(), wrong.Load(), flips.Load(), emptyWrites.Load(), halfWrites.Load(),
		st.Reloads, st.Failures, rpcErrors.Load(), unknownVersions.Load())
	t.Logf("faults: Redis killed %d times; %d malformed requests, %d not answered with an APIG error", redisKills.Load(), malformed.Load(), malformedBad.Load())
	if wrong.Load() > 0 {
		t.Errorf("%d wrong decisions; first: %v", wrong.Load(), firstWrong.Load())
	}
	if unknownVersions.Load() > 0 {
		t.Errorf("%d decisions made under a configuration other than A, B or C (an empty or partial file was published)", unknownVersions.Load())
	}
	if malformedBad.Load() > 0 {
		t.Errorf("%d malformed requests not answered with a documented APIG error; first: %v", malformedBad.Load(), firstMalformed.Load())
	}
	if rpcErrors.Load() > 0 {
		t.Errorf("%d gRPC errors", rpcErrors.Load())
	}
	// Refusals: the empty files the reloader read (an empty file replaced
	// 100 ms later may be read or not); nothing else is refused.
	if st.Failures > int(emptyWrites.Load()) {
		t.Errorf("%d refused reloads for %d empty files: something else was refused (%s)", st.Failures, emptyWrites.Load(), st.LastError)
	}
	if st.Reloads < int(flips.Load()/2) {
		t.Errorf("only %d reloads for %d flips", st.Reloads, flips.Load())
	}

	// Goroutines and heap back to their baseline once everything stopped.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseGoroutines+5 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("goroutines: %d before, %d after", baseGoroutines, runtime.NumGoroutine())
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

// writeInPlace truncates path and writes first, then, after pause, rest,
// then closes it: an editor's in-place save, interrupted.
func writeInPlace(t *testing.T, path, first, rest string, pause time.Duration) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	if _, err := f.WriteString(first); err != nil {
		t.Error(err)
	}
	time.Sleep(pause)
	if _, err := f.WriteString(rest); err != nil {
		t.Error(err)
	}
}

// malformedRequests are CheckRequests a hostile or broken client (or a
// misconfigured Envoy) could cause.
func malformedRequests() []*authv3.CheckRequest {
	ext := map[string]string{model.ContextKeyAPI: "g/main", model.ContextKeyEnv: "RELEASE"}
	httpReq := func(h *authv3.AttributeContext_HttpRequest) *authv3.CheckRequest {
		return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{ContextExtensions: ext,
			Request: &authv3.AttributeContext_Request{Http: h}}}
	}
	return []*authv3.CheckRequest{
		{}, // no attributes at all
		{Attributes: &authv3.AttributeContext{ContextExtensions: ext}}, // no request
		httpReq(&authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/main", Host: "gw.example.com",
			Headers: map[string]string{"authorization": "SDK-HMAC-SHA256 Access=, SignedHeaders=, Signature=", "x-sdk-date": "yesterday"}}),
		httpReq(&authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/main?" + strings.Repeat("%zz&", 2000), Host: "gw.example.com",
			Headers: map[string]string{"authorization": strings.Repeat("SDK-HMAC-SHA256 ", 500)}}),
		httpReq(&authv3.AttributeContext_HttpRequest{Method: "\x00", Path: "", Host: "",
			Headers: map[string]string{"authorization": "SDK-HMAC-SHA256 Access=stable-key, SignedHeaders=host;x-sdk-date, Signature=zz", "x-sdk-date": "20221208T015751Z"}}),
		{Attributes: &authv3.AttributeContext{ContextExtensions: map[string]string{model.ContextKeyAPI: strings.Repeat("x", 1<<16)},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/main"}}}},
	}
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
