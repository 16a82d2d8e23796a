// Command loadbench drives Authorization/Check over real gRPC connections on
// loopback with a realistic request mix (or one kind of request), against a
// no-op Check server (the practical limit: a default grpc-go server that does
// no work) and against apigw,
// and prints requests/s, latency percentiles, server CPU and peak RSS, and
// the ratios between the two.
//
//	make bench-load                         # builds both servers and runs this
//	go run ./test/bench/loadbench -concurrency 50 -duration 20s
//	go run ./test/bench/loadbench -mix app1k -servers noop,apigw -rounds 2   # A B B A
//
// Every response is checked against the expected decision for its request;
// a wrong decision makes the run fail.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
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
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/apigwio/apigw/authz/keypair"
	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/internal/envoycheck"
)

func main() {
	concurrency := flag.Int("concurrency", 50, "concurrent callers")
	duration := flag.Duration("duration", 10*time.Second, "measured duration per server")
	warmup := flag.Duration("warmup", 2*time.Second, "warm-up before measuring")
	conns := flag.Int("connections", 2, "gRPC connections (Envoy opens one per worker thread)")
	apigwBin := flag.String("apigw", "bin/apigw", "apigw binary")
	baseBin := flag.String("apigw-base", "bin/apigw-base", "second apigw binary, measured as the server apigw-base (e.g. the build before a change)")
	pprofOn := flag.Bool("pprof", false, "serve /debug/pprof/ while a server is measured: apigw's on its admin port (127.0.0.1:18201), the no-op's on 127.0.0.1:18101")
	noopBin := flag.String("noop", "bin/noopauthz", "no-op Check server binary")
	mixName := flag.String("mix", "mix", "requests: mix (the realistic mix), app1k (app-signed, 1 KiB body), app64k (app-signed, 64 KiB body), none (auth none), none64k (auth none, 64 KiB body)")
	serverList := flag.String("servers", "noop,apigw", "servers measured in turn: noop (default grpc-go server), noop-apigw (no-op with apigw's gRPC settings), apigw, apigw-base (the -apigw-base binary)")
	rate := flag.Int("rate", 0, "requests/s of all callers together (0: as fast as they can); at a rate every server sustains, the servers' CPU per request is compared at the same load, not at the load each one reaches")
	rounds := flag.Int("rounds", 1, "rounds; even rounds measure the servers in reverse order (2 rounds of noop,apigw: A B B A)")
	flag.Parse()

	dir, err := os.MkdirTemp("", "loadbench")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	cfg, tokenKey, err := writeConfig(dir)
	if err != nil {
		fail(err)
	}
	mix, err := buildMix(time.Now(), tokenKey, *mixName)
	if err != nil {
		fail(err)
	}
	argv := map[string][]string{
		"noop":       {*noopBin, "-address", "127.0.0.1:18100", "-options", "default"},
		"noop-apigw": {*noopBin, "-address", "127.0.0.1:18100", "-options", "apigw"},
	}
	for name, bin := range map[string]string{"apigw": *apigwBin, "apigw-base": *baseBin} {
		argv[name] = []string{bin, "serve", "--config", cfg, "--grpc-address", "127.0.0.1:18200",
			"--admin-address", "127.0.0.1:18201", "--log-level", "warn", "--watch-interval", "0"}
		if *pprofOn {
			argv[name] = append(argv[name], "--pprof")
		}
	}
	if *pprofOn {
		for _, name := range []string{"noop", "noop-apigw"} {
			argv[name] = append(argv[name], "-pprof", "127.0.0.1:18101")
		}
	}
	addr := map[string]string{"noop": "127.0.0.1:18100", "noop-apigw": "127.0.0.1:18100", "apigw": "127.0.0.1:18200", "apigw-base": "127.0.0.1:18200"}
	servers := strings.Split(*serverList, ",")
	for _, name := range servers {
		if argv[name] == nil {
			fail(fmt.Errorf("-servers: unknown server %q", name))
		}
	}
	var results []*result
	for round := 0; round < *rounds; round++ {
		order := slices.Clone(servers)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, name := range order {
			r, err := measure(name, argv[name], addr[name], mix, !strings.HasPrefix(name, "apigw"), *concurrency, *conns, *rate, *warmup, *duration)
			if err != nil {
				fail(err)
			}
			r.round = round + 1
			results = append(results, r)
		}
	}
	pace := "as fast as the callers can"
	if *rate > 0 {
		pace = fmt.Sprintf("at %d requests/s", *rate)
	}
	fmt.Printf("\nconcurrency %d, %d connections, %s, %s measured after %s warm-up, mix: %s\n\n", *concurrency, *conns, pace, *duration, *warmup, mix.describe())
	fmt.Println("| round | server | requests/s | p50 | p90 | p99 | p99.9 | server CPU (cores) | server CPU per request | server peak RSS | wrong decisions |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range results {
		fmt.Printf("| %d | %s | %.0f | %s | %s | %s | %s | %.2f | %.1f µs | %.1f MiB | %d |\n", r.round, r.name, r.rps, us(r.p50), us(r.p90), us(r.p99), us(r.p999), r.cpu, r.cpuPerReq(), float64(r.rssKiB)/1024, r.wrong)
	}
	// Ratios of apigw to the first server (the baseline) of each round.
	fmt.Println()
	for round := 1; round <= *rounds; round++ {
		var base *result
		for _, r := range results {
			if r.round == round && r.name == servers[0] {
				base = r
			}
		}
		for _, r := range results {
			if r.round != round || r == base {
				continue
			}
			fmt.Printf("round %d: %s / %s: throughput %.1f%%, p99 %.2fx, CPU per request %.2fx\n", round, r.name, base.name,
				r.rps/base.rps*100, float64(r.p99)/float64(base.p99), r.cpuPerReq()/base.cpuPerReq())
		}
	}
	for _, r := range results {
		if r.wrong > 0 || r.errors > 0 {
			fail(fmt.Errorf("%s: %d wrong decisions, %d gRPC errors", r.name, r.wrong, r.errors))
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadbench:", err)
	os.Exit(1)
}

func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/1e3) }

// item is one request of the mix and the decision it must get.
type item struct {
	kind  string
	req   *authv3.CheckRequest
	allow bool
}

type mixList []item

func (m mixList) describe() string {
	counts := map[string]int{}
	for _, it := range m {
		counts[it.kind]++
	}
	var parts []string
	for k, v := range counts {
		parts = append(parts, fmt.Sprintf("%s %d%%", k, v*100/len(m)))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// benchConfig is the gateway configuration of the benchmark; %s is the
// JWKS file of the token issuer.
const benchConfig = `
settings:
  lockout: {max_failures: 5, duration: 5m}
  throttling: {default_disabled: true}
token_issuers:
  - {name: bench, issuer: "https://id.bench", jwks_file: %q}
groups:
  - name: bench
    apis:
      - {name: app, method: POST, path: /app, auth: app, backend: {url: "http://127.0.0.1:9"}}
      - {name: iam, method: GET, path: /iam, auth: iam, backend: {url: "http://127.0.0.1:9"}}
      - {name: hmac, method: GET, path: /hmac, auth: hmac, backend: {url: "http://127.0.0.1:9"}}
      - {name: token, method: GET, path: /token, auth: token, backend: {url: "http://127.0.0.1:9"}}
      - {name: open, method: GET, path: /open, auth: none, backend: {url: "http://127.0.0.1:9"}}
      - {name: open-post, method: POST, path: /open-post, auth: none, backend: {url: "http://127.0.0.1:9"}}
apps:
  - {name: bench-app, key: bench-app-key-0001, secret: {value: bench-app-secret-0001}, grants: [{api: bench/*}]}
iam_users:
  - {account: bench, user: loader, access_keys: [{id: BENCHAK0000000000001, secret: {value: bench-iam-secret-0001}}]}
key_pairs:
  - {id: AKIDbench, secret: {value: bench-keypair-secret}}
usage_plans:
  - {name: bench, key_pairs: [AKIDbench], environments: [RELEASE]}
`

// writeConfig writes the configuration and the token issuer's JWKS into
// dir and returns the config path and the token signing key.
func writeConfig(dir string) (string, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", nil, err
	}
	point, err := key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		return "", nil, err
	}
	enc := base64.RawURLEncoding.EncodeToString
	jwks := filepath.Join(dir, "jwks.json")
	doc := fmt.Sprintf(`{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","x":%q,"y":%q}]}`, enc(point[1:33]), enc(point[33:65]))
	if err := os.WriteFile(jwks, []byte(doc), 0o600); err != nil {
		return "", nil, err
	}
	path := filepath.Join(dir, "gateway.yaml")
	return path, key, os.WriteFile(path, []byte(fmt.Sprintf(benchConfig, jwks)), 0o600)
}

// jwt signs an ES256 token.
func jwt(key *ecdsa.PrivateKey, t time.Time) (string, error) {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	input := enc(map[string]string{"alg": "ES256", "kid": "k1", "typ": "JWT"}) + "." +
		enc(map[string]any{"iss": "https://id.bench", "sub": "loader", "account": "bench", "exp": t.Add(time.Hour).Unix()})
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return "", err
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)), nil
}

// buildMix signs the requests of the mix (at t, so they are fresh): the
// realistic mix, or one kind of request.
func buildMix(t time.Time, tokenKey *ecdsa.PrivateKey, name string) (mixList, error) {
	body := []byte(`{"data":"` + strings.Repeat("x", 1024-11) + `"}`)
	switch name {
	case "app1k", "app64k":
		kind := "app-signed 1KiB body"
		if name == "app64k" {
			body = []byte(`{"data":"` + strings.Repeat("x", 64<<10-11) + `"}`)
			kind = "app-signed 64KiB body"
		}
		app, err := signed("POST", "/app?a=1&b=two", body, "bench-app-key-0001", "bench-app-secret-0001", t, "bench/app")
		return mixList{{kind, app, true}}, err
	case "none":
		return mixList{{"auth none", unsigned("GET", "/open", nil, "bench/open"), true}}, nil
	case "none64k":
		body = []byte(`{"data":"` + strings.Repeat("x", 64<<10-11) + `"}`)
		r, _ := http.NewRequest("POST", "http://bench.example.com/open-post", nil)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Trace-Id", "bench")
		return mixList{{"auth none 64KiB body", envoycheck.FromHTTP(r, body, "bench/open-post", "RELEASE"), true}}, nil
	case "mix":
	default:
		return nil, fmt.Errorf("-mix %q: want mix, app1k, app64k, none or none64k", name)
	}
	app, err := signed("POST", "/app?a=1&b=two", body, "bench-app-key-0001", "bench-app-secret-0001", t, "bench/app")
	if err != nil {
		return nil, err
	}
	iam, err := signed("GET", "/iam?limit=10", nil, "BENCHAK0000000000001", "bench-iam-secret-0001", t, "bench/iam")
	if err != nil {
		return nil, err
	}
	tampered, err := signed("POST", "/app?a=1&b=two", body, "bench-app-key-0001", "bench-app-secret-0001", t, "bench/app")
	if err != nil {
		return nil, err
	}
	tampered.Attributes.Request.Http.Path = "/app?a=2&b=two"
	unknown, err := signed("GET", "/iam", nil, "NOSUCHKEY", "whatever-secret", t, "bench/iam")
	if err != nil {
		return nil, err
	}
	open := unsigned("GET", "/open", nil, "bench/open")
	hr, _ := http.NewRequest("GET", "http://bench.example.com/hmac?x=1", nil)
	hr.Header.Set("Source", "bench")
	if err := keypair.Sign(hr, nil, "AKIDbench", "bench-keypair-secret", keypair.HMACSHA256, []string{"x-date", "source", "request-line"}, t); err != nil {
		return nil, err
	}
	hmacReq := envoycheck.FromHTTP(hr, nil, "bench/hmac", "RELEASE")
	hmacReq.Attributes.Request.Http.Protocol = "HTTP/1.1"
	tok, err := jwt(tokenKey, t)
	if err != nil {
		return nil, err
	}
	tokenReq := unsigned("GET", "/token", map[string]string{"X-Auth-Token": tok}, "bench/token")
	var m mixList
	add := func(n int, it item) {
		for i := 0; i < n; i++ {
			m = append(m, it)
		}
	}
	add(8, item{"app-signed 1KiB body", app, true})
	add(4, item{"iam-signed", iam, true})
	add(3, item{"hmac key pair", hmacReq, true})
	add(2, item{"token", tokenReq, true})
	add(1, item{"auth none", open, true})
	add(1, item{"tampered", tampered, false})
	add(1, item{"unknown key", unknown, false})
	return m, nil
}

func signed(method, target string, body []byte, key, secret string, t time.Time, api string) (*authv3.CheckRequest, error) {
	r, err := http.NewRequest(method, "http://bench.example.com"+target, nil)
	if err != nil {
		return nil, err
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("X-Trace-Id", "bench")
	if err := signing.SignRequest(r, body, signing.SignOptions{Access: key, Secret: secret, Time: t}); err != nil {
		return nil, err
	}
	return envoycheck.FromHTTP(r, body, api, "RELEASE"), nil
}

// unsigned is a request without a signature (auth none, tokens).
func unsigned(method, target string, headers map[string]string, api string) *authv3.CheckRequest {
	r, _ := http.NewRequest(method, "http://bench.example.com"+target, nil)
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	return envoycheck.FromHTTP(r, nil, api, "RELEASE")
}

type result struct {
	name                 string
	round                int
	rps                  float64
	p50, p90, p99, p999  time.Duration
	cpu                  float64
	rssKiB               int64
	wrong, errors, count int64
}

// cpuPerReq is the server's CPU time per request.
func (r *result) cpuPerReq() float64 { return r.cpu * 1e6 / r.rps }

func measure(name string, argv []string, addr string, mix mixList, noop bool, concurrency, nconns, rate int, warmup, duration time.Duration) (*result, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w (run `make bench-load`, which builds it)", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}()
	conns := make([]*grpc.ClientConn, nconns)
	for i := range conns {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, err
		}
		defer c.Close()
		conns[i] = c
	}
	if err := waitServing(conns[0], noop); err != nil {
		return nil, fmt.Errorf("%s did not start: %w", name, err)
	}
	// A server that exited (e.g. its port was taken) must not be measured
	// through whatever else answers on the port.
	select {
	case <-exited:
		return nil, fmt.Errorf("%s exited at start-up (is %s already in use?)", name, addr)
	case <-time.After(500 * time.Millisecond):
	}
	run := func(d time.Duration, record bool) ([][]time.Duration, int64, int64) {
		var wrong, errs atomic.Int64
		lat := make([][]time.Duration, concurrency)
		var wg sync.WaitGroup
		t0 := time.Now()
		deadline := t0.Add(d)
		// With a rate, request k of all callers together is sent at
		// t0 + k/rate (at once when the callers are behind).
		var sent atomic.Int64
		for w := 0; w < concurrency; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				client := authv3.NewAuthorizationClient(conns[w%len(conns)])
				for i := w; time.Now().Before(deadline); i++ {
					if rate > 0 {
						at := t0.Add(time.Duration(sent.Add(1)-1) * time.Second / time.Duration(rate))
						if !at.Before(deadline) {
							break
						}
						time.Sleep(time.Until(at))
					}
					it := mix[i%len(mix)]
					start := time.Now()
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					resp, err := client.Check(ctx, it.req)
					cancel()
					if record {
						lat[w] = append(lat[w], time.Since(start))
					}
					if err != nil {
						errs.Add(1)
						continue
					}
					if !noop && (resp.GetOkResponse() != nil) != it.allow {
						if wrong.Add(1) == 1 {
							fmt.Fprintf(os.Stderr, "loadbench: first wrong decision: %s allowed=%v %s\n", it.kind, !it.allow, resp.GetDeniedResponse().GetBody())
						}
					}
				}
			}(w)
		}
		wg.Wait()
		return lat, wrong.Load(), errs.Load()
	}
	run(warmup, false)
	cpu0, err := cpuSeconds(cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	lat, wrong, errs := run(duration, true)
	elapsed := time.Since(start)
	cpu1, _ := cpuSeconds(cmd.Process.Pid)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(all) == 0 {
		return nil, errors.New("no request completed")
	}
	pct := func(p float64) time.Duration { return all[int(math.Min(float64(len(all)-1), p*float64(len(all))))] }
	return &result{
		name: name, rps: float64(len(all)) / elapsed.Seconds(),
		p50: pct(0.50), p90: pct(0.90), p99: pct(0.99), p999: pct(0.999),
		cpu: (cpu1 - cpu0) / elapsed.Seconds(), rssKiB: peakRSSKiB(cmd.Process.Pid),
		wrong: wrong, errors: errs, count: int64(len(all)),
	}, nil
}

func waitServing(c *grpc.ClientConn, noop bool) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		var err error
		if noop {
			_, err = authv3.NewAuthorizationClient(c).Check(ctx, &authv3.CheckRequest{})
		} else {
			var r *healthpb.HealthCheckResponse
			r, err = healthpb.NewHealthClient(c).Check(ctx, &healthpb.HealthCheckRequest{})
			if err == nil && r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				err = errors.New("not serving")
			}
		}
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("timeout")
}

// cpuSeconds reads a process's user+system CPU time from /proc.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading CPU time (Linux /proc needed): %w", err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100, nil // USER_HZ is 100 on Linux
}

// peakRSSKiB reads VmHWM from /proc.
func peakRSSKiB(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			return n
		}
	}
	return 0
}
