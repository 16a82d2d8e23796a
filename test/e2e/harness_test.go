package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/examples/echo/echoserver"
	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/server"
	"github.com/apigwio/apigw/internal/server/metrics"
	"github.com/apigwio/apigw/xds"
)

// The app of the suite's configuration.
const (
	appName   = "e2e-app"
	appKey    = "e2e0app0key0000000000000000000001"
	appSecret = "e2e-app-secret-do-not-use"
)

// Bounds of the waits.
const (
	envoyReadyTimeout = 60 * time.Second
	reloadTimeout     = 30 * time.Second
	requestTimeout    = 10 * time.Second
)

// freePorts returns n distinct free loopback ports. They are free when
// returned; another process could take one before it is bound again, which
// is unlikely enough on a test machine.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// params fill the suite's configuration template.
type params struct {
	GRPCPort, AdminPort, ListenerPort int
	Release, Beta                     string // echo backends, host:port
	// Secure is an https echo backend (127.0.0.1:port) whose certificate
	// names 127.0.0.1 and example.com, signed by the CA in CAFile.
	Secure, CAFile             string
	DeadPort                   int // nothing listens there
	AppKey, AppSecret, AppName string
	// Added adds the API "added" (the configuration change test).
	Added bool
	// Auth adds the auth-type fixtures of auth_test.go (IAM users, key
	// pairs, a token issuer with JWKSFile, a custom authorizer at
	// AuthorizerURL, an app with a code); AppCodeHTTP sets
	// settings.app_code_allow_http.
	Auth                    bool
	JWKSFile, AuthorizerURL string
	AppCodeHTTP             bool
	// ChanA and ChanB are the echo servers (host:port) of the channel
	// "pair" (routing_test.go).
	ChanA, ChanB string
	// WS is the WebSocket echo server (websocket_test.go), host:port.
	WS string
	// ExtraAPIs is YAML appended to the apis of group e2e (items indented
	// by six spaces), for the reload tests.
	ExtraAPIs string
	// SigKeyBackend and SigKeyWrongBackend are the backends that verify
	// the gateway's signature (sigkey_test.go), host:port.
	SigKeyBackend, SigKeyWrongBackend string
}

// configTemplate is the suite's gateway configuration. Settings are chosen
// for the tests: the smallest body limit (1MB), lockout loose enough that the
// tampered-signature tests do not lock the app, a 1 s backend timeout on
// /slow and a 2/s throttle on /limited.
var configTemplate = template.Must(template.New("gateway").Parse(`# apigw end-to-end suite (test/e2e), generated.
server:
  grpc_address: 127.0.0.1:{{.GRPCPort}}
  admin_address: 127.0.0.1:{{.AdminPort}}
listener:
  address: 127.0.0.1
  port: {{.ListenerPort}}
settings:
  max_body_size: 1MB
  lockout: {max_failures: 50, duration: 1m}
  backend_tls: {ca_file: "{{.CAFile}}"}
{{- if .AppCodeHTTP}}
  app_code_allow_http: true
{{- end}}
environments:
  - name: RELEASE
    variables: {backend: "{{.Release}}"}
  - name: BETA
    variables: {backend: "{{.Beta}}"}
groups:
  - name: e2e
    apis:
      - name: hello
        method: GET
        path: /hello
        auth: app
        environments: [RELEASE, BETA]
        backend: {url: "http://#{backend}#/echo/hello"}
      - name: public
        method: GET
        path: /public
        auth: none
        cors: {allow_origins: ["https://app.example.com"], max_age: 10m}
        backend: {url: "http://#{backend}#/public"}
      - name: upload
        method: POST
        path: /upload
        auth: none
        backend: {url: "http://#{backend}#/upload"}
      - name: submit
        method: POST
        path: /submit
        auth: app
        backend: {url: "http://#{backend}#/submit"}
      - name: down
        method: GET
        path: /down
        auth: none
        backend: {url: "http://127.0.0.1:{{.DeadPort}}/down", timeout: 2s}
      - name: slow
        method: GET
        path: /slow
        auth: app
        backend: {url: "http://#{backend}#/slow", timeout: 1s}
      - name: limited
        method: GET
        path: /limited
        auth: none
        backend: {url: "http://#{backend}#/limited"}
      - name: secure
        method: GET
        path: /secure
        auth: none
        backend: {url: "https://{{.Secure}}/secure"}
      - name: wrong-name
        method: GET
        path: /wrong-name
        auth: none
        backend: {url: "https://localhost:{{.SecurePort}}/wrong-name"}
{{- if .Auth}}
{{template "authAPIs" .}}
{{- end}}
{{- if .SigKeyBackend}}
{{template "sigkeyAPIs" .}}
{{- end}}
{{template "securityAPIs" .}}
{{template "replayAPIs" .}}
{{template "paramsAPIs" .}}
{{template "validationAPIs" .}}
{{- if .Added}}
      - name: added
        method: GET
        path: /added
        auth: none
        backend: {mock: {status: 200, body: "added", headers: {content-type: text/plain}}}
{{- end}}
{{- if .ExtraAPIs}}
{{.ExtraAPIs}}
{{- end}}
  - name: route
    domains: [route.example.com]
    apis:
      - {name: exact, method: GET, path: /r/a, auth: none, backend: {url: "http://{{.Release}}/exact"}}
      - {name: prefix, method: GET, path: /r/a/, match: prefix, auth: none, backend: {url: "http://{{.Release}}/prefix/"}}
      - {name: post, method: POST, path: /r/post, auth: none, backend: {url: "http://{{.Release}}/post"}}
      - name: policy
        method: GET
        path: /r/policy
        auth: none
        backend: {url: "http://{{.Release}}/policy"}
        backend_policies:
          - {name: by-header, conditions: [{type: header, name: x-variant, values: [beta]}], backend: {url: "http://{{.Beta}}/policy-header"}}
          - {name: by-query, conditions: [{type: query, name: v, values: [beta, b]}], backend: {url: "http://{{.Beta}}/policy-query"}}
      - name: policy-app
        method: GET
        path: /r/policy-app
        auth: app
        backend: {url: "http://{{.Release}}/policy-app"}
        backend_policies:
          - {name: by-app, conditions: [{type: app, values: [{{.AppName}}]}], backend: {url: "http://{{.Beta}}/policy-app-beta"}}
      - {name: ws, method: GET, path: /r/ws, auth: none, websocket: true, backend: {url: "http://{{.WS}}/ws"}}
      - {name: ws-app, method: GET, path: /r/ws-app, auth: app, websocket: true, backend: {url: "http://{{.WS}}/ws-app"}}
      - {name: mock, method: GET, path: /r/mock, auth: none, backend: {mock: {status: 201, body: '{"mock":true}', headers: {content-type: application/json, x-mock: "yes"}}}}
      - {name: channel, method: GET, path: /r/channel, auth: none, backend: {channel: pair, path: /channel}}
      - {name: retry, method: GET, path: /r/retry, auth: none, backend: {channel: flaky, path: /retry, retries: 2}}
      - {name: noretry, method: GET, path: /r/noretry, auth: none, backend: {channel: flaky, path: /noretry}}
  - name: tc
    domains: [tc.example.com]
    error_dialect: tencent
    apis:
      - name: ping
        method: GET
        path: /ping
        auth: none
        backend: {mock: {status: 200, body: pong, headers: {content-type: text/plain}}}
      - {name: down, method: GET, path: /down, auth: none, backend: {url: "http://127.0.0.1:{{.DeadPort}}/down", timeout: 2s}}
      - {name: slow, method: GET, path: /slow, auth: none, backend: {url: "http://{{.Release}}/slow", timeout: 1s}}
  # path environments and source-IP backend policies (routing_test.go)
  - name: pe
    domains: [pe.example.com]
    error_dialect: tencent
    path_environments: {enabled: true, mapping: {release: RELEASE, beta: BETA}}
    apis:
      - {name: users, method: GET, path: /users, auth: none, environments: [RELEASE, BETA], backend: {url: "http://#{backend}#/users"}}
      - name: office
        method: GET
        path: /office
        auth: none
        environments: [RELEASE]
        backend: {url: "http://{{.Release}}/office"}
        backend_policies:
          - {name: loopback, conditions: [{type: source_ip, values: ["127.0.0.0/8"]}], backend: {url: "http://{{.Beta}}/office-loopback"}}
      - name: elsewhere
        method: GET
        path: /elsewhere
        auth: none
        environments: [RELEASE]
        backend: {url: "http://{{.Release}}/elsewhere"}
        backend_policies:
          - {name: far, conditions: [{type: source_ip, values: ["192.0.2.0/24", "198.51.100.7"]}], backend: {url: "http://{{.Beta}}/elsewhere-far"}}
  # gateway responses (responses_test.go)
  - name: gwr
    domains: [gwr.example.com]
    gateway_response: brand
    apis:
      - {name: app, method: GET, path: /g/app, auth: app, backend: {url: "http://{{.Release}}/g/app"}}
      - {name: down, method: GET, path: /g/down, auth: none, backend: {url: "http://127.0.0.1:{{.DeadPort}}/down", timeout: 2s}}
      - {name: upload, method: POST, path: /g/upload, auth: none, backend: {url: "http://{{.Release}}/g/upload"}}
      - {name: limited, method: GET, path: /g/limited, auth: none, backend: {url: "http://{{.Release}}/g/limited"}}
{{- if .Auth}}
{{template "authGroups" .}}
{{- end}}
gateway_responses:
  - name: brand
    responses:
      NOT_FOUND: {status: 410, body: '{{.BrandBody}}', headers: {x-brand: "nf $context.error.code"}}
      AUTH_FAILURE: {status: 403, body: '{{.BrandBody}}', headers: {x-brand: "auth $context.error.type"}}
      BACKEND_UNAVAILABLE: {status: 503, body: '{{.BrandBody}}', headers: {x-brand: "down"}}
      THROTTLED: {status: 420, body: '{{.BrandBody}}', headers: {x-brand: "slow", x-brand-rid: "$context.requestId"}}
      REQUEST_ENTITY_TOO_LARGE: {status: 400, body: '{{.BrandBody}}', headers: {x-brand: "big"}}
channels:
  - name: pair
    members: [{address: "{{.ChanA}}"}, {address: "{{.ChanB}}"}]
    health_check: {path: /health, interval: 1s, timeout: 500ms, healthy_threshold: 1, unhealthy_threshold: 1}
  - name: flaky
    members: [{address: "127.0.0.1:{{.DeadPort}}"}, {address: "{{.Release}}"}]
throttle_policies:
  - name: tight
    unit: second
    api_limit: 2
    bindings: [{api: e2e/limited}{{if .Auth}}, {api: tcauth/limited}{{end}}]
  - name: gwr-tight
    unit: second
    api_limit: 1
    bindings: [{api: gwr/limited}]
apps:
  - name: {{.AppName}}
    key: {{.AppKey}}
    secret: {value: "{{.AppSecret}}"}
    grants: [{api: "e2e/*"}, {api: "route/*"}, {api: "gwr/*"}]
{{template "replayApps" .}}
{{- if .Auth}}
{{template "authCredentials" .}}
{{- end}}
{{- if .SigKeyBackend}}
{{template "sigkeyTop" .}}
{{- end}}
`))

// SecurePort is the port of Secure.
func (p params) SecurePort() string {
	_, port, _ := net.SplitHostPort(p.Secure)
	return port
}

func renderConfig(t *testing.T, p params) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := configTemplate.Execute(&b, p); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// writeFileAtomic replaces path with data the way a deployment should (write
// then rename), so the watcher never reads a half-written file.
func writeFileAtomic(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// gateway is apigw with its backends, and Envoy once started.
type gateway struct {
	dir        string
	params     params
	configPath string
	apigwLog   string
	srv        *server.Server
	xds        *xds.Server
	// rateLimited is true when the generated listener has a rate-limit
	// filter (throttling reaches Envoy); the suite's throttle policy
	// requires it.
	rateLimited bool

	// chanA is the first member of the channel "pair" (routing_test.go
	// stops it).
	chanA *httptest.Server

	envoyPort, envoyAdminPort int
	envoy                     *envoyProcess
	client                    *http.Client
	auth                      *authFixtures // auth_test.go

	// sotw starts Envoy with state-of-the-world ADS (default delta).
	sotw bool
}

// startGateway starts the echo backends and apigw (in process, as
// `apigw serve` wires it) on free loopback ports. opts change the server
// options before the start.
func startGateway(t *testing.T, opts ...func(*server.Options)) *gateway {
	t.Helper()
	release := httptest.NewServer(echoserver.Handler("release"))
	t.Cleanup(release.Close)
	beta := httptest.NewServer(echoserver.Handler("beta"))
	t.Cleanup(beta.Close)
	// httptest's certificate is its own CA and names 127.0.0.1, ::1 and
	// example.com (not localhost).
	secure := httptest.NewTLSServer(echoserver.Handler("secure"))
	t.Cleanup(secure.Close)
	chanA := httptest.NewServer(echoserver.Handler("chan-a"))
	t.Cleanup(chanA.Close)
	chanB := httptest.NewServer(echoserver.Handler("chan-b"))
	t.Cleanup(chanB.Close)
	ws := httptest.NewServer(wsEchoHandler())
	t.Cleanup(ws.Close)

	ports := freePorts(t, 5)
	g := &gateway{
		dir: t.TempDir(),
		params: params{
			GRPCPort: ports[0], AdminPort: ports[1], ListenerPort: ports[2], DeadPort: ports[3],
			Release: strings.TrimPrefix(release.URL, "http://"),
			Beta:    strings.TrimPrefix(beta.URL, "http://"),
			Secure:  strings.TrimPrefix(secure.URL, "https://"),
			AppKey:  appKey, AppSecret: appSecret, AppName: appName,
			ChanA: strings.TrimPrefix(chanA.URL, "http://"),
			ChanB: strings.TrimPrefix(chanB.URL, "http://"),
			WS:    strings.TrimPrefix(ws.URL, "http://"),
		},
		chanA:          chanA,
		envoyPort:      ports[2],
		envoyAdminPort: ports[4],
		client:         &http.Client{Timeout: requestTimeout},
	}
	g.auth = newAuthFixtures(t, g.dir, &g.params)
	g.params.SigKeyBackend, g.params.SigKeyWrongBackend = startSigKeyBackends(t)
	g.params.CAFile = filepath.Join(g.dir, "backend-ca.pem")
	writeFileAtomic(t, g.params.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: secure.Certificate().Raw}))
	g.configPath = filepath.Join(g.dir, "gateway.yaml")
	writeFileAtomic(t, g.configPath, renderConfig(t, g.params))
	g.rateLimited = listenerRateLimited(t, g.configPath)

	g.apigwLog = filepath.Join(g.dir, "apigw.log")
	logFile, err := os.Create(g.apigwLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	logger := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g.xds = xds.NewServer(logger, xds.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	reg := metrics.New() // with the xDS metrics, as apigw serve has them
	g.xds.RegisterMetrics(reg)
	so := server.Options{
		Metrics:           reg,
		ConfigPath:        g.configPath,
		WatchInterval:     200 * time.Millisecond,
		ShutdownTimeout:   5 * time.Second,
		Logger:            logger,
		XDS:               g.xds,
		UnaryInterceptors: checkInterceptors, // security_test.go
		Debug:             map[string]func() any{"xds": func() any { return g.xds.Status() }},
	}
	for _, o := range opts {
		o(&so)
	}
	g.srv, err = server.Start(ctx, so)
	if err != nil {
		t.Fatalf("starting apigw: %v", err)
	}
	t.Cleanup(g.srv.Shutdown)
	t.Cleanup(func() {
		if t.Failed() {
			g.dumpLogs(t)
		}
	})
	return g
}

// listenerRateLimited reports whether the listener generated for the
// configuration has a rate-limit HTTP filter.
func listenerRateLimited(t *testing.T, path string) bool {
	t.Helper()
	snap, err := config.LoadFile(path, config.Options{})
	if err != nil {
		t.Fatalf("suite configuration refused: %v", err)
	}
	res, err := xds.Translate(snap, xds.Options{})
	if err != nil {
		t.Fatalf("suite configuration not translated: %v", err)
	}
	for _, l := range res.Listeners {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				hcm := &hcmv3.HttpConnectionManager{}
				if f.GetTypedConfig() == nil || f.GetTypedConfig().UnmarshalTo(hcm) != nil {
					continue
				}
				for _, hf := range hcm.GetHttpFilters() {
					if strings.Contains(hf.GetName(), "ratelimit") || strings.Contains(hf.GetTypedConfig().GetTypeUrl(), "ratelimit") {
						return true
					}
				}
			}
		}
	}
	return false
}

// startEnvoy starts Envoy from a bootstrap generated by xds.Bootstrap for
// apigw's gRPC port, and waits (bounded) until its admin /ready says LIVE
// and the listener answers.
func (g *gateway) startEnvoy(t *testing.T, bin string) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		g.launchEnvoy(t, bin)
		if g.envoy.waitLive(t, g.envoyAdminPort) {
			break
		}
		if attempt == envoyBindAttempts || !g.envoy.couldNotBind() {
			t.Fatalf("Envoy exited during start-up: %v", g.envoy.err)
		}
		t.Logf("Envoy could not bind (another process took a port): starting it again on another admin port")
		g.envoyAdminPort = freePorts(t, 1)[0]
	}
	// Ready means the first configuration was applied; wait until the
	// listener serves an API too.
	g.eventually(t, envoyReadyTimeout, "the listener serves /public", func() (bool, string) {
		code, _, body, err := g.do(g.request(t, "GET", "/public", nil))
		return err == nil && code == http.StatusOK, fmt.Sprintf("%d %q %v", code, body, err)
	})
}

// launchEnvoy writes the bootstrap and starts Envoy on it, stopped at the
// test's end.
func (g *gateway) launchEnvoy(t *testing.T, bin string) {
	t.Helper()
	boot, err := xds.Bootstrap(xds.BootstrapOptions{
		NodeID:     "apigw-e2e",
		XDSAddress: g.srv.GRPCAddr().String(),
		AdminPort:  uint32(g.envoyAdminPort),
		SotW:       g.sotw,
	})
	if err != nil {
		t.Fatal(err)
	}
	bootPath := filepath.Join(g.dir, "envoy.yaml")
	if err := os.WriteFile(bootPath, boot, 0o600); err != nil {
		t.Fatal(err)
	}
	g.envoy = runEnvoy(t, bin, bootPath, filepath.Join(g.dir, "envoy.log"))
}

// eventually polls cond every 200 ms until it holds or timeout passes.
func (g *gateway) eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v (last: %s)", what, timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func mustRequest(t *testing.T, method, url string, body []byte) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// request is an unsigned request to Envoy's listener.
func (g *gateway) request(t *testing.T, method, path string, body []byte) *http.Request {
	t.Helper()
	return mustRequest(t, method, fmt.Sprintf("http://127.0.0.1:%d%s", g.envoyPort, path), body)
}

// signed is a request signed for the suite's app (SDK-HMAC-SHA256), with
// headers set before signing (so they are signed too).
func (g *gateway) signed(t *testing.T, method, path string, body []byte, headers map[string]string) *http.Request {
	t.Helper()
	req := g.request(t, method, path, body)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if err := signing.SignRequest(req, body, signing.SignOptions{Access: appKey, Secret: appSecret}); err != nil {
		t.Fatal(err)
	}
	return req
}

// do sends req and reads the whole response.
func (g *gateway) do(req *http.Request) (int, http.Header, string, error) {
	resp, err := g.client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), err
}

// echoed sends req and decodes the echo backend's answer, which must be 200.
func (g *gateway) echoed(t *testing.T, req *http.Request) echoserver.Response {
	t.Helper()
	code, _, body, err := g.do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	var r echoserver.Response
	if code != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil || r.Name == "" {
		t.Fatalf("%s %s = %d %s, want 200 from an echo backend", req.Method, req.URL, code, body)
	}
	return r
}

// apigError is the gateway's JSON error body.
type apigError struct {
	Code      string `json:"error_code"`
	Msg       string `json:"error_msg"`
	RequestID string `json:"request_id"`
}

// expectError sends req and checks the status and the APIG JSON error (one
// of codes). It returns the error.
func (g *gateway) expectError(t *testing.T, req *http.Request, status int, codes ...string) apigError {
	t.Helper()
	code, hdr, body, err := g.do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	if code != status || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Fatalf("%s %s = %d (%s) %s, want %d with an APIG JSON body %v", req.Method, req.URL, code, hdr.Get("Content-Type"), body, status, codes)
	}
	return expectErrorBody(t, body, codes...)
}

// expectErrorBody checks that body is the APIG JSON error with one of codes
// and a request id.
func expectErrorBody(t *testing.T, body string, codes ...string) apigError {
	t.Helper()
	var e apigError
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("body %q is not the APIG JSON error %v: %v", body, codes, err)
	}
	for _, c := range codes {
		if e.Code == c {
			if e.RequestID == "" {
				t.Errorf("no request_id in %s", body)
			}
			return e
		}
	}
	t.Fatalf("body %s, want error_code %v", body, codes)
	return e
}

// envoyLogPath is the path of Envoy's log ("" before Envoy started).
func (g *gateway) envoyLogPath() string {
	if g.envoy == nil {
		return ""
	}
	return g.envoy.log
}

// dumpLogs logs the tails of the apigw and Envoy logs and the xDS status.
func (g *gateway) dumpLogs(t *testing.T) {
	t.Logf("xDS status: %s", mustJSON(g.xds.Status()))
	for _, f := range []string{g.apigwLog, g.envoyLogPath()} {
		if f == "" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 150 {
			lines = lines[len(lines)-150:]
		}
		t.Logf("%s (last %d lines):\n%s", filepath.Base(f), len(lines), strings.Join(lines, "\n"))
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
