// Command reloadbench measures how fast a one-API change of a realistic
// configuration (internal/benchconfig) takes effect in a running apigw, and
// what apigw's memory is at ready and after the reloads:
//
//	make bench-reload                              # 10,000 APIs, 30 changes
//	make bench-reload APIS=100000 CHANGES=10
//	go run ./test/bench/reloadbench -apis 10000 -changes 30 -heap heap.pb.gz
//
// It starts bin/apigw serve (its own process) on the generated file, and
// subscribes a delta ADS client (listeners, clusters, routes: what Envoy
// asks for; every response ACKed) and a Check client. Each change
// switches one more app-signed API to auth none (benchconfig.ChangedAPI):
// the new file is written to a temporary name and renamed over the
// configuration (as deployment tools do); from the rename it times
//
//   - xds: until the delta client has received the new route
//     configuration;
//   - check: until Check allows an unsigned request to that API (it is
//     asked every millisecond; before the change it is refused);
//   - envoy (with -envoy): until a real Envoy, on the bootstrap `apigw
//     bootstrap` prints, has applied the new route configuration (its
//     rds update_success counter, read every 2 ms), with Envoy's CPU time
//     per change and its memory; a rejected configuration fails the run.
//
// It prints each change, then the median, p99 (nearest rank) and range of
// both, and the server's VmRSS and VmHWM (/proc) once ready and after the
// changes, each with a breakdown of where the RSS goes (the binary's
// pages and anonymous memory from /proc; the Go heap's spans in use and
// the bytes allocated in them, memory freed but not returned, stacks and
// the runtime's own structures from the memstats on /metrics). The
// server's environment is this command's (GOGC, GOMEMLIMIT).
//
// Two more figures of the performance issue:
//
//   - idle: once ready, the server's CPU time (/proc utime + stime) per
//     second over -idle with nothing changing (file events on, polling at
//     -watch-interval, the product's default 1 s), and its VmRSS before
//     and after;
//   - admin: during each change, from the rename until both results are
//     seen, /debug/reload is asked every 2 ms and /debug/config once
//     (the whole body read), by a child process of this command (-probe
//     process, the default; -probe inline times them in this process,
//     where the delta client's decoding of each route configuration
//     delays them too); it prints the p99 and slowest answer of
//     each as this client saw them, /debug/config's time when nothing
//     reloads, for comparison, and the server's own time in the handlers
//     over the measured changes (the apigw_admin_request_duration_seconds
//     histogram: how many answers, how many within 10 ms, the bucket of
//     the p99 and of the slowest). -delta=false leaves the delta client
//     out, which otherwise decodes each route configuration on the same
//     machine.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/apigwio/apigw/internal/benchconfig"
	"github.com/apigwio/apigw/internal/envoybin"
	"github.com/apigwio/apigw/internal/model"
)

func main() {
	var o benchconfig.Options
	flag.IntVar(&o.APIs, "apis", 10000, "APIs")
	flag.IntVar(&o.Groups, "groups", 10, "API groups")
	flag.IntVar(&o.Apps, "apps", 500, "apps")
	flag.IntVar(&o.IAMUsers, "iam-users", 200, "IAM users")
	changes := flag.Int("changes", 30, "measured one-API changes")
	warmup := flag.Int("warmup", 2, "changes made first and not counted")
	pause := flag.Duration("pause", 500*time.Millisecond, "pause after each change")
	apigwBin := flag.String("apigw", "bin/apigw", "apigw binary")
	heap := flag.String("heap", "", "write the server's heap profile (after the changes, forced GC) to this file, and the one once ready (read after the RSS) to this name with .ready.pb.gz")
	cpu := flag.String("cpu", "", "write a CPU profile of the server during the measured changes (the first cpu-seconds) to this file")
	cpuSeconds := flag.Int("cpu-seconds", 15, "length of the CPU profile")
	trace := flag.String("trace", "", "write a runtime trace of the server during the measured changes (the first trace-seconds) to this file (go tool trace FILE)")
	traceSeconds := flag.Int("trace-seconds", 5, "length of the runtime trace")
	settle := flag.Duration("settle", 2*time.Second, "wait after ready and after the changes before reading the RSS")
	idle := flag.Duration("idle", 10*time.Second, "measure the server's CPU and RSS while nothing changes for this long, once ready (0: not)")
	port := flag.Int("port", 18400, "the server's gRPC port (the admin port is the next one)")
	watchInterval := flag.String("watch-interval", "1s", "the server's --watch-interval (polling fallback; file events are on too)")
	delta := flag.Bool("delta", true, "subscribe the delta xDS client; without it each change waits for Check's decision only (no xds figure), and the client's decoding of each route configuration (105 MB at 100,000 APIs) no longer competes with the server for the CPU")
	probeIn := flag.String("probe", "process", "where the admin answers are timed: process (a child process of this command, as an operator's client is: not slowed by this command's delta client decoding each route configuration) or inline (a goroutine of this command, as before session 9)")
	envoyBin := flag.String("envoy", "", "also run a real Envoy on apigw's bootstrap (its admin on -port+2) and time each change until Envoy has applied the new route configuration, with Envoy's CPU and memory: the Envoy binary, or \"auto\" for the one the tests use (ENVOY_BIN, .tools/envoy, PATH)")
	envoyConcurrency := flag.Int("envoy-concurrency", 2, "-envoy: Envoy's worker threads")
	envoyMaxHeap := flag.Uint64("envoy-max-heap", 0, "-envoy: the bootstrap's --max-heap-bytes (0: apigw bootstrap's default, 1 GiB, which 100,000 APIs exceed)")
	changeLimit := flag.Duration("change-limit", time.Minute, "how long a change may take to be seen (by every client measured) before the run fails")
	probeChildURL := flag.String("probe-child", "", "internal: run as the admin prober of that admin URL (see -probe)")
	flag.Parse()
	if *probeChildURL != "" {
		runProbeChild(*probeChildURL)
		return
	}
	o.GRPCAddress, o.AdminAddress = fmt.Sprintf("127.0.0.1:%d", *port), fmt.Sprintf("127.0.0.1:%d", *port+1)

	dir, err := os.MkdirTemp("", "reloadbench")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "gw.yaml")
	var buf bytes.Buffer
	if err := benchconfig.Write(&buf, o); err != nil {
		fail(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		fail(err)
	}
	fmt.Printf("configuration: %d APIs in %d groups, %d apps, %d IAM users, %.1f MB YAML\n", nz(o.APIs, 10000), nz(o.Groups, 10), nz(o.Apps, 500), nz(o.IAMUsers, 200), float64(buf.Len())/1e6)

	args := []string{"serve", "--config", path, "--log-level", "warn", "--watch-interval", *watchInterval}
	if *heap != "" || *cpu != "" || *trace != "" {
		args = append(args, "--pprof")
	}
	cmd := exec.Command(*apigwBin, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		fail(err)
	}
	child = cmd
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	if err := waitReady("http://"+o.AdminAddress+"/readyz", 5*time.Minute); err != nil {
		fail(err)
	}
	fmt.Printf("ready after %.1f s\n", time.Since(start).Seconds())
	time.Sleep(*settle)
	rss, hwm := memory(cmd.Process.Pid)
	fmt.Printf("memory once ready (+%v): VmRSS %.1f MiB, VmHWM %.1f MiB\n", *settle, rss, hwm)
	fmt.Printf("  %s\n", breakdown(cmd.Process.Pid, "http://"+o.AdminAddress+"/metrics"))
	if *idle > 0 {
		cpu0, t0 := cpuTime(cmd.Process.Pid), time.Now()
		time.Sleep(*idle)
		cpu1, elapsed := cpuTime(cmd.Process.Pid), time.Since(t0)
		after, _ := memory(cmd.Process.Pid)
		fmt.Printf("idle %v (polling every %s): CPU %.2f ms per second; VmRSS %.1f -> %.1f MiB\n",
			*idle, *watchInterval, ms(cpu1-cpu0)/elapsed.Seconds(), rss, after)
	}
	adminURL := "http://" + o.AdminAddress
	var prober *adminProber
	switch *probeIn {
	case "process":
		if prober, err = startProber(adminURL); err != nil {
			fail(err)
		}
		defer prober.close()
	case "inline":
	default:
		fail(fmt.Errorf("-probe %q: want process or inline", *probeIn))
	}
	configIdle, err := timeGet(adminURL + "/debug/config")
	if err != nil {
		fail(err)
	}
	if *heap != "" {
		ready := strings.TrimSuffix(*heap, ".pb.gz") + ".ready.pb.gz"
		if err := fetch("http://"+o.AdminAddress+"/debug/pprof/heap?gc=1", ready); err != nil {
			fail(err)
		}
		fmt.Printf("heap profile once ready: %s\n", ready)
	}

	conn, err := grpc.NewClient(o.GRPCAddress, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30)),
		// Envoy's default HTTP/2 windows (256 MiB).
		grpc.WithInitialWindowSize(256<<20), grpc.WithInitialConnWindowSize(256<<20))
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	var routes <-chan time.Time // nil without the delta client: never ready
	if *delta {
		if routes, err = deltaClient(conn); err != nil {
			fail(err)
		}
		select {
		case <-routes:
		case <-time.After(time.Minute):
			fail(errors.New("no initial route configuration"))
		}
	}
	check := authv3.NewAuthorizationClient(conn)

	var env *envoyProc
	var envoyRSS0 float64
	if *envoyBin != "" {
		bin := *envoyBin
		if bin == "auto" {
			if bin, err = envoybin.Find(); err != nil {
				fail(err)
			}
		}
		t0 := time.Now()
		if env, err = startEnvoy(bin, dir, o.GRPCAddress, *port+2, *envoyConcurrency, *envoyMaxHeap, 10*time.Minute); err != nil {
			fail(err)
		}
		envoyChild = env
		defer env.stop()
		time.Sleep(*settle)
		envoyRSS0, _ = memory(env.cmd.Process.Pid)
		fmt.Printf("Envoy applied its first configuration after %.1f s; VmRSS %.1f MiB (+%v)\n", time.Since(t0).Seconds(), envoyRSS0, *settle)
	}

	var xdsMs, checkMs, loadMs, applyMs, envoyMs, envoyCPUMs []float64
	var reloadAnswers, configAnswers []float64
	var handled0 map[string][]bucket
	profiled, traced := make(chan error, 1), make(chan error, 1)
	for k := 1; k <= *warmup+*changes; k++ {
		if k == *warmup+1 && *cpu != "" {
			go func() {
				profiled <- fetch(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", o.AdminAddress, *cpuSeconds), *cpu)
			}()
		}
		if k == *warmup+1 && *trace != "" {
			go func() {
				traced <- fetch(fmt.Sprintf("http://%s/debug/pprof/trace?seconds=%d", o.AdminAddress, *traceSeconds), *trace)
			}()
		}
		if k == *warmup+1 {
			handled0 = adminHistogram(adminURL + "/metrics")
		}
		o.Changes = k
		buf.Reset()
		if err := benchconfig.Write(&buf, o); err != nil {
			fail(err)
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
			fail(err)
		}
		api := benchconfig.ChangedAPI(o, k)
		if ok, err := allowed(check, api); err != nil || ok {
			fail(fmt.Errorf("change %d: %s allowed before the change (%v)", k, api.ID, err))
		}
		for len(routes) > 0 {
			<-routes
		}
		ctx, cancel := context.WithTimeout(context.Background(), *changeLimit)
		t0 := time.Now()
		checked := make(chan time.Duration, 1)
		go func() {
			for ctx.Err() == nil {
				if ok, _ := allowed(check, api); ok {
					checked <- time.Since(t0)
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		envoyApplied := make(chan time.Time, 1)
		var envoyCPU0 time.Duration
		if env != nil {
			applied, err := env.counter(rdsApplied)
			if err != nil {
				fail(err)
			}
			envoyCPU0 = cpuTime(env.cmd.Process.Pid)
			go func() {
				if at, err := env.waitAbove(ctx, rdsApplied, applied); err == nil {
					envoyApplied <- at
				}
			}()
		}
		probed := make(chan probe, 1)
		if prober != nil {
			if err := prober.start(); err != nil {
				fail(err)
			}
		} else {
			go func() { probed <- probeAdmin(ctx, adminURL) }()
		}
		if err := os.Rename(tmp, path); err != nil {
			fail(err)
		}
		var dx, dc, de time.Duration
		for (*delta && dx == 0) || dc == 0 || (env != nil && de == 0) {
			select {
			case at := <-envoyApplied:
				de = at.Sub(t0)
			case at := <-routes:
				if dx == 0 {
					dx = at.Sub(t0)
				}
			case d := <-checked:
				dc = d
			case <-ctx.Done():
				fail(fmt.Errorf("change %d (%s): not seen within %v (xds %v, check %v, envoy %v)", k, api.ID, *changeLimit, dx, dc, de))
			}
		}
		cancel()
		var slowest probe
		if prober != nil {
			if slowest, err = prober.stop(); err != nil {
				fail(err)
			}
		} else {
			slowest = <-probed
		}
		st := reloadStatus("http://" + o.AdminAddress + "/debug/reload")
		counted := k > *warmup
		tag := "warm-up"
		if counted {
			tag = fmt.Sprintf("%d", k-*warmup)
			xdsMs = append(xdsMs, ms(dx))
			checkMs = append(checkMs, ms(dc))
			loadMs = append(loadMs, st.Load)
			applyMs = append(applyMs, st.Apply)
			reloadAnswers = append(reloadAnswers, slowest.Reload...)
			configAnswers = append(configAnswers, slowest.Config)
		}
		envoyNote := ""
		if env != nil {
			envoyNote = fmt.Sprintf("  envoy %7.1f ms", ms(de))
		}
		fmt.Printf("change %-7s %-10s xds %6.1f ms  check %6.1f ms%s  (load %5.1f ms, apply %5.1f ms)\n", tag, api.ID, ms(dx), ms(dc), envoyNote, st.Load, st.Apply)
		time.Sleep(*pause)
		if env != nil && counted {
			envoyMs = append(envoyMs, ms(de))
			// Envoy's CPU from the change until the next one (the pause).
			envoyCPUMs = append(envoyCPUMs, ms(cpuTime(env.cmd.Process.Pid)-envoyCPU0))
		}
	}
	fmt.Printf("\n%d changes, %d APIs:\n", *changes, nz(o.APIs, 10000))
	summary("file -> delta client", xdsMs)
	summary("file -> Check decision", checkMs)
	summary("  load (read, parse, validate)", loadMs)
	summary("  apply (stage, translate, publish)", applyMs)
	if env != nil {
		summary("file -> Envoy applied the routes", envoyMs)
		summary("  Envoy CPU per change", envoyCPUMs)
		rejected, err := env.counter(rdsRejected)
		if err != nil || rejected != 0 {
			fail(fmt.Errorf("envoy rejected %d route configurations (%v); its log: %s", rejected, err, env.log))
		}
		rss, hwm := memory(env.cmd.Process.Pid)
		fmt.Printf("Envoy memory: VmRSS %.1f MiB once ready, %.1f MiB after the changes (VmHWM %.1f MiB)\n", envoyRSS0, rss, hwm)
	}
	handled := adminHistogram(adminURL + "/metrics")
	fmt.Printf("admin during the changes (client side, %d and %d answers): /debug/reload p99 %.1f ms, slowest %.1f ms (asked every 2 ms); /debug/config p99 %.1f ms, slowest %.1f ms (%.1f ms with nothing reloading)\n",
		len(reloadAnswers), len(configAnswers), p99(reloadAnswers), slices.Max(append(reloadAnswers, 0)), p99(configAnswers), slices.Max(append(configAnswers, 0)), ms(configIdle))
	for _, path := range []string{"GET /debug/reload", "GET /debug/config"} {
		fmt.Printf("admin during the changes (in the server's handler): %s %s\n", path, histogramDelta(handled0[path], handled[path]))
	}
	if *cpu != "" {
		if err := <-profiled; err != nil {
			fail(err)
		}
		fmt.Printf("CPU profile: %s\n", *cpu)
	}
	if *trace != "" {
		if err := <-traced; err != nil {
			fail(err)
		}
		fmt.Printf("runtime trace: %s (go tool trace %s)\n", *trace, *trace)
	}
	time.Sleep(*settle)
	rss, hwm = memory(cmd.Process.Pid)
	fmt.Printf("memory after the changes (+%v): VmRSS %.1f MiB, VmHWM %.1f MiB\n", *settle, rss, hwm)
	fmt.Printf("  %s\n", breakdown(cmd.Process.Pid, adminURL+"/metrics"))
	if *heap != "" {
		if err := fetch("http://"+o.AdminAddress+"/debug/pprof/heap?gc=1", *heap); err != nil {
			fail(err)
		}
		fmt.Printf("heap profile: %s (go tool pprof -top -inuse_space %s)\n", *heap, *heap)
	}
}

func nz(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// deltaClient subscribes like Envoy over delta ADS (listeners, clusters,
// routes), ACKs every response, and sends the arrival time of each route
// response.
func deltaClient(conn *grpc.ClientConn) (<-chan time.Time, error) {
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(context.Background())
	if err != nil {
		return nil, err
	}
	var mu sync.Mutex
	send := func(r *discoveryv3.DeltaDiscoveryRequest) error {
		mu.Lock()
		defer mu.Unlock()
		return stream.Send(r)
	}
	node := &corev3.Node{Id: "reloadbench", Cluster: "reloadbench"}
	for _, typ := range []string{resourcev3.ListenerType, resourcev3.ClusterType, resourcev3.RouteType} {
		if err := send(&discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: typ}); err != nil {
			return nil, err
		}
	}
	routes := make(chan time.Time, 16)
	go func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				return
			}
			at := time.Now()
			_ = send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: r.GetTypeUrl(), ResponseNonce: r.GetNonce()})
			if r.GetTypeUrl() == resourcev3.RouteType {
				select {
				case routes <- at:
				default:
				}
			}
		}
	}()
	return routes, nil
}

// allowed asks Check about an unsigned request to api in RELEASE.
func allowed(c authv3.AuthorizationClient, api benchconfig.API) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		ContextExtensions: map[string]string{model.ContextKeyAPI: api.ID, model.ContextKeyEnv: "RELEASE"},
		Source:            &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: "192.0.2.10"}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: api.Method, Path: api.Path, Host: "g.example.com", Protocol: "HTTP/1.1",
			Headers: map[string]string{"x-request-id": "reloadbench", "content-type": "application/json"},
		}},
	}})
	if err != nil {
		return false, err
	}
	return resp.GetStatus().GetCode() == int32(codes.OK), nil
}

type status struct {
	Load  float64 `json:"load_ms"`
	Apply float64 `json:"apply_ms"`
}

func reloadStatus(url string) status {
	var st status
	resp, err := http.Get(url)
	if err != nil {
		return st
	}
	defer resp.Body.Close()
	_ = json.NewDecoder(resp.Body).Decode(&st)
	return st
}

func waitReady(url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready within %v", url, limit)
}

// memory returns VmRSS and VmHWM of pid in MiB.
func memory(pid int) (rss, hwm float64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm
}

func fetch(url, file string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// cpuTime is the CPU time (user + system, all threads) of process pid so
// far, from /proc/PID/stat (clock ticks of 10 ms: USER_HZ is 100 on
// Linux).
func cpuTime(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		fail(err)
	}
	// The fields after the command name (which may hold spaces) in
	// parentheses; utime and stime are fields 14 and 15 of the line.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		fail(fmt.Errorf("/proc/%d/stat: %q", pid, data))
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// timeGet is how long GET url takes, the whole body read.
func timeGet(url string) (time.Duration, error) {
	t0 := time.Now()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return time.Since(t0), nil
}

// probe is what probeAdmin saw, in ms.
type probe struct {
	Reload []float64 `json:"reload"`
	Config float64   `json:"config"`
}

// probeAdmin asks /debug/config once and /debug/reload every 2 ms until
// ctx ends, and returns the time of each answer.
func probeAdmin(ctx context.Context, base string) (seen probe) {
	config := make(chan time.Duration, 1)
	go func() {
		d, err := timeGet(base + "/debug/config")
		if err != nil {
			fail(err)
		}
		config <- d
	}()
	for ctx.Err() == nil {
		d, err := timeGet(base + "/debug/reload")
		if err != nil {
			fail(err)
		}
		seen.Reload = append(seen.Reload, ms(d))
		time.Sleep(2 * time.Millisecond)
	}
	seen.Config = ms(<-config)
	return seen
}

// p99 is the nearest-rank 99th percentile of v (0 when empty).
func p99(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[int(math.Ceil(0.99*float64(len(s))))-1]
}

// bucket is one cumulative bucket of a Prometheus histogram.
type bucket struct {
	le    float64 // upper bound, seconds (+Inf included)
	count float64
}

// adminHistogram reads the server's apigw_admin_request_duration_seconds
// buckets by path from its /metrics.
func adminHistogram(url string) map[string][]bucket {
	resp, err := http.Get(url)
	if err != nil {
		fail(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		fail(err)
	}
	out := map[string][]bucket{}
	const prefix = `apigw_admin_request_duration_seconds_bucket{`
	for _, line := range strings.Split(string(body), "\n") {
		rest, ok := strings.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		labels, value, _ := strings.Cut(rest, "} ")
		var path, le string
		for _, kv := range strings.Split(labels, `",`) {
			k, v, _ := strings.Cut(kv, "=")
			v = strings.Trim(v, `"`)
			switch k {
			case "path":
				path = v
			case "le":
				le = v
			}
		}
		b, err1 := strconv.ParseFloat(le, 64)
		n, err2 := strconv.ParseFloat(value, 64)
		if err1 != nil || err2 != nil {
			fail(fmt.Errorf("/metrics: %q", line))
		}
		out[path] = append(out[path], bucket{b, n})
	}
	return out
}

// histogramDelta describes the answers counted between two readings of
// one path's buckets: how many, how many within 10 ms, and the bucket
// holding the p99 and the slowest.
func histogramDelta(before, after []bucket) string {
	count := func(bs []bucket, le float64) float64 {
		for _, b := range bs {
			if b.le == le {
				return b.count
			}
		}
		return 0
	}
	total := count(after, math.Inf(1)) - count(before, math.Inf(1))
	if total == 0 {
		return "no answers"
	}
	within := count(after, 0.01) - count(before, 0.01)
	upTo := func(share float64) string {
		prev := 0.0
		for _, b := range after {
			n := b.count - count(before, b.le)
			if n >= share*total {
				if math.IsInf(b.le, 1) {
					return fmt.Sprintf("> %g ms", prev*1000)
				}
				return fmt.Sprintf("%g-%g ms", prev*1000, b.le*1000)
			}
			prev = b.le
		}
		return "?"
	}
	return fmt.Sprintf("%.0f answers, %.0f (%.1f %%) within 10 ms, p99 in %s, slowest in %s", total, within, 100*within/total, upTo(0.99), upTo(1))
}

// summary prints the median, the p99 (nearest rank: of 30 values, the
// largest) and the range of v.
func summary(name string, v []float64) {
	if len(v) == 0 {
		return
	}
	s := slices.Clone(v)
	slices.Sort(s)
	median := s[len(s)/2]
	if len(s)%2 == 0 {
		median = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	p99 := s[int(math.Ceil(0.99*float64(len(s))))-1]
	fmt.Printf("%-36s median %6.1f ms  p99 %6.1f ms  range %.1f-%.1f ms\n", name, median, p99, s[0], s[len(s)-1])
}

// child is the apigw process, stopped by fail.
var child *exec.Cmd

// envoyChild is the Envoy of -envoy, which fail stops too.
var envoyChild *envoyProc

func fail(err error) {
	fmt.Fprintln(os.Stderr, "reloadbench:", err)
	if child != nil && child.Process != nil {
		_ = child.Process.Kill()
		_ = child.Wait()
	}
	if envoyChild != nil {
		envoyChild.stop()
	}
	os.Exit(1)
}
