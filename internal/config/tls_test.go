package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apigwio/apigw/internal/testcerts"
)

func groupTLSConfig(tlsPort int, tls string) string {
	return fmt.Sprintf(`listener: {port: 8080, tls_port: %d}
groups:
  - name: shop
    domains: [shop.example.com]
    tls: %s
    apis: [{name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}}]
`, tlsPort, tls)
}

// TestGroupTLS: groups[].tls loads its files at validation; a pair that
// does not match, an expired certificate, a CA file that is not PEM, a
// missing file are refused with the path and the reason.
func TestGroupTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, dir, "ca")
	cert, key, _ := ca.Leaf(t, dir, "shop", "shop.example.com")
	_, otherKey, _ := ca.Leaf(t, dir, "other", "other.example.com")
	expired, expiredKey, _ := ca.LeafValid(t, dir, "expired", time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour), "shop.example.com")
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("this is not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := fmt.Sprintf("{cert_file: %q, key_file: %q, client_ca_file: %q}", cert, key, ca.File)
	snap, err := Load("ok.yaml", []byte(groupTLSConfig(8443, ok)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if g := snap.Groups[0]; g.TLS == nil || g.TLS.ClientCAFile != ca.File || snap.Listener.TLSPort != 8443 {
		t.Fatalf("group TLS %+v, listener %+v", g.TLS, snap.Listener)
	}
	for name, c := range map[string]struct {
		port      int
		tls, want string
	}{
		"key does not match": {8443, fmt.Sprintf("{cert_file: %q, key_file: %q}", cert, otherKey), "groups[0].tls: " + cert + " with key " + otherKey + ": tls: private key does not match public key"},
		"expired":            {8443, fmt.Sprintf("{cert_file: %q, key_file: %q}", expired, expiredKey), "groups[0].tls: " + expired + `: certificate "CN=expired" expired at`},
		"CA not PEM":         {8443, fmt.Sprintf("{cert_file: %q, key_file: %q, client_ca_file: %q}", cert, key, notPEM), "groups[0].tls.client_ca_file: " + notPEM + ": not a PEM CA bundle"},
		"missing file":       {8443, fmt.Sprintf("{cert_file: %q, key_file: %q}", filepath.Join(dir, "nope.pem"), key), "groups[0].tls: " + filepath.Join(dir, "nope.pem") + ": no such file or directory"},
		"no key":             {8443, fmt.Sprintf("{cert_file: %q}", cert), "groups[0].tls: cert_file and key_file are both required"},
		"no TLS port":        {0, ok, "groups[0].tls: needs listener.tls_port"},
		"same port":          {8080, ok, "listener.tls_port: 8080 is also listener.port"},
	} {
		_, err := Load("bad.yaml", []byte(groupTLSConfig(c.port, c.tls)), Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v\nwant %q", name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("%s: the error shows key material", name)
		}
	}
	// A group with tls needs SNI names: not the catch-all.
	_, err = Load("any.yaml", []byte(strings.Replace(groupTLSConfig(8443, ok), "domains: [shop.example.com]", "domains: []", 1)), Options{})
	if err == nil || !strings.Contains(err.Error(), `domain "*" cannot be an SNI name`) {
		t.Errorf("catch-all domain: %v", err)
	}
}

// TestBackendClientCertificate: settings.backend_tls.client_certificate
// loads at validation, and is refused with insecure_skip_verify.
func TestBackendClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, dir, "ca")
	cert, key, _ := ca.Leaf(t, dir, "client", "client")
	base := "groups: [{name: g, apis: [{name: a, path: /a, auth: none, backend: {url: \"https://10.0.0.1\"}}]}]\n"
	snap, err := Load("ok.yaml", []byte(fmt.Sprintf("settings: {backend_tls: {client_certificate: {cert_file: %q, key_file: %q}}}\n", cert, key)+base), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c := snap.Settings.BackendTLS.ClientCertificate; c == nil || c.CertFile != cert {
		t.Fatalf("client certificate %+v", c)
	}
	_, err = Load("bad.yaml", []byte(fmt.Sprintf("settings: {backend_tls: {insecure_skip_verify: true, client_certificate: {cert_file: %q, key_file: %q}}}\n", cert, key)+base), Options{})
	if err == nil || !strings.Contains(err.Error(), "settings.backend_tls.client_certificate: a client certificate with insecure_skip_verify") {
		t.Errorf("insecure: %v", err)
	}
	_, err = Load("bad.yaml", []byte(fmt.Sprintf("settings: {backend_tls: {client_certificate: {cert_file: %q, key_file: %q}}}\n", cert, cert)+base), Options{})
	if err == nil || !strings.Contains(err.Error(), "settings.backend_tls.client_certificate: "+cert+" with key "+cert) {
		t.Errorf("key is a certificate: %v", err)
	}
}

// TestMTLSAuth: auth mtls needs a group with a client CA; a certificate
// subject identifies one app only.
func TestMTLSAuth(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, dir, "ca")
	cert, key, _ := ca.Leaf(t, dir, "shop", "shop.example.com")
	cfg := func(clientCA string) string {
		return fmt.Sprintf(`listener: {port: 8080, tls_port: 8443}
groups:
  - name: shop
    domains: [shop.example.com]
    tls: {cert_file: %q, key_file: %q, client_ca_file: %q}
    apis: [{name: a, path: /a, auth: mtls, backend: {url: "http://10.0.0.1"}}]
apps:
  - {name: x, key: xxxxxxxxxxxxxxxx, secret: {value: xxxxxxxxxxxxxxxx}, client_certificate_subjects: [client.example.com]}
`, cert, key, clientCA)
	}
	snap, err := Load("ok.yaml", []byte(cfg(ca.File)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if api := snap.APIs["shop/a"]; api.Auth.String() != "mtls" {
		t.Fatalf("auth %v", api.Auth)
	}
	_, err = Load("bad.yaml", []byte(strings.Replace(cfg(ca.File), ", client_ca_file: "+fmt.Sprintf("%q", ca.File), "", 1)), Options{})
	if err == nil || !strings.Contains(err.Error(), `groups[0]: API "a" has auth mtls: the group needs tls.client_ca_file`) {
		t.Errorf("no client CA: %v", err)
	}
	dup := cfg(ca.File) + "  - {name: y, key: yyyyyyyyyyyyyyyy, secret: {value: yyyyyyyyyyyyyyyy}, client_certificate_subjects: [client.example.com]}\n"
	_, err = Load("dup.yaml", []byte(dup), Options{})
	if err == nil || !strings.Contains(err.Error(), `apps[1].client_certificate_subjects[0]: "client.example.com" already identifies apps[0]`) {
		t.Errorf("duplicate subject: %v", err)
	}
}

// TestTLSWarnings: a group that requires client certificates warns about
// its APIs served without one on the plain listener.
func TestTLSWarnings(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, dir, "ca")
	cert, key, _ := ca.Leaf(t, dir, "shop", "shop.example.com")
	cfg := fmt.Sprintf(`listener: {port: 8080, tls_port: 8443}
groups:
  - name: shop
    domains: [shop.example.com]
    tls: {cert_file: %q, key_file: %q, client_ca_file: %q}
    apis:
      - {name: a, path: /a, auth: mtls, backend: {url: "http://10.0.0.1"}}
      - {name: b, path: /b, auth: none, backend: {url: "http://10.0.0.2"}}
`, cert, key, ca.File)
	snap, err := Load("w.yaml", []byte(cfg), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ws := Warnings(snap)
	if len(ws) != 1 || !strings.Contains(ws[0], "group shop requires client certificates on the TLS listener, but its APIs b (not auth mtls) are also served without one on the plain-HTTP listener (port 8080)") {
		t.Fatalf("warnings %q", ws)
	}
}
