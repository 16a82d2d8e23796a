package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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
	"time"

	"github.com/apigwio/apigw/examples/echo/echoserver"
	"github.com/apigwio/apigw/internal/envoybin"
	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/internal/server"
	"github.com/apigwio/apigw/internal/server/metrics"
	"github.com/apigwio/apigw/internal/testcerts"
	"github.com/apigwio/apigw/xds"
)

// mtlsFixture is apigw and Envoy with the TLS listener: group shop (a
// certificate, no client certificates), group partners (client
// certificates verified by clientCA, auth mtls), an open group on the
// plain listener, and an https backend that requires a client
// certificate.
type mtlsFixture struct {
	*gateway
	tlsPort                 int
	serverCA, clientCA      *testcerts.CA
	shopCert, shopKey       string
	goodClient, badClient   tls.Certificate
	strangerClient          tls.Certificate
	backendCert, backendKey string
}

const mtlsConfig = `# apigw end-to-end suite (test/e2e/mtls_test.go), generated.
server:
  grpc_address: 127.0.0.1:{{GRPC}}
  admin_address: 127.0.0.1:{{ADMIN}}
listener:
  address: 127.0.0.1
  port: {{PORT}}
  tls_port: {{TLSPORT}}
settings:
  backend_tls:
    ca_file: {{BACKENDCA}}
{{CLIENTCERT}}
groups:
  - name: open
    apis:
      - {name: public, method: GET, path: /public, auth: none, backend: {url: "http://{{ECHO}}"}}
  - name: shop
    domains: [shop.example.com]
    tls: {cert_file: {{SHOPCERT}}, key_file: {{SHOPKEY}}}
    apis:
      - {name: hello, method: GET, path: /shop, auth: none, backend: {url: "http://{{ECHO}}"}}
      - {name: secure, method: GET, path: /secure-backend, auth: none, backend: {url: "https://{{MTLSBACKEND}}"}}
  - name: partners
    domains: [partners.example.com]
    tls: {cert_file: {{PARTNERSCERT}}, key_file: {{PARTNERSKEY}}, client_ca_file: {{CLIENTCA}}}
    apis:
      - {name: orders, method: GET, path: /orders, auth: mtls, backend: {url: "http://{{ECHO}}"}}
apps:
  - name: partner-a
    key: partneraaaaaaaaaaaaaaaa
    secret: {value: partner-a-secret-0000}
    grants: [{api: "partners/*"}]
    client_certificate_subjects: [client-a.example.com]
`

func tlsPair(t *testing.T, certFile, keyFile string) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func startMTLS(t *testing.T, withBackendClientCert, sotw bool) *mtlsFixture {
	t.Helper()
	bin := envoybin.Require(t)
	dir := t.TempDir()
	f := &mtlsFixture{}
	f.serverCA = testcerts.NewCA(t, dir, "server-ca")
	f.clientCA = testcerts.NewCA(t, dir, "client-ca")
	otherCA := testcerts.NewCA(t, dir, "other-ca")
	f.shopCert, f.shopKey, _ = f.serverCA.Leaf(t, dir, "shop", "shop.example.com")
	partnersCert, partnersKey, _ := f.serverCA.Leaf(t, dir, "partners", "partners.example.com")
	f.goodClient = leafPair(t, f.clientCA, dir, "client-a", "client-a.example.com")
	f.strangerClient = leafPair(t, f.clientCA, dir, "stranger", "stranger.example.com")
	f.badClient = leafPair(t, otherCA, dir, "client-a-forged", "client-a.example.com")

	echo := httptest.NewServer(echoserver.Handler("echo"))
	t.Cleanup(echo.Close)
	// The backend that requires a client certificate signed by backendCA.
	backendCA := testcerts.NewCA(t, dir, "backend-client-ca")
	f.backendCert, f.backendKey, _ = backendCA.Leaf(t, dir, "gateway-client", "gateway.example.com")
	backendPool := x509.NewCertPool()
	backendPool.AddCert(backendCA.Cert)
	mtlsBackend := httptest.NewUnstartedServer(echoserver.Handler("mtls-backend"))
	mtlsBackend.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: backendPool}
	mtlsBackend.StartTLS()
	t.Cleanup(mtlsBackend.Close)
	backendCAFile := filepath.Join(dir, "backend-ca.pem")
	writeFileAtomic(t, backendCAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: mtlsBackend.Certificate().Raw}))

	ports := freePorts(t, 5)
	f.tlsPort = ports[3]
	clientCert := ""
	if withBackendClientCert {
		clientCert = fmt.Sprintf("    client_certificate: {cert_file: %s, key_file: %s}", f.backendCert, f.backendKey)
	}
	cfg := strings.NewReplacer(
		"{{GRPC}}", fmt.Sprint(ports[0]), "{{ADMIN}}", fmt.Sprint(ports[1]), "{{PORT}}", fmt.Sprint(ports[2]),
		"{{TLSPORT}}", fmt.Sprint(ports[3]), "{{BACKENDCA}}", backendCAFile, "{{CLIENTCERT}}", clientCert,
		"{{ECHO}}", strings.TrimPrefix(echo.URL, "http://"), "{{MTLSBACKEND}}", strings.TrimPrefix(mtlsBackend.URL, "https://"),
		"{{SHOPCERT}}", f.shopCert, "{{SHOPKEY}}", f.shopKey, "{{PARTNERSCERT}}", partnersCert, "{{PARTNERSKEY}}", partnersKey,
		"{{CLIENTCA}}", f.clientCA.File,
	).Replace(mtlsConfig)
	g := &gateway{
		dir: dir, envoyPort: ports[2], envoyAdminPort: ports[4],
		client: &http.Client{Timeout: requestTimeout},
		sotw:   sotw,
	}
	g.configPath = filepath.Join(dir, "gateway.yaml")
	writeFileAtomic(t, g.configPath, []byte(cfg))
	g.apigwLog = filepath.Join(dir, "apigw.log")
	logFile, err := os.Create(g.apigwLog)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logFile.Close() })
	logger := slog.New(slog.NewTextHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g.xds = xds.NewServer(logger, xds.Options{CertificatePoll: 200 * time.Millisecond})
	reg := metrics.New()
	g.xds.RegisterMetrics(reg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g.srv, err = server.Start(ctx, server.Options{
		ConfigPath: g.configPath, WatchInterval: 200 * time.Millisecond, ShutdownTimeout: 5 * time.Second,
		Logger: logger, XDS: g.xds, Metrics: reg,
	})
	if err != nil {
		t.Fatalf("starting apigw: %v", err)
	}
	t.Cleanup(g.srv.Shutdown)
	t.Cleanup(func() {
		if t.Failed() {
			g.dumpLogs(t)
		}
	})
	g.startEnvoy(t, bin)
	f.gateway = g
	return f
}

func leafPair(t *testing.T, ca *testcerts.CA, dir, name string, names ...string) tls.Certificate {
	t.Helper()
	c, k, _ := ca.Leaf(t, dir, name, names...)
	return tlsPair(t, c, k)
}

// tlsClient connects to the TLS listener whatever the URL's host, with
// SNI = the URL's host, trusting serverCA, presenting certs.
func (f *mtlsFixture) tlsClient(certs ...tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(f.serverCA.Cert)
	addr := fmt.Sprintf("127.0.0.1:%d", f.tlsPort)
	return &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs},
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			},
			DisableKeepAlives: true,
		},
	}
}

func getEcho(c *http.Client, url string) (int, echoserver.Response, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, echoserver.Response{}, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r echoserver.Response
	_ = json.Unmarshal(b, &r)
	return resp.StatusCode, r, string(b), nil
}

// servedSerial is the serial of the certificate the TLS listener serves
// for sni.
func (f *mtlsFixture) servedSerial(t *testing.T, sni string) string {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", f.tlsPort),
		&tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		return "dial: " + err.Error()
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

// TestMTLS runs TLS on the listener through a real Envoy (delta and
// state-of-the-world ADS): certificates per group by SNI (SDS), client
// certificates verified and identifying the app, hot reload of a replaced
// certificate file, an unreadable file keeping the last good certificate,
// and the backend client certificate.
func TestMTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	t.Run("delta", func(t *testing.T) { testMTLS(t, false) })
	t.Run("sotw", func(t *testing.T) { testMTLS(t, true) })
}

func testMTLS(t *testing.T, sotw bool) {
	start := time.Now()
	f := startMTLS(t, true, sotw)
	// The TLS listener is served once Envoy has the secrets.
	f.eventually(t, envoyReadyTimeout, "the TLS listener serves shop", func() (bool, string) {
		code, _, body, err := getEcho(f.tlsClient(), "https://shop.example.com/shop")
		return err == nil && code == 200, fmt.Sprintf("%d %q %v", code, body, err)
	})
	// Secrets answered at once: an unanswered secret request shows as
	// Envoy's 15 s initial fetch timeout (state-of-the-world ADS did, see
	// xds.muxSecrets).
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Envoy served the TLS listener after %v: a secret request waited for Envoy's initial fetch timeout?", d.Round(time.Second))
	}

	t.Run("certificate chosen by SNI, plain listener still serves", func(t *testing.T) {
		code, r, body, err := getEcho(f.tlsClient(), "https://shop.example.com/shop")
		if err != nil || code != 200 || r.Name != "echo" || r.Headers["x-forwarded-proto"] != "https" {
			t.Fatalf("https shop: %d %s %v", code, body, err)
		}
		// Verified against serverCA with the name partners.example.com.
		if code, _, body, err := getEcho(f.tlsClient(f.goodClient), "https://partners.example.com/orders"); err != nil || code != 200 {
			t.Fatalf("https partners: %d %s %v", code, body, err)
		}
		if _, err := f.tlsClient().Get("https://unknown.example.com/shop"); err == nil {
			t.Fatal("a server name of no TLS group was served")
		}
		code, _, body, err = f.do(f.request(t, "GET", "/public", nil))
		if err != nil || code != 200 {
			t.Fatalf("plain listener: %d %s %v", code, body, err)
		}
	})

	t.Run("client certificates", func(t *testing.T) {
		if _, err := f.tlsClient().Get("https://partners.example.com/orders"); err == nil {
			t.Error("no client certificate: served")
		}
		if _, err := f.tlsClient(f.badClient).Get("https://partners.example.com/orders"); err == nil {
			t.Error("client certificate of an untrusted CA: served")
		}
		code, r, body, err := getEcho(f.tlsClient(f.goodClient), "https://partners.example.com/orders")
		if err != nil || code != 200 || r.Headers[model.HeaderAppID] != "partner-a" {
			t.Fatalf("good client certificate: %d %s %v", code, body, err)
		}
		// Trusted, but no app has it.
		code, _, body, err = getEcho(f.tlsClient(f.strangerClient), "https://partners.example.com/orders")
		if err != nil || code != 400 || !strings.Contains(body, "APIG.0205") {
			t.Fatalf("certificate of no app: %d %s %v", code, body, err)
		}
		// A verified certificate on shop's chain (no client CA: none is
		// asked) or on the plain listener cannot reach the mtls API.
		req, _ := http.NewRequest("GET", "https://shop.example.com/orders", nil)
		req.Host = "partners.example.com"
		resp, err := f.tlsClient(f.goodClient).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(b), "APIG.0205") {
			t.Fatalf("SNI of shop, Host of partners: %d %s", resp.StatusCode, b)
		}
		plain := f.request(t, "GET", "/orders", nil)
		plain.Host = "partners.example.com"
		if code, _, body, err := f.do(plain); err != nil || code != 400 {
			t.Fatalf("plain listener, Host of partners: %d %s %v", code, body, err)
		}
	})

	t.Run("backend client certificate", func(t *testing.T) {
		code, r, body, err := getEcho(f.tlsClient(), "https://shop.example.com/secure-backend")
		if err != nil || code != 200 || r.Name != "mtls-backend" {
			t.Fatalf("backend requiring a client certificate: %d %s %v", code, body, err)
		}
	})

	t.Run("certificate file replaced, then unreadable", func(t *testing.T) {
		before := f.servedSerial(t, "shop.example.com")
		_, _, next := f.serverCA.Leaf(t, filepath.Dir(f.shopCert), "shop", "shop.example.com")
		want := next.SerialNumber.String()
		if want == before {
			t.Fatal("same serial")
		}
		f.eventually(t, reloadTimeout, "the replaced certificate is served", func() (bool, string) {
			got := f.servedSerial(t, "shop.example.com")
			return got == want, got
		})
		// Unreadable: the last good one keeps serving, the failure is
		// reported at /debug/reload with the path.
		if err := os.WriteFile(f.shopCert, []byte("garbage"), 0o600); err != nil {
			t.Fatal(err)
		}
		f.eventually(t, reloadTimeout, "the failure is reported", func() (bool, string) {
			code, _, body, err := f.do(mustRequest(t, "GET", "http://"+f.srv.AdminAddr().String()+"/debug/reload", nil))
			return err == nil && code == 200 && strings.Contains(body, f.shopCert+": no PEM certificate"), body
		})
		if got := f.servedSerial(t, "shop.example.com"); got != want {
			t.Fatalf("after a broken file: serial %s, want the last good %s", got, want)
		}
		if got := f.metricValue(t, "apigw_certificates_not_reloaded"); got != "1" {
			t.Errorf("apigw_certificates_not_reloaded = %s, want 1", got)
		}
		if got := f.metricValue(t, "apigw_certificate_earliest_expiry_timestamp_seconds"); got == "0" || got == "" {
			t.Errorf("apigw_certificate_earliest_expiry_timestamp_seconds = %q", got)
		}
		code, _, body, err := f.do(mustRequest(t, "GET", "http://"+f.srv.AdminAddr().String()+"/debug/config", nil))
		if err != nil || code != 200 || strings.Contains(body, "PRIVATE KEY") || strings.Contains(body, "BEGIN CERTIFICATE") {
			t.Fatalf("/debug/config: %d %v (must not show certificate contents)", code, err)
		}
		logs, _ := os.ReadFile(f.apigwLog)
		if strings.Contains(string(logs), "PRIVATE KEY") {
			t.Fatal("the apigw log shows key material")
		}
	})
}

// TestMTLSBackendWithoutClientCertificate: the backend that requires a
// client certificate is not reached when none is configured.
func TestMTLSBackendWithoutClientCertificate(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	f := startMTLS(t, false, false)
	f.eventually(t, envoyReadyTimeout, "the TLS listener serves shop", func() (bool, string) {
		code, _, body, err := getEcho(f.tlsClient(), "https://shop.example.com/shop")
		return err == nil && code == 200, fmt.Sprintf("%d %q %v", code, body, err)
	})
	code, r, body, err := getEcho(f.tlsClient(), "https://shop.example.com/secure-backend")
	if err != nil || code == 200 || r.Name == "mtls-backend" {
		t.Fatalf("backend requiring a client certificate reached without one: %d %s %v", code, body, err)
	}
}
