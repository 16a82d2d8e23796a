package token

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// testNow is the fixed time of most tests.
var testNow = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// testKey is a private key with its kid and algorithm.
type testKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

func (k testKey) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

var (
	rsaOnce sync.Once
	rsaKeys [3]*rsa.PrivateKey
)

// rsaKey returns one of three RSA 2048 keys generated once per test binary.
func rsaKey(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() {
		for j := range rsaKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaKeys[j] = k
		}
	})
	return rsaKeys[i]
}

func newRSA(t testing.TB, kid string, i int) testKey {
	return testKey{kid, jose.RS256, rsaKey(t, i)}
}

func newEC(t testing.TB, kid string) testKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid, jose.ES256, k}
}

func newEd(t testing.TB, kid string) testKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid, jose.EdDSA, k}
}

// jwks renders the public keys as a JWKS document.
func jwks(t testing.TB, keys ...testKey) []byte {
	t.Helper()
	set := jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.jwk())
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// claimsAt returns standard claims for issuer iss valid around testNow.
func claimsAt(iss string) map[string]any {
	return map[string]any{
		"iss":     iss,
		"sub":     "user-1",
		"aud":     "gateway",
		"exp":     testNow.Add(time.Hour).Unix(),
		"iat":     testNow.Add(-time.Minute).Unix(),
		"account": "acme",
		"project": "p-1",
	}
}

// sign makes a compact JWS of claims with k (kid header unless k.kid is "").
func sign(t testing.TB, k testKey, claims any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if k.kid != "" {
		opts = opts.WithHeader("kid", k.kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, ok := claims.([]byte)
	if !ok {
		if payload, err = json.Marshal(claims); err != nil {
			t.Fatal(err)
		}
	}
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// rawToken assembles header.payload and signs it with HMAC-SHA256 under
// secret (nil: empty signature, as for alg "none").
func rawToken(header, payload string, secret []byte) string {
	in := b64([]byte(header)) + "." + b64([]byte(payload))
	if secret == nil {
		return in + "."
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(in))
	return in + "." + b64(m.Sum(nil))
}

// clock is a settable Options.Now.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock { c := &clock{}; c.set(t); return c }
func (c *clock) set(t time.Time)  { c.ns.Store(t.UnixNano()) }
func (c *clock) add(d time.Duration) {
	c.ns.Add(int64(d))
}
func (c *clock) now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// jwksServer serves a JWKS that tests can replace, or fail.
type jwksServer struct {
	*httptest.Server
	mu    sync.Mutex
	body  []byte
	down  bool
	hits  atomic.Int64
	etags bool
}

func newJWKSServer(t testing.TB, body []byte) *jwksServer {
	s := &jwksServer{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, down, etags := s.body, s.down, s.etags
		s.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if etags {
			sum := sha256.Sum256(body)
			etag := `"` + b64(sum[:8]) + `"`
			if r.Header.Get("If-None-Match") == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
			w.Header().Set("ETag", etag)
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(body []byte) { s.mu.Lock(); s.body = body; s.mu.Unlock() }
func (s *jwksServer) setDown(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newTestVerifier builds a Verifier at a settable clock and closes it at the
// end of the test.
func newTestVerifier(t testing.TB, issuers []IssuerConfig, c *clock, log *slog.Logger) *Verifier {
	t.Helper()
	if log == nil {
		log = quietLogger()
	}
	v, err := NewVerifier(context.Background(), issuers, Options{Now: c.now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// eventually polls cond for up to 5 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// forge changes the first character of the signature.
func forge(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 1
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

// tamperPayload replaces the payload of tok, keeping header and signature.
func tamperPayload(t testing.TB, tok string, claims any) string {
	parts := strings.Split(tok, ".")
	return parts[0] + "." + b64([]byte(jsonOf(t, claims))) + "." + parts[2]
}

// tamperHeader replaces the header of tok.
func tamperHeader(tok, header string) string {
	parts := strings.Split(tok, ".")
	return b64([]byte(header)) + "." + parts[1] + "." + parts[2]
}

func stripSig(tok string) string { return tok[:strings.LastIndexByte(tok, '.')+1] }

// ecPoint returns the X (x true) or Y coordinate of k's public key, padded
// to 32 bytes.
func ecPoint(k testKey, x bool) []byte {
	point, err := k.priv.Public().(*ecdsa.PublicKey).Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	if x {
		return point[1:33]
	}
	return point[33:65]
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }
