package xds

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/apigwio/apigw/internal/envoybin"
	"github.com/apigwio/apigw/internal/testcerts"
)

// countingAllow allows every request and counts the calls.
type countingAllow struct{ n atomic.Int64 }

func (c *countingAllow) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	c.n.Add(1)
	return &authv3.CheckResponse{}, nil
}

// TestEnvoyOverMTLS: a real Envoy reaches a gRPC port that requires client
// certificates, for xDS (the bootstrap's xds_cluster) and Check (the
// generated apigw_authz cluster), with the bootstrap and cluster TLS that
// server.tls and the --xds-* options produce. Envoy also validates the
// bootstraps with TLS (envoy --mode validate).
func TestEnvoyOverMTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	bin := envoybin.Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	serverCA := testcerts.NewCA(t, dir, "server-ca")
	clientCA := testcerts.NewCA(t, dir, "client-ca")
	certFile, keyFile, _ := serverCA.Leaf(t, dir, "apigw", "apigw.internal", "127.0.0.1")
	envoyCert, envoyKey, _ := clientCA.Leaf(t, dir, "envoy", "envoy")

	for name, o := range map[string]BootstrapOptions{
		"tls":  {XDSAddress: "apigw.internal:18000", XDSCAFile: serverCA.File},
		"mtls": {XDSAddress: "127.0.0.1:18000", XDSCAFile: serverCA.File, XDSCertFile: envoyCert, XDSKeyFile: envoyKey, XDSServerName: "apigw.internal"},
	} {
		boot, err := Bootstrap(o)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		path := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(path, boot, 0o644); err != nil {
			t.Fatal(err)
		}
		envoyValidate(t, bin, path)
	}

	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	clients := x509.NewCertPool()
	clients.AddCert(clientCA.Cert)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{pair}, ClientCAs: clients, ClientAuth: tls.RequireAndVerifyClientCert,
		MinVersion: tls.VersionTLS12, NextProtos: []string{"h2"},
	})))
	s := NewServer(discardLogger(), Options{})
	s.Register(g)
	check := &countingAllow{}
	authv3.RegisterAuthorizationServer(g, check)
	go func() { _ = g.Serve(lis) }()
	defer g.Stop()

	port := freePort(t)
	snap := loadYAML(t, "mtls", fmt.Sprintf(`
server:
  grpc_address: %q
  tls: {cert_file: %q, key_file: %q, client_ca_file: %q, envoy_ca_file: %q, envoy_cert_file: %q, envoy_key_file: %q, server_name: apigw.internal}
listener: {address: 127.0.0.1, port: %d}
groups:
  - name: g
    apis:
      - {name: hello, method: GET, path: /hello, auth: none, backend: {mock: {body: hi}}}
`, lis.Addr().String(), certFile, keyFile, clientCA.File, serverCA.File, envoyCert, envoyKey, port))
	if err := s.Publish(ctx, snap); err != nil {
		t.Fatal(err)
	}
	boot, err := Bootstrap(BootstrapOptions{XDSAddress: lis.Addr().String(), AdminPort: uint32(freePort(t)),
		XDSCAFile: serverCA.File, XDSCertFile: envoyCert, XDSKeyFile: envoyKey, XDSServerName: "apigw.internal"})
	if err != nil {
		t.Fatal(err)
	}
	startEnvoy(ctx, t, bin, dir, boot)

	client := &http.Client{Timeout: 5 * time.Second}
	var code int
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/hello", port))
		if err == nil {
			code = resp.StatusCode
			resp.Body.Close()
			if code == http.StatusOK {
				break
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	// 200 needs the listener and routes (xDS over mTLS) and an allowing
	// Check (ext_authz fails closed with 503 when apigw_authz is
	// unreachable).
	if code != http.StatusOK || check.n.Load() == 0 {
		t.Fatalf("GET /hello = %d after %d Check calls, want 200 through Check over mTLS", code, check.n.Load())
	}
	if n := nodeStatus(s.Status(), DefaultNodeID); n == nil || !n.Connected || n.Acked["route"] != snap.Version {
		t.Errorf("node status %+v, want connected with the routes acknowledged", n)
	}
}
