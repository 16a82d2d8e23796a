// Command envoybench is a load benchmark of HTTP requests through a real
// Envoy to an echo backend (examples/echo), in three set-ups measured one
// after the other:
//
//	envoy        Envoy alone: a static bootstrap with the listener and the
//	             route to the echo backend, no ext_authz;
//	envoy-noop   the same static bootstrap plus the ext_authz filter (gRPC,
//	             body buffered as bytes) pointing at the no-op Check server
//	             (test/bench/noopauthz, a default grpc-go server);
//	envoy-apigw  Envoy configured over xDS by `apigw serve` (bootstrap from
//	             `apigw bootstrap`) on a configuration with one app-signed
//	             API whose backend is the echo server.
//
// and, on request (-setups), diagnostic ones:
//
//	apigw-xds-noop  Envoy configured by apigw as in envoy-apigw, but its
//	             Check calls go to the no-op server (server.advertise_address
//	             points the apigw_authz cluster at it): Envoy's cost of
//	             apigw's configuration without apigw's Check.
//	static-NAME  Envoy on the bootstrap DIR/NAME.yaml (-static-dir DIR),
//	             as given, with the no-op Check server: a static copy of
//	             apigw's configuration (from Envoy's /config_dump while
//	             apigw-xds-noop runs, with -keep) edited one element at a
//	             time, to count what each element costs with -instructions.
//
// Every request is an app-signed POST with a 1 KiB JSON body; N distinct
// requests are signed up front (authz/signing; signatures stay valid for
// the 15-minute clock skew) and the load generator, wrk, cycles through
// them with a Lua script. wrk must be installed (Debian: apt-get install -y
// wrk). Every non-2xx answer or socket error fails the run.
//
//	make bench-envoy                                 # builds everything and runs this
//	make bench-envoy DURATION=20s CONNECTIONS=50 ROUNDS=2
//
// Each set-up runs with its processes started fresh, a warm-up, then the
// measured run; rounds alternate the order (A B C, then C B A). It prints
// requests/s, wrk's p50/p99 latency, and the CPU seconds per request of
// Envoy, of the Check server (no-op or apigw), of the echo backend and of
// wrk, read from /proc/<pid>/stat (utime+stime) before and after the
// measured run. Everything listens on 127.0.0.1 only, on ports
// 18400-18405 (-port-base moves them).
//
// With -instructions N, each set-up is measured by Envoy's instruction
// count instead of wrk: Envoy runs under valgrind's callgrind
// (instrumentation off until the measurement), gets 50 warm-up requests,
// then N sequential requests of the same pre-signed set on one connection,
// and the report gives Envoy's instructions per request and its ratio to
// envoy-noop. Unlike CPU time on a shared machine, the count moves by
// well under 1 % between runs, so a change to apigw's configuration or
// answer worth 1 % of Envoy's work is visible in one run:
//
//	make bench-envoy ENVOYBENCH_FLAGS="-instructions 400 -rounds 1 -envoy-concurrency 1 -setups envoy-noop,apigw-xds-noop,envoy-apigw"
//
// (valgrind must be installed: apt-get install -y valgrind).
//
// OPA-Envoy (issue 16 asks for it in the same harness, if it can be built
// with go install from the Go module proxy) is not among the set-ups: its
// module, github.com/open-policy-agent/opa-envoy-plugin, could not be
// fetched here (proxy.golang.org answered 403 "This module version is not
// available" for @latest and for the version list, 2026-11-30).
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/internal/envoybin"
)

// Loopback ports, -port-base and the five after it (one harness at a time
// on the same base; another benchmark on 18400, reloadbench's default, needs
// another base).
var (
	listenerPort   = 18400
	envoyAdminPort = 18401
	echoPort       = 18402
	noopPort       = 18403
	apigwGRPCPort  = 18404
	apigwAdminPort = 18405
)

const (
	host      = "bench.example.com"
	appKey    = "bench-app-key-0001"
	appSecret = "bench-app-secret-0001"
)

type options struct {
	duration, warmup  time.Duration
	connections       int
	threads           int
	rounds            int
	requests          int
	envoyConcurrency  int
	apigw, noop, echo string
	envoy, wrk, keep  string
	setups            []string
	staticDir         string
	throttle          bool
	startTimeout      time.Duration
	// instructions > 0: instead of the wrk run, count Envoy's instructions
	// for that many sequential requests under valgrind's callgrind.
	instructions int
	valgrind     string
}

func main() {
	var o options
	var setups string
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured duration per set-up and round (whole seconds)")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "warm-up before each measured run (whole seconds)")
	flag.IntVar(&o.connections, "connections", 50, "wrk connections to Envoy")
	flag.IntVar(&o.threads, "threads", 1, "wrk threads (the load generator shares the machine's cores with Envoy and the servers)")
	flag.IntVar(&o.rounds, "rounds", 2, "rounds; even rounds measure the set-ups in reverse order (2 rounds: A B C C B A)")
	flag.IntVar(&o.requests, "requests", 1000, "distinct pre-signed requests wrk cycles through")
	flag.IntVar(&o.envoyConcurrency, "envoy-concurrency", 2, "Envoy worker threads (--concurrency)")
	flag.StringVar(&setups, "setups", "envoy,envoy-noop,envoy-apigw", "set-ups measured in turn: envoy, envoy-noop, envoy-apigw, apigw-xds-noop (diagnostic), static-NAME (diagnostic, with -static-dir)")
	flag.StringVar(&o.staticDir, "static-dir", "", "set-up static-NAME: Envoy runs DIR/NAME.yaml as its bootstrap, as given, with the no-op Check server (to count the cost of one element of a configuration: edit a copy of apigw's, from Envoy's /config_dump, and compare)")
	flag.BoolVar(&o.throttle, "throttle", false, "envoy-apigw: throttling on (a throttle policy with API, app and IP limits never reached: the rate-limit filter and service on every request) instead of settings.throttling.default_disabled")
	flag.StringVar(&o.apigw, "apigw", "bin/apigw", "apigw binary")
	flag.StringVar(&o.noop, "noop", "bin/noopauthz", "no-op Check server binary")
	flag.StringVar(&o.echo, "echo", "bin/echo", "echo backend binary (examples/echo)")
	flag.StringVar(&o.envoy, "envoy", "", "Envoy binary (default: $ENVOY_BIN, .tools/envoy/bin/envoy, envoy on PATH)")
	flag.StringVar(&o.wrk, "wrk", "wrk", "wrk binary")
	flag.StringVar(&o.keep, "keep", "", "keep the generated files (configs, bootstraps, Lua script, logs) in this directory")
	flag.IntVar(&o.instructions, "instructions", 0, "instead of wrk: Envoy's instructions per request over this many sequential requests (after 50 warm-up), counted by valgrind's callgrind; steady on a busy machine, unlike CPU time (try 400 with -rounds 1)")
	flag.StringVar(&o.valgrind, "valgrind", "valgrind", "valgrind binary (-instructions; callgrind_control must be beside it or on PATH)")
	portBase := flag.Int("port-base", 18400, "first of the six loopback ports used (listener, Envoy admin, echo, no-op, apigw gRPC, apigw admin)")
	flag.Parse()
	if *portBase < 1024 || *portBase > 65535-5 {
		fail(errors.New("-port-base must be 1024-65530"))
	}
	listenerPort, envoyAdminPort, echoPort = *portBase, *portBase+1, *portBase+2
	noopPort, apigwGRPCPort, apigwAdminPort = *portBase+3, *portBase+4, *portBase+5
	o.setups = strings.Split(setups, ",")
	o.startTimeout = 30 * time.Second
	if o.instructions > 0 {
		o.startTimeout = 2 * time.Minute // Envoy starts slowly under valgrind
	}
	for _, s := range o.setups {
		if name, ok := strings.CutPrefix(s, "static-"); ok {
			if o.staticDir == "" || name == "" || strings.ContainsAny(name, `/\`) {
				fail(fmt.Errorf("-setups: %q needs -static-dir and a file name", s))
			}
			continue
		}
		if !slices.Contains([]string{"envoy", "envoy-noop", "envoy-apigw", "apigw-xds-noop"}, s) {
			fail(fmt.Errorf("-setups: unknown set-up %q", s))
		}
	}
	if o.duration < time.Second || o.duration > 10*time.Minute || o.warmup < 0 || o.warmup > time.Minute {
		fail(errors.New("-duration must be 1s-10m and -warmup 0-1m"))
	}
	if o.connections < 1 || o.connections > 1000 || o.threads < 1 || o.threads > o.connections || o.rounds < 1 || o.rounds > 10 || o.requests < 1 || o.requests > 100000 {
		fail(errors.New("-connections 1-1000, -threads 1..connections, -rounds 1-10, -requests 1-100000"))
	}
	if o.instructions < 0 || o.instructions > 100000 {
		fail(errors.New("-instructions 0-100000"))
	}
	if o.instructions > 0 {
		if _, err := exec.LookPath(o.valgrind); err != nil {
			fail(fmt.Errorf("-instructions needs valgrind (%v): apt-get install -y valgrind", err))
		}
	} else if _, err := exec.LookPath(o.wrk); err != nil {
		fail(fmt.Errorf("wrk not found (%v): install it (Debian/Ubuntu: apt-get install -y wrk) or pass -wrk", err))
	}
	if o.envoy == "" {
		bin, err := envoybin.Find()
		if err != nil {
			fail(fmt.Errorf("%v: `make envoy` installs it", err))
		}
		o.envoy = bin
	}
	for _, b := range []string{o.apigw, o.noop, o.echo} {
		if _, err := os.Stat(b); err != nil {
			fail(fmt.Errorf("%v (run `make bench-envoy`, which builds it)", err))
		}
	}

	if err := run(&o); err != nil {
		fail(err)
	}
}

// run measures every set-up; every process it started is stopped when it
// returns, on success or not.
func run(o *options) error {
	dir := o.keep
	if dir == "" {
		d, err := os.MkdirTemp("", "envoybench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	reqs, err := signRequests(o.requests, time.Now())
	if err != nil {
		return err
	}
	script := filepath.Join(dir, "requests.lua")
	if err := os.WriteFile(script, luaScript(reqs), 0o600); err != nil {
		return err
	}

	// The echo backend runs for the whole benchmark: it is the same in every
	// set-up.
	echo, err := start(dir, "echo", o.echo, "-listen", addr(echoPort), "-name", "bench")
	if err != nil {
		return err
	}
	defer echo.stop()
	if err := waitHTTP("http://"+addr(echoPort)+"/", o.startTimeout, echo); err != nil {
		return fmt.Errorf("echo backend: %w", err)
	}

	var results []*result
	for round := 1; round <= o.rounds; round++ {
		order := slices.Clone(o.setups)
		if round%2 == 0 {
			slices.Reverse(order)
		}
		for _, s := range order {
			fmt.Fprintf(os.Stderr, "envoybench: round %d, %s\n", round, s)
			r, err := measure(o, dir, s, script, reqs, echo)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", round, s, err)
			}
			r.round = round
			results = append(results, r)
		}
	}
	report(o, results)
	return nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "envoybench:", err)
	os.Exit(1)
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// signedRequest is one pre-signed request as wrk sends it.
type signedRequest struct {
	method, path string
	headers      [][2]string
	body         []byte
}

// signRequests signs n app-signed POSTs with a 1 KiB JSON body, each with a
// distinct query (so each has its own signature).
func signRequests(n int, t time.Time) ([]signedRequest, error) {
	body := []byte(`{"data":"` + strings.Repeat("x", 1024-11) + `"}`)
	out := make([]signedRequest, n)
	for i := range out {
		target := fmt.Sprintf("/app?a=1&n=%d", i)
		r, err := http.NewRequest("POST", "http://"+host+target, nil)
		if err != nil {
			return nil, err
		}
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Trace-Id", "bench")
		if err := signing.SignRequest(r, body, signing.SignOptions{Access: appKey, Secret: appSecret, Time: t}); err != nil {
			return nil, err
		}
		sr := signedRequest{method: "POST", path: target, body: body, headers: [][2]string{{"Host", host}}}
		for _, k := range slices.Sorted(maps.Keys(r.Header)) {
			sr.headers = append(sr.headers, [2]string{k, r.Header.Get(k)})
		}
		out[i] = sr
	}
	return out, nil
}

// luaQuote is a Lua string literal (%q-style quoting is compatible for
// the printable ASCII these requests contain).
func luaQuote(s string) string {
	for _, c := range []byte(s) {
		if c < 0x20 || c > 0x7e {
			panic(fmt.Sprintf("envoybench: non-printable byte %#x in a request", c))
		}
	}
	return strconv.Quote(s)
}

// luaScript is the wrk script: every thread formats the requests once and
// cycles through them from its own offset; done() prints the figures on
// lines starting with "envoybench:".
func luaScript(reqs []signedRequest) []byte {
	var b bytes.Buffer
	b.WriteString("local R = {\n")
	for _, r := range reqs {
		fmt.Fprintf(&b, "{%s, %s, {", luaQuote(r.method), luaQuote(r.path))
		for _, h := range r.headers {
			fmt.Fprintf(&b, "[%s]=%s, ", luaQuote(h[0]), luaQuote(h[1]))
		}
		fmt.Fprintf(&b, "}, %s},\n", luaQuote(string(r.body)))
	}
	b.WriteString(`}
local reqs = {}
local i = 0
local threads = 0
setup = function(thread)
  thread:set("offset", threads * 7919)
  threads = threads + 1
end
init = function(args)
  for _, r in ipairs(R) do reqs[#reqs + 1] = wrk.format(r[1], r[2], r[3], r[4]) end
  i = (offset or 0) % #reqs
end
request = function()
  i = i % #reqs + 1
  return reqs[i]
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("envoybench: requests %d duration_us %d p50_us %d p99_us %d max_us %d connect %d read %d write %d status %d timeout %d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
`)
	return b.Bytes()
}

// proc is a started process with its log file.
type proc struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
}

func start(dir, name, bin string, args ...string) (*proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, exited: make(chan struct{}), log: logPath}
	go func() { _ = cmd.Wait(); f.Close(); close(p.exited) }()
	return p, nil
}

func (p *proc) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// tail is the end of a process's log, for error messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// waitHTTP waits until url answers (any status) while every process in
// procs is alive.
func waitHTTP(url string, timeout time.Duration, procs ...*proc) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		for _, p := range procs {
			if !p.alive() {
				return fmt.Errorf("%s exited (ports %d-%d in use?): %s", p.name, listenerPort, apigwAdminPort, p.tail())
			}
		}
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %w", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitTCP waits until addr accepts a connection.
func waitTCP(a string, timeout time.Duration, p *proc) error {
	deadline := time.Now().Add(timeout)
	for {
		if !p.alive() {
			return fmt.Errorf("%s exited (port in use?): %s", p.name, p.tail())
		}
		c, err := net.DialTimeout("tcp", a, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: %w", a, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type result struct {
	setup                string
	round                int
	requests             int64
	seconds              float64
	p50, p99, max        time.Duration
	envoyCPU, checkCPU   float64 // seconds during the measured run
	echoCPU, wrkCPU      float64
	non2xx, socketErrors int64
	instructions         float64 // -instructions: Envoy's, over requests
}

func (r *result) rps() float64 { return float64(r.requests) / r.seconds }

// perReq is CPU microseconds per request.
func (r *result) perReq(cpu float64) float64 { return cpu * 1e6 / float64(r.requests) }

// measure starts the set-up's processes, checks one request end to end,
// warms up, and measures one wrk run.
func measure(o *options, dir, setup, script string, reqs []signedRequest, echo *proc) (*result, error) {
	first := reqs[0]
	var check *proc
	var boot []byte
	var err error
	switch setup {
	case "envoy":
		boot = staticBootstrap(o, false)
	case "envoy-noop":
		check, err = start(dir, setup+"-check", o.noop, "-address", addr(noopPort), "-options", "default")
		if err == nil {
			err = waitTCP(addr(noopPort), o.startTimeout, check)
		}
		boot = staticBootstrap(o, true)
	case "envoy-apigw", "apigw-xds-noop":
		cfg := filepath.Join(dir, setup+"-gateway.yaml")
		if err = os.WriteFile(cfg, []byte(gatewayConfig(o.throttle, setup == "apigw-xds-noop")), 0o600); err != nil {
			return nil, err
		}
		check, err = start(dir, setup+"-check", o.apigw, "serve", "--config", cfg, "--log-level", "warn", "--watch-interval", "0")
		if err == nil {
			err = waitHTTP("http://"+addr(apigwAdminPort)+"/readyz", o.startTimeout, check)
		}
		if err == nil && setup == "apigw-xds-noop" {
			// apigw only serves xDS; the no-op answers Check (and is
			// the process whose CPU is measured as the Check server's).
			xdsOnly := check
			defer xdsOnly.stop()
			check, err = start(dir, setup+"-noop", o.noop, "-address", addr(noopPort), "-options", "default")
			if err == nil {
				err = waitTCP(addr(noopPort), o.startTimeout, check)
			}
		}
		if err == nil {
			boot, err = exec.Command(o.apigw, "bootstrap", "--xds-address", addr(apigwGRPCPort), "--admin-port", strconv.Itoa(envoyAdminPort)).Output()
		}
	default: // static-NAME
		check, err = start(dir, setup+"-check", o.noop, "-address", addr(noopPort), "-options", "default")
		if err == nil {
			err = waitTCP(addr(noopPort), o.startTimeout, check)
		}
		if err == nil {
			boot, err = os.ReadFile(filepath.Join(o.staticDir, strings.TrimPrefix(setup, "static-")+".yaml"))
		}
	}
	if check != nil {
		defer check.stop()
	}
	if err != nil {
		return nil, err
	}
	bootPath := filepath.Join(dir, setup+"-envoy.yaml")
	if err := os.WriteFile(bootPath, boot, 0o600); err != nil {
		return nil, err
	}
	envoyArgs := []string{"-c", bootPath, "--disable-hot-restart", "--log-level", "warn", "--concurrency", strconv.Itoa(o.envoyConcurrency)}
	envoyBin := o.envoy
	cgOut := filepath.Join(dir, setup+"-callgrind.out")
	if o.instructions > 0 {
		// --trace-children: the project's envoy is a Python wrapper that
		// execs the binary (same pid); nothing is counted until
		// callgrind_control turns instrumentation on.
		envoyArgs = append([]string{"--tool=callgrind", "--trace-children=yes", "--instr-atstart=no", "--callgrind-out-file=" + cgOut, o.envoy}, envoyArgs...)
		envoyBin = o.valgrind
	}
	envoy, err := start(dir, setup+"-envoy", envoyBin, envoyArgs...)
	if err != nil {
		return nil, err
	}
	defer envoy.stop()
	procs := []*proc{envoy, echo}
	if check != nil {
		procs = append(procs, check)
	}
	if err := waitHTTP("http://"+addr(envoyAdminPort)+"/ready", o.startTimeout, procs...); err != nil {
		return nil, err
	}
	if err := probe(first, setup, o.startTimeout, procs); err != nil {
		return nil, err
	}
	if o.instructions > 0 {
		return countInstructions(o, setup, cgOut, reqs, envoy)
	}
	if o.warmup > 0 {
		if _, err := runWrk(o, script, o.warmup); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	cpu := func() (e, c, b float64, err error) {
		if e, err = cpuSeconds(envoy); err != nil {
			return
		}
		if check != nil {
			if c, err = cpuSeconds(check); err != nil {
				return
			}
		}
		b, err = cpuSeconds(echo)
		return
	}
	e0, c0, b0, err := cpu()
	if err != nil {
		return nil, err
	}
	w, err := runWrk(o, script, o.duration)
	if err != nil {
		return nil, err
	}
	e1, c1, b1, err := cpu()
	if err != nil {
		return nil, err
	}
	for _, p := range procs {
		if !p.alive() {
			return nil, fmt.Errorf("%s exited during the run: %s", p.name, p.tail())
		}
	}
	w.setup = setup
	w.envoyCPU, w.checkCPU, w.echoCPU = e1-e0, c1-c0, b1-b0
	if w.non2xx > 0 || w.socketErrors > 0 {
		return nil, fmt.Errorf("%d non-2xx answers, %d socket errors (logs in %s with -keep)", w.non2xx, w.socketErrors, dir)
	}
	return w, nil
}

// probe sends one pre-signed request until Envoy routes it (xDS may still be
// arriving) and checks what the backend saw: the body whole, and with apigw
// the app identity header Check added.
func probe(r signedRequest, setup string, timeout time.Duration, procs []*proc) error {
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		for _, p := range procs {
			if !p.alive() {
				return fmt.Errorf("%s exited: %s", p.name, p.tail())
			}
		}
		resp, err := c.Do(httpRequest(r, "http://"+addr(listenerPort)))
		if err != nil {
			last = err.Error()
			time.Sleep(200 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
			time.Sleep(200 * time.Millisecond)
			continue
		}
		var echoed struct {
			Path     string            `json:"path"`
			BodySize int64             `json:"body_size"`
			Headers  map[string]string `json:"headers"`
		}
		if err := json.Unmarshal(b, &echoed); err != nil {
			return fmt.Errorf("probe: backend answer %q: %w", b, err)
		}
		if echoed.BodySize != int64(len(r.body)) {
			return fmt.Errorf("probe: backend saw %d body bytes, want %d (%s)", echoed.BodySize, len(r.body), b)
		}
		if setup == "envoy-apigw" && echoed.Headers["x-apig-app-id"] != "bench-app" {
			return fmt.Errorf("probe: backend saw no x-apig-app-id bench-app: %s", b)
		}
		return nil
	}
	return fmt.Errorf("probe: no 200 through Envoy after %v: %s", timeout, last)
}

// httpRequest is r as a request to base (scheme and address).
func httpRequest(r signedRequest, base string) *http.Request {
	req, _ := http.NewRequest(r.method, base+r.path, bytes.NewReader(r.body))
	for _, h := range r.headers {
		if h[0] == "Host" {
			req.Host = h[1]
		} else {
			req.Header.Set(h[0], h[1])
		}
	}
	return req
}

var wrkLine = regexp.MustCompile(`envoybench: requests (\d+) duration_us (\d+) p50_us (\d+) p99_us (\d+) max_us (\d+) connect (\d+) read (\d+) write (\d+) status (\d+) timeout (\d+)`)

// runWrk runs wrk for d and parses what the script's done() printed; the
// CPU wrk used is its rusage.
func runWrk(o *options, script string, d time.Duration) (*result, error) {
	secs := int(d.Round(time.Second) / time.Second)
	cmd := exec.Command(o.wrk, "-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(o.connections),
		"-d", strconv.Itoa(secs)+"s", "--timeout", "2s", "-s", script, "http://"+addr(listenerPort))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return nil, fmt.Errorf("wrk: %v: %s%s", err, out.String(), errb.String())
		}
	case <-time.After(d + 30*time.Second):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("wrk did not finish in %v (killed: %v)", d+30*time.Second, <-done)
	}
	m := wrkLine.FindStringSubmatch(out.String())
	if m == nil {
		return nil, fmt.Errorf("wrk output without the script's figures: %s%s", out.String(), errb.String())
	}
	n := make([]int64, len(m))
	for i := 1; i < len(m); i++ {
		n[i], _ = strconv.ParseInt(m[i], 10, 64)
	}
	us := func(v int64) time.Duration { return time.Duration(v) * time.Microsecond }
	r := &result{requests: n[1], seconds: float64(n[2]) / 1e6, p50: us(n[3]), p99: us(n[4]), max: us(n[5]),
		socketErrors: n[6] + n[7] + n[8] + n[10], non2xx: n[9]}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	r.wrkCPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	if r.requests == 0 {
		return nil, errors.New("wrk completed no request")
	}
	return r, nil
}

// cpuSeconds reads a process's user+system CPU time from /proc.
func cpuSeconds(p *proc) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("reading CPU time of %s (Linux /proc needed): %w", p.name, err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100, nil // USER_HZ is 100 on Linux
}

func report(o *options, results []*result) {
	if o.instructions > 0 {
		reportInstructions(o, results)
		return
	}
	fmt.Printf("\nwrk: %d connections, %d thread(s), %s measured after %s warm-up; Envoy --concurrency %d; %d distinct app-signed POSTs, 1 KiB JSON body\n\n",
		o.connections, o.threads, o.duration, o.warmup, o.envoyConcurrency, o.requests)
	fmt.Println("| round | set-up | requests/s | p50 | p99 | max | Envoy CPU/request | Check CPU/request | echo CPU/request | wrk CPU/request |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		checkCPU := "—"
		if r.setup != "envoy" {
			checkCPU = fmt.Sprintf("%.1f µs", r.perReq(r.checkCPU))
		}
		fmt.Printf("| %d | %s | %.0f | %s | %s | %s | %.1f µs | %s | %.1f µs | %.1f µs |\n", r.round, r.setup, r.rps(),
			us(r.p50), us(r.p99), us(r.max), r.perReq(r.envoyCPU), checkCPU, r.perReq(r.echoCPU), r.perReq(r.wrkCPU))
	}
	fmt.Println()
	for round := 1; round <= o.rounds; round++ {
		by := map[string]*result{}
		for _, r := range results {
			if r.round == round {
				by[r.setup] = r
			}
		}
		if a, c := by["envoy-noop"], by["envoy-apigw"]; a != nil && c != nil {
			tp := c.rps() / a.rps() * 100
			p99 := float64(c.p99) / float64(a.p99)
			verdict := "within 5 %"
			if tp < 95 || p99 > 1.05 {
				verdict = "NOT within 5 %"
			}
			fmt.Printf("round %d: envoy-apigw / envoy-noop: throughput %.1f%%, p99 %.2fx (%s)\n", round, tp, p99, verdict)
		}
		if a, c := by["envoy-noop"], by["apigw-xds-noop"]; a != nil && c != nil {
			fmt.Printf("round %d: apigw-xds-noop / envoy-noop: throughput %.1f%%, p99 %.2fx, Envoy CPU per request %.2fx\n", round, c.rps()/a.rps()*100,
				float64(c.p99)/float64(a.p99), c.perReq(c.envoyCPU)/a.perReq(a.envoyCPU))
		}
		if a, c := by["envoy"], by["envoy-noop"]; a != nil && c != nil {
			fmt.Printf("round %d: envoy-noop / envoy: throughput %.1f%%, p99 %.2fx\n", round, c.rps()/a.rps()*100, float64(c.p99)/float64(a.p99))
		}
	}
}

// reportInstructions prints Envoy's instructions per request of each
// set-up and round, and each against envoy-noop of the same round.
func reportInstructions(o *options, results []*result) {
	fmt.Printf("\nEnvoy instructions per request (valgrind callgrind), %d sequential requests on one connection after 50 warm-up; Envoy --concurrency %d\n\n",
		o.instructions, o.envoyConcurrency)
	fmt.Println("| round | set-up | Envoy instructions/request | ÷ envoy-noop | elapsed | 503s sent again |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, r := range results {
		per := r.instructions / float64(r.requests)
		ratio := "—"
		for _, a := range results {
			if a.round == r.round && a.setup == "envoy-noop" {
				ratio = fmt.Sprintf("%.3f×", per/(a.instructions/float64(a.requests)))
			}
		}
		fmt.Printf("| %d | %s | %.0f | %s | %.1f s | %d |\n", r.round, r.setup, per, ratio, r.seconds, r.non2xx)
	}
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/1e3) }

// gatewayConfig is apigw's configuration: the listener and the route of
// the static bootstraps, one app-signed API to the echo backend.
func gatewayConfig(throttle, checkAtNoop bool) string {
	throttling := "  throttling: {default_disabled: true}\n"
	policies := ""
	if throttle {
		// Limits never reached: every request goes through the
		// rate-limit filter and service (in memory) with three
		// descriptors, and none is refused.
		throttling = ""
		policies = `throttle_policies:
  - {name: bench, unit: second, api_limit: 1000000, app_limit: 1000000, ip_limit: 1000000, bindings: [{api: bench/app}]}
`
	}
	advertise := ""
	if checkAtNoop {
		advertise = "\n  advertise_address: " + addr(noopPort)
	}
	return fmt.Sprintf(`server:
  grpc_address: %s
  admin_address: %s%s
listener:
  address: 127.0.0.1
  port: %d
settings:
%sgroups:
  - name: bench
    domains: ["*"]
    apis:
      - {name: app, method: POST, path: /app, auth: app, backend: {url: "http://%s/app", timeout: 5s}}
apps:
  - {name: bench-app, key: %s, secret: {value: %s}, grants: [{api: bench/*}]}
%s`, addr(apigwGRPCPort), addr(apigwAdminPort), advertise, listenerPort, throttling, addr(echoPort), appKey, appSecret, policies)
}

// staticBootstrap is Envoy's static configuration for the envoy and
// envoy-noop set-ups: the listener, a route of POST /app to the echo
// backend and, with authz, the ext_authz filter as apigw configures it
// (gRPC over HTTP/2, 1 s timeout, fail closed, the body buffered whole as
// bytes up to 12 MB) pointing at the no-op Check server.
func staticBootstrap(o *options, authz bool) []byte {
	filters := ""
	clusters := ""
	checkTimeout := "1s"
	if o.instructions > 0 {
		checkTimeout = "10s" // Envoy is ~50× slower under valgrind
	}
	if authz {
		filters = `
          - name: envoy.filters.http.ext_authz
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz
              transport_api_version: V3
              failure_mode_allow: false
              status_on_error: {code: ServiceUnavailable}
              with_request_body: {max_request_bytes: 12582912, allow_partial_message: false, pack_as_bytes: true}
              grpc_service:
                envoy_grpc: {cluster_name: authz}
                timeout: ` + checkTimeout
		clusters = fmt.Sprintf(`
  - name: authz
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: {http2_protocol_options: {}}
    load_assignment:
      cluster_name: authz
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}}]}]`, noopPort)
	}
	return []byte(fmt.Sprintf(`admin:
  address: {socket_address: {address: 127.0.0.1, port_value: %d}}
static_resources:
  listeners:
  - name: bench_http
    address: {socket_address: {address: 127.0.0.1, port_value: %d}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench
          route_config:
            name: bench
            virtual_hosts:
            - name: bench
              domains: ["*"]
              routes:
              - match: {path: /app, headers: [{name: ":method", string_match: {exact: POST}}]}
                route: {cluster: echo, timeout: 5s}
          http_filters:%s
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
              suppress_envoy_headers: true
  clusters:
  - name: echo
    type: STATIC
    connect_timeout: 5s
    load_assignment:
      cluster_name: echo
      endpoints: [{lb_endpoints: [{endpoint: {address: {socket_address: {address: 127.0.0.1, port_value: %d}}}}]}]%s
`, envoyAdminPort, listenerPort, filters, echoPort, clusters))
}

// countInstructions sends 50 warm-up requests, then counts Envoy's
// instructions (callgrind's Ir) over o.instructions sequential requests on
// one connection. Envoy's timers also run meanwhile (~160k instructions a
// second idle, measured with --concurrency 1): the elapsed time is
// reported with the figure.
func countInstructions(o *options, setup, cgOut string, reqs []signedRequest, envoy *proc) (*result, error) {
	c := &http.Client{Timeout: 30 * time.Second}
	// apigw's configuration bounds Check at 1 s, which a request can
	// exceed under valgrind (a code path run the first time): such an
	// answer (503) is sent again, counted among the requests and reported;
	// more than 1 % of them fails the run.
	failed := 0
	send := func(n int) error {
		for i := 0; i < n; {
			r := reqs[i%len(reqs)]
			resp, err := c.Do(httpRequest(r, "http://"+addr(listenerPort)))
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusOK:
				i++
			case resp.StatusCode == http.StatusServiceUnavailable && failed < 1+n/100:
				failed++
			default:
				return fmt.Errorf("request %d: status %d (%d answered 503 before)", i, resp.StatusCode, failed)
			}
		}
		return nil
	}
	control := func(args ...string) error {
		bin := "callgrind_control"
		if d := filepath.Dir(o.valgrind); d != "." {
			if p := filepath.Join(d, bin); fileExists(p) {
				bin = p
			}
		}
		out, err := exec.Command(bin, append(args, strconv.Itoa(envoy.cmd.Process.Pid))...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("callgrind_control %v: %v: %s", args, err, out)
		}
		return nil
	}
	if err := send(50); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	failed = 0
	if err := control("-i", "on"); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := send(o.instructions); err != nil {
		return nil, err
	}
	elapsed := time.Since(t0)
	if err := control("-i", "off"); err != nil {
		return nil, err
	}
	if err := control("-d"); err != nil {
		return nil, err
	}
	total, err := callgrindTotal(cgOut)
	if err != nil {
		return nil, err
	}
	return &result{setup: setup, requests: int64(o.instructions + failed), seconds: elapsed.Seconds(), instructions: float64(total), non2xx: int64(failed)}, nil
}

// callgrindTotal adds the "totals:" lines of every dump callgrind wrote
// to out (out.<pid>.<n> files, and out itself).
func callgrindTotal(out string) (int64, error) {
	files, _ := filepath.Glob(out + "*")
	var total int64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return 0, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "totals: "); ok {
				n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				if err != nil {
					return 0, fmt.Errorf("%s: %q: %w", f, line, err)
				}
				total += n
			}
		}
	}
	if total == 0 {
		return 0, fmt.Errorf("no callgrind totals in %s*", out)
	}
	return total, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
