package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/apigwio/apigw/internal/model"
)

// tlsFiles serves the gRPC port's certificate and client CA from files,
// re-read when they change on disk: each handshake compares the files'
// size and modification time with those of the last read (at most once per
// tlsCheckInterval) and re-reads them when they differ. A change that does
// not load (a half-written file, a key that does not match) keeps the last
// good pair and is logged; the next handshake tries again.
type tlsFiles struct {
	cfg *model.ServerTLS
	log *slog.Logger
	now func() time.Time

	mu      sync.Mutex
	checked time.Time
	stamps  [3]fileStamp
	cert    *tls.Certificate
	pool    *x509.CertPool
}

// tlsCheckInterval bounds how often the files are stat'ed.
const tlsCheckInterval = time.Second

type fileStamp struct {
	size int64
	mod  time.Time
}

func stamp(path string) fileStamp {
	if path == "" {
		return fileStamp{}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{size: -1}
	}
	return fileStamp{fi.Size(), fi.ModTime()}
}

// newTLSFiles loads the files once: an error here is fatal at start.
func newTLSFiles(cfg *model.ServerTLS, log *slog.Logger) (*tlsFiles, error) {
	f := &tlsFiles{cfg: cfg, log: log, now: time.Now}
	if err := f.load(); err != nil {
		return nil, err
	}
	return f, nil
}

// load reads the certificate, key and client CA.
func (f *tlsFiles) load() error {
	stamps := [3]fileStamp{stamp(f.cfg.CertFile), stamp(f.cfg.KeyFile), stamp(f.cfg.ClientCAFile)}
	cert, err := tls.LoadX509KeyPair(f.cfg.CertFile, f.cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("server.tls: %w", err)
	}
	var pool *x509.CertPool
	if f.cfg.ClientCAFile != "" {
		pem, err := os.ReadFile(f.cfg.ClientCAFile)
		if err != nil {
			return fmt.Errorf("server.tls.client_ca_file: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return errors.New("server.tls.client_ca_file: no PEM certificate in " + f.cfg.ClientCAFile)
		}
	}
	f.cert, f.pool, f.stamps = &cert, pool, stamps
	return nil
}

// refresh re-reads the files when they changed since the last read.
func (f *tlsFiles) refresh() {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if now.Sub(f.checked) < tlsCheckInterval {
		return
	}
	f.checked = now
	if [3]fileStamp{stamp(f.cfg.CertFile), stamp(f.cfg.KeyFile), stamp(f.cfg.ClientCAFile)} == f.stamps {
		return
	}
	old := f.stamps
	if err := f.load(); err != nil {
		f.stamps = old
		f.log.Warn("server.tls: changed files not loaded; keeping the previous certificate", "error", err)
		return
	}
	f.log.Info("server.tls: certificate files reloaded", "cert_file", f.cfg.CertFile, "client_ca_file", f.cfg.ClientCAFile)
}

// Config is the tls.Config of the gRPC port: TLS 1.2 or later, HTTP/2,
// and with a client CA a verified client certificate required.
func (f *tlsFiles) Config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			f.refresh()
			f.mu.Lock()
			cert, pool := f.cert, f.pool
			f.mu.Unlock()
			c := &tls.Config{
				MinVersion:   tls.VersionTLS12,
				NextProtos:   []string{"h2"},
				Certificates: []tls.Certificate{*cert},
			}
			if pool != nil {
				c.ClientCAs, c.ClientAuth = pool, tls.RequireAndVerifyClientCert
			}
			return c, nil
		},
	}
}
