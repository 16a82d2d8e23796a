package xds

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/internal/tlsfiles"
)

// Secrets (SDS). The certificates the configuration names are read by
// apigw from its own file system and served to Envoy as Secret resources
// over the same ADS stream as the listeners and clusters that reference
// them (from a snapshot cache of their own: see muxSecrets). The files are read at each Publish and polled
// (Options.CertificatePoll): a change is read, checked (tlsfiles: a key
// that matches, a certificate valid now, a CA bundle that parses) and
// served as a new version of the secret type only, without a new
// configuration version; Envoy uses it for the next handshake. A change
// that does not load keeps the last good secret serving and is reported
// (logged, and in CertificateStatus). Secret contents are never logged or
// shown: only names, paths, validity and errors (which name the file).

// secretSpec is one secret the configuration needs.
type secretSpec struct {
	name string
	// ca: a validation context from certFile; otherwise a certificate
	// chain (certFile) and its key (keyFile).
	ca                bool
	certFile, keyFile string
}

func (sp secretSpec) files() []string {
	if sp.ca {
		return []string{sp.certFile}
	}
	return []string{sp.certFile, sp.keyFile}
}

// secretSpecs lists the secrets snap needs, by name.
func secretSpecs(snap *model.Snapshot) map[string]secretSpec {
	out := map[string]secretSpec{}
	if snap.Listener.TLSPort != 0 {
		for _, g := range snap.Groups {
			if g == nil || g.TLS == nil {
				continue
			}
			n := GroupCertSecret(g.Name)
			out[n] = secretSpec{name: n, certFile: g.TLS.CertFile, keyFile: g.TLS.KeyFile}
			if g.TLS.ClientCAFile != "" {
				n := GroupClientCASecret(g.Name)
				out[n] = secretSpec{name: n, ca: true, certFile: g.TLS.ClientCAFile}
			}
		}
	}
	if c := snap.Settings.BackendTLS.ClientCertificate; c != nil && !snap.Settings.BackendTLS.InsecureSkipVerify {
		out[BackendClientSecret] = secretSpec{name: BackendClientSecret, certFile: c.CertFile, keyFile: c.KeyFile}
	}
	return out
}

// fileStamp tells whether a file changed since it was read.
type fileStamp struct {
	size int64
	mod  time.Time
	mode os.FileMode
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{size: -1}
	}
	return fileStamp{size: fi.Size(), mod: fi.ModTime(), mode: fi.Mode()}
}

func stampsOf(sp secretSpec) []fileStamp {
	var out []fileStamp
	for _, f := range sp.files() {
		out = append(out, stampOf(f))
	}
	return out
}

// secretState is a secret served, and what the last attempt to read it
// gave.
type secretState struct {
	spec secretSpec
	// stamps of the files when secret was read; tried: of the last
	// attempt (a failed one is not retried until the files change again).
	stamps, tried []fileStamp
	secret        *tlsv3.Secret
	version       string
	loadedAt      time.Time
	notAfter      time.Time
	lastError     string
	lastErrorAt   time.Time
}

// newer reports whether st was read (or tried) after o.
func (st *secretState) newer(o *secretState) bool {
	last := func(x *secretState) time.Time {
		if x.lastErrorAt.After(x.loadedAt) {
			return x.lastErrorAt
		}
		return x.loadedAt
	}
	return last(st).After(last(o))
}

// loadSecret reads the files of sp into a Secret with the files' bytes
// inline, and a version (a hash of its encoding).
func loadSecret(sp secretSpec, now time.Time) (*tlsv3.Secret, string, time.Time, error) {
	sec := &tlsv3.Secret{Name: sp.name}
	var notAfter time.Time
	if sp.ca {
		data, _, err := tlsfiles.LoadCA(nil, sp.certFile)
		if err != nil {
			return nil, "", notAfter, err
		}
		sec.Type = &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: data}},
		}}
	} else {
		p, err := tlsfiles.LoadPair(nil, sp.certFile, sp.keyFile, now)
		if err != nil {
			return nil, "", notAfter, err
		}
		notAfter = p.Leaf.NotAfter
		sec.Type = &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: p.CertPEM}},
			PrivateKey:       &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: p.KeyPEM}},
		}}
	}
	if err := sec.ValidateAll(); err != nil {
		return nil, "", notAfter, fmt.Errorf("secret %s: %v", sp.name, err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(sec)
	if err != nil {
		return nil, "", notAfter, fmt.Errorf("secret %s: %v", sp.name, err)
	}
	h := sha256.Sum256(b)
	return sec, hex.EncodeToString(h[:8]), notAfter, nil
}

// stageSecrets loads the secrets snap needs, starting from prev (the
// secrets served): a secret with the same files, unchanged on disk, is
// reused; a changed one is read again, and kept at its last good content
// when that fails (the failure recorded); a new one must load, or snap is
// refused.
func stageSecrets(snap *model.Snapshot, prev map[string]*secretState, now time.Time) (map[string]*secretState, error) {
	specs := secretSpecs(snap)
	if len(specs) == 0 {
		return nil, nil
	}
	next := make(map[string]*secretState, len(specs))
	for _, name := range slices.Sorted(maps.Keys(specs)) {
		sp := specs[name]
		old := prev[name]
		if old != nil && old.spec != sp {
			old = nil
		}
		st, _, err := refreshSecret(sp, old, now)
		if err != nil {
			return nil, fmt.Errorf("xds: secret %s: %w", name, err)
		}
		next[name] = st
	}
	return next, nil
}

// refreshSecret returns the state of sp after reading its files if they
// changed since old (nil: never read), whether the served secret changed,
// and an error only when there is no good secret to serve.
func refreshSecret(sp secretSpec, old *secretState, now time.Time) (*secretState, bool, error) {
	stamps := stampsOf(sp)
	if old != nil && (slices.Equal(stamps, old.stamps) || slices.Equal(stamps, old.tried)) {
		return old, false, nil
	}
	sec, version, notAfter, err := loadSecret(sp, now)
	if err != nil {
		if old == nil {
			return nil, false, err
		}
		st := *old
		st.tried, st.lastError, st.lastErrorAt = stamps, err.Error(), now
		return &st, false, nil
	}
	st := &secretState{spec: sp, stamps: stamps, tried: stamps, secret: sec, version: version, loadedAt: now, notAfter: notAfter}
	return st, old == nil || old.version != version, nil
}

// secretsVersion is the version of the secret type: a hash of the names
// and versions of the secrets.
func secretsVersion(states map[string]*secretState) string {
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(states)) {
		fmt.Fprintf(h, "%s=%s\n", name, states[name].version)
	}
	return "s" + hex.EncodeToString(h.Sum(nil))[:16]
}

// muxSecrets serves secret requests from secrets and every other type
// from main. The main cache runs in ADS mode, which answers a
// state-of-the-world request only when it names every resource of the
// type in the snapshot (so that Envoy gets the endpoints of all its
// clusters at once). Envoy asks for secrets piecemeal: the clusters'
// (backend client certificate) before it has the listeners', so in ADS
// mode that first request went unanswered until Envoy's 15 s initial
// fetch timeout (Envoy 1.40, state-of-the-world; the real-Envoy suite
// found it). The secret cache answers any subset.
func muxSecrets(main, secrets cachev3.Cache) cachev3.Cache {
	return &cachev3.MuxCache{
		Classify: func(r *cachev3.Request) string {
			if r.GetTypeUrl() == resourcev3.SecretType {
				return "secret"
			}
			return "main"
		},
		ClassifyDelta: func(r *cachev3.DeltaRequest) string {
			if r.GetTypeUrl() == resourcev3.SecretType {
				return "secret"
			}
			return "main"
		},
		Caches: map[string]cachev3.Cache{"main": main, "secret": secrets},
	}
}

// secretsSnapshot is the snapshot of the secret cache.
func secretsSnapshot(states map[string]*secretState) (*cachev3.Snapshot, error) {
	list := make([]types.Resource, 0, len(states))
	versions := make(map[string]string, len(states))
	for _, name := range slices.Sorted(maps.Keys(states)) {
		list = append(list, states[name].secret)
		versions[name] = states[name].version
	}
	cs, err := cachev3.NewSnapshot(secretsVersion(states), map[resourcev3.Type][]types.Resource{resourcev3.SecretType: list})
	if err != nil {
		return nil, fmt.Errorf("xds: secrets: %w", err)
	}
	cs.VersionMap = map[string]map[string]string{resourcev3.SecretType: versions}
	return cs, nil
}

// serveSecretsLocked serves s.secrets. s.mu is held.
func (s *Server) serveSecretsLocked(ctx context.Context) error {
	cs, err := secretsSnapshot(s.secrets)
	if err != nil {
		return err
	}
	if err := s.secretCache.SetSnapshot(ctx, nodeKey, cs); err != nil {
		return fmt.Errorf("xds: secrets: %w", err)
	}
	return nil
}

// CertificateStatus is the state of one certificate served over SDS.
type CertificateStatus struct {
	// Secret is the SDS secret name.
	Secret string `json:"secret"`
	// Files are the paths read.
	Files []string `json:"files"`
	// Version of the content served; LoadedAt when it was read.
	Version  string    `json:"version"`
	LoadedAt time.Time `json:"loaded_at"`
	// NotAfter is the end of the served certificate's validity (not for CAs).
	NotAfter time.Time `json:"not_after,omitzero"`
	// LastError is the last change that did not load (the previous
	// content keeps serving); empty once a change loads.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// CertificateStatus returns the certificates served over SDS, by name.
// It never waits for a Publish or a refresh in progress (it is part of the
// admin port's /debug/reload): it returns what the last one left.
func (s *Server) CertificateStatus() []CertificateStatus {
	if p := s.shownCerts.Load(); p != nil {
		return *p
	}
	return nil
}

// setSecretsLocked makes secrets the served certificates' state, and
// their status the one CertificateStatus shows. s.mu is held.
func (s *Server) setSecretsLocked(secrets map[string]*secretState) {
	s.secrets = secrets
	var out []CertificateStatus
	for _, name := range slices.Sorted(maps.Keys(s.secrets)) {
		st := s.secrets[name]
		out = append(out, CertificateStatus{
			Secret: name, Files: st.spec.files(), Version: st.version, LoadedAt: st.loadedAt,
			NotAfter: st.notAfter, LastError: st.lastError, LastErrorAt: st.lastErrorAt,
		})
	}
	s.shownCerts.Store(&out)
}

// WatchCertificates polls the certificate files every
// Options.CertificatePoll until ctx ends, serving each change that loads.
func (s *Server) WatchCertificates(ctx context.Context) {
	tick := time.NewTicker(s.opts.CertificatePoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			s.RefreshCertificates(ctx)
		}
	}
}

// RefreshCertificates reads the certificate files that changed on disk
// and serves the ones that load (a new version of the secrets); the
// others keep their last good content, and the failure is logged and
// reported in CertificateStatus.
func (s *Server) RefreshCertificates(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.secrets) == 0 || s.current == nil {
		return
	}
	now := time.Now()
	changed := false
	next := make(map[string]*secretState, len(s.secrets))
	for name, old := range s.secrets {
		st, ch, _ := refreshSecret(old.spec, old, now)
		next[name] = st
		switch {
		case ch:
			changed = true
			s.log.Info("xds: certificate reloaded", "secret", name, "files", st.spec.files(), "version", st.version,
				"not_after", st.notAfter)
		case st != old && st.lastErrorAt.Equal(now):
			s.log.Warn("xds: changed certificate files not loaded; the previous certificate keeps serving",
				"secret", name, "error", st.lastError)
		}
	}
	s.setSecretsLocked(next)
	if changed {
		if err := s.serveSecretsLocked(ctx); err != nil {
			s.log.Error("xds: serving reloaded certificates", "error", err)
		}
	}
}
