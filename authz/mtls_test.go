package authz

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/internal/testcerts"
)

// TestClientCertificateIdentity: an auth mtls API identifies the app by
// the client certificate Envoy verified, only when the TLS server name
// chose the API's group (its client CA), and names the app upstream.
func TestClientCertificateIdentity(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, dir, "ca")
	srv, srvKey, _ := ca.Leaf(t, dir, "srv", "partners.example.com")
	cfg := fmt.Sprintf(`
listener: {port: 8080, tls_port: 8443}
groups:
  - name: partners
    domains: [partners.example.com, "*.partners.example.com"]
    tls: {cert_file: %[1]q, key_file: %[2]q, client_ca_file: %[3]q}
    apis:
      - {name: orders, path: /orders, auth: mtls, backend: {mock: {body: ok}}}
  - name: other
    domains: [other.example.com]
    tls: {cert_file: %[1]q, key_file: %[2]q, client_ca_file: %[3]q}
    apis:
      - {name: x, path: /x, auth: none, backend: {mock: {body: ok}}}
apps:
  - name: partner-a
    key: partneraaaaaaaaaaaaaaaa
    secret: {value: partner-a-secret-0000}
    grants: [{api: "partners/*"}]
    client_certificate_subjects: [client-a.example.com, "spiffe://example.org/partner-b"]
  - name: partner-c
    key: partnercccccccccccccccc
    secret: {value: partner-c-secret-0000}
    client_certificate_subjects: [client-c]
`, srv, srvKey, ca.File)
	snap, err := config.Load("mtls.yaml", []byte(cfg), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{now: testNow, snap: snap}
	f.svc = mustNew(t, snap, Options{Now: func() time.Time { return f.now }})
	certA, _, _ := ca.Leaf(t, dir, "a", "client-a.example.com")
	certC, _, _ := ca.Leaf(t, dir, "client-c")
	certX, _, _ := ca.Leaf(t, dir, "stranger", "stranger.example.com")
	req := func(certFile, sni string) *authv3.CheckRequest {
		hr, _ := http.NewRequest("GET", "https://partners.example.com/orders", nil)
		r := envoyCheck(hr, nil, "partners/orders", "RELEASE")
		if certFile != "" {
			data, err := os.ReadFile(certFile)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := pem.Decode(data)
			if r.Attributes.Source == nil {
				r.Attributes.Source = &authv3.AttributeContext_Peer{}
			}
			r.Attributes.Source.Certificate = url.QueryEscape(string(pem.EncodeToMemory(b)))
		}
		if sni != "" {
			r.Attributes.TlsSession = &authv3.AttributeContext_TLSSession{Sni: sni}
		}
		return r
	}
	tests := []struct {
		name, cert, sni string
		status          int
		msg             string
	}{
		{"identified", certA, "partners.example.com", 200, ""},
		{"identified through a wildcard name", certA, "eu.partners.example.com", 200, ""},
		{"no certificate", "", "partners.example.com", 400, "Verify client certificate failed: client certificate not found"},
		{"certificate verified for another group", certA, "other.example.com", 400, "Verify client certificate failed: client certificate not verified for this domain"},
		{"no server name", certA, "", 400, "Verify client certificate failed: client certificate not verified for this domain"},
		{"unknown certificate", certX, "partners.example.com", 400, "Verify client certificate failed: no app for client certificate CN=stranger"},
		{"app not granted", certC, "partners.example.com", 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, d, resp := f.check(t, req(tt.cert, tt.sni))
			if status != tt.status || (tt.msg != "" && d.Msg != tt.msg) {
				t.Fatalf("got %d %s %q", status, d.Code, d.Msg)
			}
			if status == 200 {
				if h := upstreamHeaders(resp); h[model.HeaderAppID] != "partner-a" {
					t.Fatalf("app not identified upstream: %v", h)
				}
			}
		})
	}
	// A forged, undecodable certificate.
	r := req(certA, "partners.example.com")
	r.Attributes.Source.Certificate = "%zz"
	if status, d, _ := f.check(t, r); status != 400 || d.Msg != "Verify client certificate failed: client certificate unreadable" {
		t.Fatalf("undecodable certificate: %d %q", status, d.Msg)
	}
}
