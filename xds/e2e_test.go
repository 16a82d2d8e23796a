package xds

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"

	"github.com/apigwio/apigw/internal/envoybin"
	"github.com/apigwio/apigw/internal/testcerts"
)

// allowAll is a stand-in Check service that allows every request.
type allowAll struct {
	authv3.UnimplementedAuthorizationServer
}

func (allowAll) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return &authv3.CheckResponse{
		Status:       &status.Status{Code: int32(code.Code_OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
	}, nil
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestEnvoyEndToEnd runs a real Envoy with the generated bootstrap against
// the xDS server (and a permissive Check service), then calls a mock API
// and an unknown path. It needs an Envoy binary (see internal/envoybin:
// `make envoy` installs one) and skips without one, or fails when
// APIGW_REQUIRE_ENVOY=1.
func TestEnvoyEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	bin := envoybin.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// The gRPC port serves xDS and Check, as in the real service.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	s := NewServer(discardLogger(), Options{})
	s.Register(g)
	authv3.RegisterAuthorizationServer(g, allowAll{})
	go func() { _ = g.Serve(lis) }()
	defer g.Stop()

	port := freePort(t)
	snap := loadYAML(t, "e2e", fmt.Sprintf(`
server: {grpc_address: %q}
listener: {address: 127.0.0.1, port: %d}
groups:
  - name: e2e
    apis:
      - name: hello
        method: GET
        path: /hello
        auth: none
        backend: {mock: {body: '{"hello":"world"}', headers: {content-type: application/json}}}
`, lis.Addr().String(), port))
	if err := s.Publish(ctx, snap); err != nil {
		t.Fatal(err)
	}

	boot, err := Bootstrap(BootstrapOptions{XDSAddress: lis.Addr().String(), AdminPort: uint32(freePort(t))})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	startEnvoy(ctx, t, bin, dir, boot)

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (int, http.Header, string, error) {
		resp, err := client.Get(base + path)
		if err != nil {
			return 0, nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b), err
	}

	// Wait until Envoy has the listener and routes and answers the mock.
	var code int
	var body string
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if code, _, body, err = get("/hello"); err == nil && code == http.StatusOK {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code != http.StatusOK || body != `{"hello":"world"}` {
		t.Fatalf("GET /hello = %d %q (%v), want 200 with the mock body", code, body, err)
	}

	code, hdr, body, err := get("/no/such/api")
	if err != nil {
		t.Fatal(err)
	}
	var e struct {
		Code      string `json:"error_code"`
		Msg       string `json:"error_msg"`
		RequestID string `json:"request_id"`
	}
	if code != http.StatusNotFound || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") ||
		json.Unmarshal([]byte(body), &e) != nil || e.Code != "APIG.0101" || e.RequestID == "" {
		t.Fatalf("GET /no/such/api = %d %s %q, want 404 APIG.0101 JSON with a request id", code, hdr.Get("Content-Type"), body)
	}

	n := nodeStatus(s.Status(), DefaultNodeID)
	if n == nil || !n.Connected || n.Acked["route"] != snap.Version || n.LastNACK != nil {
		t.Errorf("xDS status of the Envoy node: %+v", n)
	}

	// An Envoy on the state-of-the-world bootstrap (apigw bootstrap --sotw)
	// receives and accepts the same configuration.
	t.Run("state-of-the-world ADS", func(t *testing.T) {
		boot, err := Bootstrap(BootstrapOptions{NodeID: "apigw-sotw", XDSAddress: lis.Addr().String(), AdminPort: uint32(freePort(t)), SotW: true})
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "sotw.yaml")
		if err := os.WriteFile(path, boot, 0o644); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		sotw := exec.CommandContext(ctx, bin, "-c", path, "--disable-hot-restart", "--log-level", "warn", "--concurrency", "1")
		sotw.Stdout, sotw.Stderr = &out, &out
		if err := sotw.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = sotw.Process.Kill()
			_ = sotw.Wait()
			if t.Failed() {
				t.Logf("Envoy (SotW) log:\n%s", out.String())
			}
		}()
		deadline := time.Now().Add(30 * time.Second)
		for {
			n := nodeStatus(s.Status(), "apigw-sotw")
			if n != nil && n.LastNACK != nil {
				t.Fatalf("the SotW Envoy rejected the configuration: %+v", *n.LastNACK)
			}
			if n != nil && n.Acked["listener"] == snap.Version && n.Acked["route"] == snap.Version && n.Acked["cluster"] == snap.Version {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the SotW Envoy did not ACK version %s: %+v", snap.Version, n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	// The same Envoy then receives the translation of every golden input
	// (testdata/*.input.yaml and the quickstart), one after the other, and
	// must accept each: what ValidateAll and the golden files cannot tell.
	t.Run("Envoy accepts every golden translation", func(t *testing.T) {
		envoyAcceptsGolden(ctx, t, s)
	})
}

// envoyAcceptsGolden publishes the translation of each golden input to the
// Envoy connected to s and waits until it ACKs that version's listener and
// routes, failing on any NACK. Each configuration gets its own free
// listener port (so the listener changes every time, and nothing binds the
// committed ports), and CA and certificate files that exist.
func envoyAcceptsGolden(ctx context.Context, t *testing.T, s *Server) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.input.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	inputs = append(inputs, filepath.Join("..", "examples", "quickstart", "gateway.yaml"))
	nacks := s.Status().NACKs
	dir := t.TempDir()
	ca := testcerts.NewCA(t, dir, "ca")
	envoyCert, envoyKey, _ := ca.Leaf(t, dir, "envoy", "envoy")
	for _, in := range inputs {
		snap := load(t, in)
		snap.Listener.Port = uint32(freePort(t))
		if snap.Listener.TLSPort != 0 {
			snap.Listener.TLSPort = uint32(freePort(t))
		}
		if snap.Settings.BackendTLS.CAFile != "" {
			snap.Settings.BackendTLS.CAFile = "/etc/ssl/certs/ca-certificates.crt"
		}
		if st := snap.Server.TLS; st != nil { // Envoy reads these files: real ones
			st.EnvoyCAFile, st.EnvoyCertFile, st.EnvoyKeyFile = ca.File, envoyCert, envoyKey
		}
		if err := s.Publish(ctx, snap); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			st := s.Status()
			n := nodeStatus(st, DefaultNodeID)
			if st.NACKs != nacks {
				t.Fatalf("%s: Envoy rejected the configuration: %+v", in, n.LastNACK)
			}
			if n != nil && n.Acked["listener"] == snap.Version && n.Acked["route"] == snap.Version {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: version %s not acknowledged after 20s: %+v", in, snap.Version, n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// A late NACK (clusters, endpoints) of the last configurations.
	time.Sleep(500 * time.Millisecond)
	if st := s.Status(); st.NACKs != nacks {
		t.Fatalf("Envoy rejected a configuration: %+v", nodeStatus(st, DefaultNodeID).LastNACK)
	}
}

// TestEnvoyValidatesBootstraps: Envoy's own validation (envoy --mode
// validate) accepts the bootstraps apigw generates (delta and SotW, an IP
// and a host name for the xDS server) and the committed envoy/bootstrap.yaml.
func TestEnvoyValidatesBootstraps(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	bin := envoybin.Require(t)
	dir := t.TempDir()
	cases := map[string]BootstrapOptions{
		"delta":    {},
		"sotw":     {SotW: true},
		"dns host": {XDSAddress: "apigw.internal:18000", NodeID: `node "quoted"`},
	}
	for name, o := range cases {
		boot, err := Bootstrap(o)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".yaml")
		if err := os.WriteFile(path, boot, 0o644); err != nil {
			t.Fatal(err)
		}
		envoyValidate(t, bin, path)
	}
	envoyValidate(t, bin, filepath.Join("..", "envoy", "bootstrap.yaml"))
}

func envoyValidate(t *testing.T, bin, path string) {
	t.Helper()
	out, err := exec.Command(bin, "--mode", "validate", "-c", path, "--log-level", "warn").CombinedOutput()
	if err != nil {
		t.Errorf("envoy --mode validate -c %s: %v\n%s", path, err, out)
	}
}

// startEnvoy writes boot into dir and runs Envoy on it until the test
// ends (or ctx does); a failed test prints Envoy's log.
func startEnvoy(ctx context.Context, t *testing.T, bin, dir string, boot []byte) {
	t.Helper()
	bootPath := filepath.Join(dir, "bootstrap.yaml")
	if err := os.WriteFile(bootPath, boot, 0o644); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "envoy.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "-c", bootPath, "--disable-hot-restart", "--log-level", "info")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("starting %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("Envoy log:\n%s", b)
			}
		}
	})
}
