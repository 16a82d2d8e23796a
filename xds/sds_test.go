package xds

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/apigwio/apigw/internal/testcerts"
)

func tlsConfigYAML(cert, key, ca string) string {
	return fmt.Sprintf(`
server: {grpc_address: 127.0.0.1:18000}
listener: {port: 8080, tls_port: 8443}
groups:
  - name: shop
    domains: [shop.example.com]
    tls: {cert_file: %q, key_file: %q, client_ca_file: %q}
    apis:
      - {name: ping, path: /ping, auth: none, backend: {mock: {body: pong}}}
`, cert, key, ca)
}

// servedSecret returns the secret name served by s, with the secret type's
// version.
func servedSecret(t *testing.T, s *Server, name string) (*tlsv3.Secret, string) {
	t.Helper()
	snap, err := s.secretCache.GetSnapshot(nodeKey)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := snap.GetResources(resourcev3.SecretType)[name]
	if !ok {
		t.Fatalf("secret %s not served", name)
	}
	return r.(*tlsv3.Secret), snap.GetVersion(resourcev3.SecretType)
}

// TestSecretsServedAndReloaded: the group's certificate and client CA are
// served over SDS from the files; a replaced certificate is served as a
// new secret version without a new configuration version; a file that no
// longer loads keeps the last good certificate serving and is reported.
func TestSecretsServedAndReloaded(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, dir, "ca")
	cert, key, _ := ca.Leaf(t, dir, "shop", "shop.example.com")
	snap := loadYAML(t, "tls.yaml", tlsConfigYAML(cert, key, ca.File))
	s := NewServer(nil, Options{})
	ctx := context.Background()
	if err := s.Publish(ctx, snap); err != nil {
		t.Fatal(err)
	}
	first, v1 := servedSecret(t, s, GroupCertSecret("shop"))
	pem1, _ := os.ReadFile(cert)
	if got := first.GetTlsCertificate().GetCertificateChain().GetInlineBytes(); string(got) != string(pem1) {
		t.Fatal("served certificate is not the file's")
	}
	if caSec, _ := servedSecret(t, s, GroupClientCASecret("shop")); caSec.GetValidationContext().GetTrustedCa() == nil {
		t.Fatal("client CA not served as a validation context")
	}
	cfgVersion := s.Status().Version

	// Replaced on disk (a new key pair for the same names).
	ca.Leaf(t, dir, "shop", "shop.example.com")
	s.RefreshCertificates(ctx)
	second, v2 := servedSecret(t, s, GroupCertSecret("shop"))
	if v2 == v1 || string(second.GetTlsCertificate().GetCertificateChain().GetInlineBytes()) == string(pem1) {
		t.Fatalf("replaced certificate not served (versions %s, %s)", v1, v2)
	}
	if s.Status().Version != cfgVersion {
		t.Fatal("a certificate change changed the configuration version")
	}

	// A key file that no longer loads: the last good pair keeps serving.
	if err := os.WriteFile(key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.RefreshCertificates(ctx)
	if _, v3 := servedSecret(t, s, GroupCertSecret("shop")); v3 != v2 {
		t.Fatalf("a broken key changed the served secrets (%s -> %s)", v2, v3)
	}
	var found bool
	for _, c := range s.Status().Certificates {
		if c.Secret == GroupCertSecret("shop") {
			found = true
			if !strings.Contains(c.LastError, key) {
				t.Fatalf("last_error %q does not name %s", c.LastError, key)
			}
		}
	}
	if !found {
		t.Fatal("certificate missing from the status")
	}
	// Removed: still the last good one.
	if err := os.Remove(filepath.Join(dir, "shop.pem")); err != nil {
		t.Fatal(err)
	}
	s.RefreshCertificates(ctx)
	if _, v4 := servedSecret(t, s, GroupCertSecret("shop")); v4 != v2 {
		t.Fatal("a removed certificate changed the served secrets")
	}
	// Status never shows key material.
	for _, c := range s.Status().Certificates {
		if strings.Contains(fmt.Sprint(c), "PRIVATE KEY") {
			t.Fatal("status shows a key")
		}
	}
}
