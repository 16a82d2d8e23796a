// Package tlsfiles reads and checks the PEM files apigw serves to Envoy
// over SDS: certificate/key pairs and CA bundles. The configuration
// validation and the xDS server's reloads use the same checks, so a file
// refused at validation is refused at run time for the same reason.
//
// Errors name the file and the reason; they never contain key material.
package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// ReadFunc reads a file (os.ReadFile by default).
type ReadFunc func(string) ([]byte, error)

// Pair is a loaded certificate chain and its key.
type Pair struct {
	// CertPEM and KeyPEM are the files' contents, as read.
	CertPEM, KeyPEM []byte
	// Leaf is the first certificate of the chain.
	Leaf *x509.Certificate
}

// LoadPair reads a PEM certificate chain and its private key and checks
// that the key matches the leaf and that the leaf is valid at now.
func LoadPair(read ReadFunc, certFile, keyFile string, now time.Time) (*Pair, error) {
	if read == nil {
		read = os.ReadFile
	}
	certPEM, err := read(certFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, unwrapPath(err))
	}
	keyPEM, err := read(keyFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, unwrapPath(err))
	}
	if !hasBlock(certPEM, "CERTIFICATE") {
		return nil, fmt.Errorf("%s: no PEM certificate", certFile)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// crypto/tls's messages say what is wrong (no key, a key that
		// does not match the certificate) without quoting the key.
		return nil, fmt.Errorf("%s with key %s: %v", certFile, keyFile, err)
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%s: %v", certFile, err)
		}
	}
	if err := checkValidity(leaf, now); err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	return &Pair{CertPEM: certPEM, KeyPEM: keyPEM, Leaf: leaf}, nil
}

// LoadCA reads a PEM bundle of CA certificates; it must hold at least one
// certificate and nothing that does not parse.
func LoadCA(read ReadFunc, file string) ([]byte, *x509.CertPool, error) {
	if read == nil {
		read = os.ReadFile
	}
	data, err := read(file)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", file, unwrapPath(err))
	}
	pool := x509.NewCertPool()
	n := 0
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: certificate %d: %v", file, n+1, err)
		}
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, nil, fmt.Errorf("%s: not a PEM CA bundle (no CERTIFICATE block)", file)
	}
	return data, pool, nil
}

func checkValidity(c *x509.Certificate, now time.Time) error {
	switch {
	case now.After(c.NotAfter):
		return fmt.Errorf("certificate %q expired at %s", c.Subject.String(), c.NotAfter.UTC().Format(time.RFC3339))
	case now.Before(c.NotBefore):
		return fmt.Errorf("certificate %q is not valid before %s", c.Subject.String(), c.NotBefore.UTC().Format(time.RFC3339))
	}
	return nil
}

func hasBlock(data []byte, typ string) bool {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return false
		}
		if b.Type == typ {
			return true
		}
	}
}

// unwrapPath drops the *fs.PathError wrapper (the path is said once).
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
