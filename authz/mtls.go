package authz

import (
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/model"
)

// Client-certificate identification (auth mtls). Envoy verified the
// certificate on the TLS listener, against the client CA of the filter
// chain the ClientHello's SNI chose, and sends it to Check
// (include_peer_certificate: attributes.source.certificate, URL-encoded
// PEM) with the SNI (attributes.tls_session.sni). Check accepts it for an
// API only when the SNI chose that API's group's filter chain — a client
// could otherwise present a certificate of another group's CA and then
// send a Host of this group — and then looks the certificate's names up
// in the apps' client_certificate_subjects.

// maxPeerCertBytes bounds the certificate Check parses.
const maxPeerCertBytes = 64 << 10

// certSubjectCallers maps each client-certificate subject to its app's
// caller (with metadata saying auth mtls).
func certSubjectCallers(snap *model.Snapshot, apps map[string]*caller) map[string]*caller {
	out := map[string]*caller{}
	for key, app := range snap.Apps {
		if len(app.ClientCertSubjects) == 0 {
			continue
		}
		c := *apps[key]
		c.metadata = identityMetadata(map[string]string{"auth": "mtls", "app": app.Name})
		for _, s := range app.ClientCertSubjects {
			out[s] = &c
		}
	}
	return out
}

// peerTLS reads the client certificate and SNI Envoy reported.
func peerTLS(attrs *authv3.AttributeContext) (cert, sni string) {
	return attrs.GetSource().GetCertificate(), attrs.GetTlsSession().GetSni()
}

// authenticateClientCert identifies the app of an auth mtls API.
func authenticateClientCert(t *tables, dep *deployment, r *request) (*caller, *apigerr.Error) {
	if r.peerCert == "" {
		return nil, apigerr.WithDetail(apigerr.ClientCertificateFailed, "client certificate not found")
	}
	if g := sniGroup(t.snap, r.sni); g == nil || g.Name != dep.api.Group {
		return nil, apigerr.WithDetail(apigerr.ClientCertificateFailed, "client certificate not verified for this domain")
	}
	cert := parsePeerCert(r.peerCert)
	if cert == nil {
		return nil, apigerr.WithDetail(apigerr.ClientCertificateFailed, "client certificate unreadable")
	}
	var found *caller
	for _, name := range certNames(cert) {
		c := t.certSubjects[name]
		switch {
		case c == nil:
		case found == nil:
			found = c
		case found.app != c.app:
			// Names of two apps: refuse rather than pick one.
			return nil, apigerr.WithDetail(apigerr.ClientCertificateFailed, "client certificate names several apps")
		}
	}
	if found == nil {
		return nil, apigerr.WithDetail(apigerr.ClientCertificateFailed, "no app for client certificate "+clip(cert.Subject.String()))
	}
	return found, nil
}

// parsePeerCert decodes Envoy's URL-encoded PEM leaf certificate.
func parsePeerCert(enc string) *x509.Certificate {
	if len(enc) > 3*maxPeerCertBytes {
		return nil
	}
	p, err := url.QueryUnescape(enc)
	if err != nil {
		return nil
	}
	b, _ := pem.Decode([]byte(p))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil
	}
	return c
}

// certNames are the names a certificate can be identified by: its SANs
// (URI, DNS, e-mail, IP), its subject common name and its subject DN.
func certNames(c *x509.Certificate) []string {
	var out []string
	for _, u := range c.URIs {
		out = append(out, u.String())
	}
	out = append(out, c.DNSNames...)
	out = append(out, c.EmailAddresses...)
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	if c.Subject.CommonName != "" {
		out = append(out, c.Subject.CommonName)
	}
	return append(out, c.Subject.String())
}

// sniGroup is the group whose filter chain Envoy chose for sni on the TLS
// listener, as Envoy chooses it: an exact server name first, then the
// longest wildcard (*.b.example.com before *.example.com); nil for none.
func sniGroup(snap *model.Snapshot, sni string) *model.Group {
	sni = strings.ToLower(sni)
	if sni == "" {
		return nil
	}
	owner := map[string]*model.Group{}
	for _, g := range snap.Groups {
		if g == nil || g.TLS == nil {
			continue
		}
		for _, d := range g.Domains {
			owner[strings.ToLower(d)] = g
		}
	}
	if g := owner[sni]; g != nil {
		return g
	}
	for i := strings.IndexByte(sni, '.'); i >= 0; {
		if g := owner["*"+sni[i:]]; g != nil {
			return g
		}
		j := strings.IndexByte(sni[i+1:], '.')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return nil
}
