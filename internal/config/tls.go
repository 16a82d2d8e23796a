package config

// Certificates apigw serves to Envoy over SDS: the groups' certificates on
// the TLS listener, their client CAs, and the client certificate towards
// https backends. The files are read and checked here (a key that does not
// match, an expired certificate, a CA file that is not PEM are refused
// with the path and the reason); the xDS server reads them again, and
// again whenever they change on disk.

import (
	"fmt"
	"strings"
	"time"

	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/internal/tlsfiles"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// listenerTLS validates listener.tls_port.
func (b *builder) listenerTLS(l *configv1.Listener) {
	out := &b.snap.Listener
	out.TLSPort = l.GetTlsPort()
	switch {
	case out.TLSPort > 65535:
		b.ps.add("listener.tls_port", "%d is not a port (1-65535)", out.TLSPort)
	case out.TLSPort != 0 && out.TLSPort == out.Port:
		b.ps.add("listener.tls_port", "%d is also listener.port (the TLS listener needs its own port)", out.TLSPort)
	}
}

// groupTLS validates groups[].tls: the group needs explicit domains (they
// are the SNI names its certificate is chosen by) and the files must load.
func (b *builder) groupTLS(path string, grp *model.Group, t *configv1.GroupTls) {
	if t == nil {
		return
	}
	path = field(path, "tls")
	out := &model.GroupTLS{CertFile: t.GetCertFile(), KeyFile: t.GetKeyFile(), ClientCAFile: t.GetClientCaFile()}
	grp.TLS = out
	if b.snap.Listener.TLSPort == 0 {
		b.ps.add(path, "needs listener.tls_port (the TLS listener the group is served on)")
	}
	for _, d := range grp.Domains {
		if d == "*" || strings.Count(d, "*") > 1 || (strings.Contains(d, "*") && !strings.HasPrefix(d, "*.")) {
			b.ps.add(path, "domain %q cannot be an SNI name: a group with tls needs its domains listed (exact, or *.example.com)", d)
		}
	}
	b.certificatePair(path, out.CertFile, out.KeyFile)
	if out.ClientCAFile != "" {
		if _, _, err := tlsfiles.LoadCA(b.opts.ReadFile, out.ClientCAFile); err != nil {
			b.ps.add(field(path, "client_ca_file"), "%v", err)
		}
	}
}

// backendClientCertificate validates settings.backend_tls.client_certificate.
func (b *builder) backendClientCertificate(c *configv1.CertificateFiles) *model.CertificateFiles {
	if c == nil {
		return nil
	}
	path := "settings.backend_tls.client_certificate"
	out := &model.CertificateFiles{CertFile: c.GetCertFile(), KeyFile: c.GetKeyFile()}
	if b.snap.Settings.BackendTLS.InsecureSkipVerify {
		b.ps.add(path, "a client certificate with insecure_skip_verify would be presented to any backend on the path")
	}
	b.certificatePair(path, out.CertFile, out.KeyFile)
	return out
}

func (b *builder) certificatePair(path, certFile, keyFile string) {
	if certFile == "" || keyFile == "" {
		b.ps.add(path, "cert_file and key_file are both required")
		return
	}
	if _, err := tlsfiles.LoadPair(b.opts.ReadFile, certFile, keyFile, time.Now()); err != nil {
		b.ps.add(path, "%v", err)
	}
}

// clientCertSubjects validates apps[].client_certificate_subjects: each
// names one app only.
func (b *builder) clientCertSubjects(path string, a *configv1.App, app *model.App) {
	if b.certSubjects == nil {
		b.certSubjects = map[string]string{}
	}
	for i, s := range a.GetClientCertificateSubjects() {
		p := idx(field(path, "client_certificate_subjects"), i)
		if s == "" || len(s) > 1024 || strings.ContainsAny(s, "\x00\r\n") {
			b.ps.add(p, "%q is not a certificate subject or SAN", s)
			continue
		}
		if first, dup := b.certSubjects[s]; dup {
			b.ps.add(p, "%q already identifies %s", s, first)
			continue
		}
		b.certSubjects[s] = path
		app.ClientCertSubjects = append(app.ClientCertSubjects, s)
	}
}

// mtlsAPIs checks that every API with auth mtls is in a group that
// verifies client certificates (groups[].tls.client_ca_file).
func (b *builder) mtlsAPIs() {
	for i, g := range b.snap.Groups {
		if g.TLS != nil && g.TLS.ClientCAFile != "" {
			continue
		}
		for _, api := range g.APIs {
			if api.Auth == model.AuthMTLS {
				b.ps.add(idx("groups", i), "API %q has auth mtls: the group needs tls.client_ca_file (client certificates are verified on the TLS listener)", api.Name)
			}
		}
	}
}

// tlsOpenAPIs returns the names of g's APIs that are not auth mtls when g
// requires client certificates on the TLS listener (nil otherwise), for
// the TLS warning: every group is also served on the plain-HTTP listener
// (listener.port), so such a group serves those APIs to clients without
// a certificate there. (auth mtls APIs refuse them: no certificate.)
func tlsOpenAPIs(g *model.Group) []string {
	if g == nil || g.TLS == nil || g.TLS.ClientCAFile == "" {
		return nil
	}
	var open []string
	for _, api := range g.APIs {
		if api.Auth != model.AuthMTLS {
			open = append(open, api.Name)
		}
	}
	return open
}

// tlsWarning is tlsWarnings' warning about group, whose APIs open are not
// auth mtls, with the plain-HTTP listener on port.
func tlsWarning(group string, open []string, port uint32) string {
	return fmt.Sprintf("group %s requires client certificates on the TLS listener, but its APIs %s (not auth mtls) are also served without one on the plain-HTTP listener (port %d): use auth mtls, or keep the plain port off the network those clients reach",
		group, strings.Join(open, ", "), port)
}
