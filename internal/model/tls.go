package model

// GroupTLS is how a group's domains are served on the TLS listener
// (Listener.TLSPort): the certificate Envoy presents for them (chosen by
// SNI) and, with ClientCAFile, the CA clients' certificates must chain to.
// The files are read by apigw and sent to Envoy over SDS; the model holds
// paths only, never their contents.
type GroupTLS struct {
	CertFile, KeyFile string
	// ClientCAFile turns on client-certificate verification ("": off).
	ClientCAFile string
}

// CertificateFiles is a PEM certificate chain and its key, read by apigw.
type CertificateFiles struct {
	CertFile, KeyFile string
}

// HasClientCertificates reports whether some group verifies client
// certificates (Envoy then sends the peer certificate to Check).
func (s *Snapshot) HasClientCertificates() bool {
	for _, g := range s.Groups {
		if g != nil && g.TLS != nil && g.TLS.ClientCAFile != "" {
			return true
		}
	}
	return false
}
