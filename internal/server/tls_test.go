package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/apigwio/apigw/internal/testcerts"
)

// TestGRPCPortTLS: with server.tls (and client_ca_file) the gRPC port
// speaks TLS and requires a client certificate from the client CA; the
// certificate files are re-read when they change on disk.
func TestGRPCPortTLS(t *testing.T) {
	dir := t.TempDir()
	serverCA := testcerts.NewCA(t, dir, "server-ca")
	clientCA := testcerts.NewCA(t, dir, "client-ca")
	otherCA := testcerts.NewCA(t, dir, "other-ca")
	certFile, keyFile, first := serverCA.Leaf(t, dir, "apigw", "apigw.internal", "127.0.0.1")
	clientCert, clientKey, _ := clientCA.Leaf(t, dir, "envoy", "envoy")
	strangerCert, strangerKey, _ := otherCA.Leaf(t, dir, "stranger", "stranger")

	path := filepath.Join(dir, "gw.yaml")
	config := fmt.Sprintf(`server:
  grpc_address: "127.0.0.1:0"
  admin_address: "127.0.0.1:0"
  tls: {cert_file: %q, key_file: %q, client_ca_file: %q, envoy_ca_file: /etc/apigw/ca.pem, envoy_cert_file: /etc/apigw/envoy.pem, envoy_key_file: /etc/apigw/envoy-key.pem}
groups: [{name: g, apis: [{name: open, path: /open, auth: none, backend: {url: "http://10.0.0.1"}}]}]
`, certFile, keyFile, clientCA.File)
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncWriter{w: &strings.Builder{}}
	s, err := Start(context.Background(), Options{ConfigPath: path, WatchInterval: -1, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)

	roots := x509.NewCertPool()
	roots.AddCert(serverCA.Cert)
	// check connects with a fresh connection and returns the server
	// certificate seen, or the error.
	check := func(cert *tls.Certificate) (*x509.Certificate, error) {
		var seen *x509.Certificate
		cfg := &tls.Config{RootCAs: roots, ServerName: "apigw.internal", MinVersion: tls.VersionTLS12,
			VerifyConnection: func(cs tls.ConnectionState) error { seen = cs.PeerCertificates[0]; return nil }}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		conn, err := grpc.NewClient(s.GRPCAddr().String(), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			err = fmt.Errorf("health %v", resp.GetStatus())
		}
		return seen, err
	}
	load := func(certFile, keyFile string) *tls.Certificate {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		return &c
	}

	seen, err := check(load(clientCert, clientKey))
	if err != nil {
		t.Fatalf("client with a certificate from the client CA: %v", err)
	}
	if !seen.Equal(first) {
		t.Errorf("server certificate serial %v, want %v", seen.SerialNumber, first.SerialNumber)
	}
	if _, err := check(nil); err == nil {
		t.Error("client without a certificate was served")
	}
	if _, err := check(load(strangerCert, strangerKey)); err == nil {
		t.Error("client with a certificate from another CA was served")
	}
	// Plaintext is refused.
	if err := plaintextHealth(s.GRPCAddr().String()); err == nil {
		t.Error("plaintext client was served")
	}

	// Rotation: a new certificate written over the files is served to new
	// connections, without a restart.
	time.Sleep(tlsCheckInterval) // the files are stat'ed at most once a second
	_, _, second := serverCA.Leaf(t, dir, "apigw", "apigw.internal", "127.0.0.1")
	deadline := time.Now().Add(5 * time.Second)
	for {
		seen, err = check(load(clientCert, clientKey))
		if err == nil && seen.Equal(second) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after rotation: serial %v (%v), want %v", seen.SerialNumber, err, second.SerialNumber)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "certificate files reloaded") {
		t.Errorf("no reload logged:\n%s", logs.String())
	}
}

func plaintextHealth(addr string) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecureCreds()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	return err
}

func insecureCreds() credentials.TransportCredentials { return insecure.NewCredentials() }
