package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const testIss = "https://idp.example.com"

// fileFixture is a Verifier over a JWKS file holding an RSA, an EC and an
// Ed25519 key.
type fileFixture struct {
	v           *Verifier
	clk         *clock
	rsa, ec, ed testKey
	otherEC     testKey // same kid as ec, not in the JWKS
	path        string
}

func newFileFixture(t *testing.T, mutate func(*IssuerConfig)) *fileFixture {
	t.Helper()
	f := &fileFixture{
		clk: newClock(testNow),
		rsa: newRSA(t, "rsa-1", 0),
		ec:  newEC(t, "ec-1"),
		ed:  newEd(t, "ed-1"),
	}
	f.otherEC = newEC(t, "ec-1")
	f.path = filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(f.path, jwks(t, f.rsa, f.ec, f.ed), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := IssuerConfig{Name: "idp", Issuer: testIss, Audiences: []string{"gateway", "other"}, JWKSFile: f.path, Refresh: time.Hour}
	if mutate != nil {
		mutate(&cfg)
	}
	f.v = newTestVerifier(t, []IssuerConfig{cfg}, f.clk, nil)
	return f
}

func with(c map[string]any, kv ...any) map[string]any {
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(c, k)
		} else {
			c[k] = kv[i+1]
		}
	}
	return c
}

func TestVerify(t *testing.T) {
	f := newFileFixture(t, nil)
	noKid := f.ec
	noKid.kid = ""
	unknownKid := f.ec
	unknownKid.kid = "nope"
	now := testNow.Unix()

	cases := []struct {
		name string
		tok  string
		kind Kind
	}{
		{"RS256", sign(t, f.rsa, claimsAt(testIss)), 0},
		{"ES256", sign(t, f.ec, claimsAt(testIss)), 0},
		{"EdDSA", sign(t, f.ed, claimsAt(testIss)), 0},
		{"no kid: every key tried", sign(t, noKid, claimsAt(testIss)), 0},
		{"aud array", sign(t, f.ec, with(claimsAt(testIss), "aud", []string{"x", "other"})), 0},
		{"float dates", sign(t, f.ec, with(claimsAt(testIss), "exp", float64(now)+3600.5, "nbf", float64(now)-0.25)), 0},
		{"escaped member name", sign(t, f.ec, []byte(`{"\u0069ss":"`+testIss+`","aud":"gateway","exp":`+itoa(now+60)+`}`)), 0},
		{"expired within skew", sign(t, f.ec, with(claimsAt(testIss), "exp", now-30)), 0},
		{"nbf within skew", sign(t, f.ec, with(claimsAt(testIss), "nbf", now+30)), 0},

		{"expired", sign(t, f.ec, with(claimsAt(testIss), "exp", now-61)), KindExpired},
		{"expired exactly at skew", sign(t, f.ec, with(claimsAt(testIss), "exp", now-60)), KindExpired},
		{"expired long ago", sign(t, f.rsa, with(claimsAt(testIss), "exp", 1)), KindExpired},
		{"not yet valid", sign(t, f.ec, with(claimsAt(testIss), "nbf", now+61)), KindNotYetValid},
		{"issued in the future", sign(t, f.ec, with(claimsAt(testIss), "iat", now+3600)), KindNotYetValid},

		{"expired for another audience is invalid", sign(t, f.ec, with(claimsAt(testIss), "exp", now-3600, "aud", "x")), KindInvalid},
		{"expired and forged is invalid", forge(sign(t, f.ec, with(claimsAt(testIss), "exp", now-3600))), KindInvalid},
		{"wrong issuer", sign(t, f.ec, with(claimsAt(testIss), "iss", "https://evil.example.com")), KindInvalid},
		{"issuer differs in case", sign(t, f.ec, with(claimsAt(testIss), "iss", strings.ToUpper(testIss))), KindInvalid},
		{"no issuer", sign(t, f.ec, with(claimsAt(testIss), "iss", nil)), KindInvalid},
		{"issuer not a string", sign(t, f.ec, with(claimsAt(testIss), "iss", 7)), KindInvalid},
		{"repeated iss", sign(t, f.ec, []byte(`{"iss":"x","iss":"`+testIss+`","aud":"gateway","exp":`+itoa(now+60)+`}`)), KindInvalid},
		{"repeated exp", sign(t, f.ec, []byte(`{"iss":"`+testIss+`","aud":"gateway","exp":1,"exp":`+itoa(now+60)+`}`)), KindInvalid},
		{"wrong audience", sign(t, f.ec, with(claimsAt(testIss), "aud", "someone-else")), KindInvalid},
		{"wrong audience array", sign(t, f.ec, with(claimsAt(testIss), "aud", []string{"a", "b"})), KindInvalid},
		{"no audience", sign(t, f.ec, with(claimsAt(testIss), "aud", nil)), KindInvalid},
		{"audience not strings", sign(t, f.ec, with(claimsAt(testIss), "aud", []any{"gateway", 1})), KindInvalid},
		{"no exp", sign(t, f.ec, with(claimsAt(testIss), "exp", nil)), KindInvalid},
		{"exp a string", sign(t, f.ec, with(claimsAt(testIss), "exp", "2099-01-01")), KindInvalid},
		{"nbf a bool", sign(t, f.ec, with(claimsAt(testIss), "nbf", true)), KindInvalid},
		{"sub a number", sign(t, f.ec, with(claimsAt(testIss), "sub", 5)), KindInvalid},
		{"payload an array", sign(t, f.ec, []byte(`["iss"]`)), KindInvalid},
		{"payload not JSON", sign(t, f.ec, []byte(`iss=x`)), KindInvalid},
		{"unknown kid", sign(t, unknownKid, claimsAt(testIss)), KindInvalid},
		{"right kid, other key", sign(t, f.otherEC, claimsAt(testIss)), KindInvalid},
		{"no kid, unknown key", sign(t, testKey{"", jose.ES256, f.otherEC.priv}, claimsAt(testIss)), KindInvalid},
		{"kid of another key type", sign(t, testKey{"rsa-1", jose.ES256, f.ec.priv}, claimsAt(testIss)), KindInvalid},
		{"alg not allowed (PS256)", sign(t, testKey{"rsa-1", jose.PS256, f.rsa.priv}, claimsAt(testIss)), KindInvalid},
		{"alg none", rawToken(`{"alg":"none","typ":"JWT"}`, jsonOf(t, claimsAt(testIss)), nil), KindInvalid},
		{"alg none with kid", rawToken(`{"alg":"none","kid":"ec-1"}`, jsonOf(t, claimsAt(testIss)), nil), KindInvalid},
		{"alg none with a signature", rawToken(`{"alg":"none"}`, jsonOf(t, claimsAt(testIss)), []byte("k")), KindInvalid},
		{"alg None", rawToken(`{"alg":"None"}`, jsonOf(t, claimsAt(testIss)), nil), KindInvalid},
		{"tampered payload", tamperPayload(t, sign(t, f.ec, claimsAt(testIss)), with(claimsAt(testIss), "account", "root")), KindInvalid},
		{"tampered header", tamperHeader(sign(t, f.rsa, claimsAt(testIss)), `{"alg":"RS256","kid":"rsa-1","x":1}`), KindInvalid},
		{"tampered signature", forge(sign(t, f.ed, claimsAt(testIss))), KindInvalid},
		{"signature stripped", stripSig(sign(t, f.ec, claimsAt(testIss))), KindInvalid},
		{"empty", "", KindInvalid},
		{"garbage", "garbage", KindInvalid},
		{"dots", "..", KindInvalid},
		{"four parts", "a.b.c.d", KindInvalid},
		{"JWE shape", "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", KindInvalid},
		{"space inside", sign(t, f.ec, claimsAt(testIss)) + " ", KindInvalid},
		{"bad base64 header", "!!!." + b64([]byte("{}")) + ".sig", KindInvalid},
		{"header not JSON", b64([]byte("nope")) + "." + b64([]byte("{}")) + ".c2ln", KindInvalid},
		{"too long", sign(t, f.ec, with(claimsAt(testIss), "pad", strings.Repeat("x", MaxTokenBytes))), KindInvalid},
		{"JSON serialization", `{"payload":"e30","signatures":[]}`, KindInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := f.v.Verify(context.Background(), c.tok)
			if got := KindOf(err); got != c.kind {
				t.Fatalf("kind %v (%v), want %v", got, err, c.kind)
			}
			if c.kind != 0 {
				if id != (Identity{}) {
					t.Fatalf("identity %+v returned with error", id)
				}
				if err.Error() == "" || len(err.Error()) > 300 {
					t.Fatalf("detail %q", err.Error())
				}
				return
			}
			if id.Issuer != testIss || id.IssuerName != "idp" || id.ExpiresAt.IsZero() {
				t.Fatalf("identity %+v", id)
			}
		})
	}
}

func TestVerifyIdentity(t *testing.T) {
	f := newFileFixture(t, nil)
	id, err := f.v.Verify(context.Background(), sign(t, f.ec, claimsAt(testIss)))
	if err != nil {
		t.Fatal(err)
	}
	want := Identity{IssuerName: "idp", Issuer: testIss, Subject: "user-1", Account: "acme", User: "user-1",
		Project: "p-1", ExpiresAt: time.Unix(testNow.Add(time.Hour).Unix(), 0)}
	if !id.ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("ExpiresAt %v, want %v", id.ExpiresAt, want.ExpiresAt)
	}
	id.ExpiresAt = want.ExpiresAt
	if id != want {
		t.Fatalf("identity %+v\nwant     %+v", id, want)
	}
}

func TestClaimMapping(t *testing.T) {
	f := newFileFixture(t, func(c *IssuerConfig) {
		c.Claims = ClaimMapping{Account: "domain", User: "preferred_username", Project: "project_id"}
		c.Audiences = nil
	})
	cl := with(claimsAt(testIss), "domain", "acme-domain", "preferred_username", "alice",
		"project_id", 12345, "aud", nil)
	id, err := f.v.Verify(context.Background(), sign(t, f.ec, cl))
	if err != nil {
		t.Fatal(err)
	}
	if id.Account != "acme-domain" || id.User != "alice" || id.Project != "12345" || id.Subject != "user-1" {
		t.Fatalf("identity %+v", id)
	}
	// Claims of other types give "", and a repeated mapped claim is refused.
	cl = with(claimsAt(testIss), "domain", map[string]any{"name": "x"}, "preferred_username", nil, "project_id", nil)
	id, err = f.v.Verify(context.Background(), sign(t, f.ec, cl))
	if err != nil || id.Account != "" || id.User != "" || id.Project != "" {
		t.Fatalf("identity %+v, %v", id, err)
	}
	rep := []byte(`{"iss":"` + testIss + `","exp":` + itoa(testNow.Unix()+60) + `,"domain":"a","domain":"b"}`)
	if _, err := f.v.Verify(context.Background(), sign(t, f.ec, rep)); KindOf(err) != KindInvalid {
		t.Fatalf("repeated mapped claim: %v", err)
	}
}

// TestAlgConfusion signs HS256 tokens with the RSA and EC public keys (in
// every common encoding) as the HMAC secret.
func TestAlgConfusion(t *testing.T) {
	for _, hmacAllowed := range []bool{false, true} {
		f := newFileFixture(t, func(c *IssuerConfig) {
			if hmacAllowed {
				c.Algorithms = []string{"RS256", "ES256", "HS256"}
			}
		})
		der, err := x509.MarshalPKIXPublicKey(f.rsa.priv.Public())
		if err != nil {
			t.Fatal(err)
		}
		pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		jwkJSON, _ := json.Marshal(f.rsa.jwk())
		ecDER, _ := x509.MarshalPKIXPublicKey(f.ec.priv.Public())
		payload := jsonOf(t, claimsAt(testIss))
		for name, secret := range map[string][]byte{
			"rsa der": der, "rsa pem": pemKey, "rsa jwk": jwkJSON, "ec der": ecDER,
		} {
			for _, kid := range []string{"rsa-1", "ec-1", ""} {
				hdr := `{"alg":"HS256","typ":"JWT"}`
				if kid != "" {
					hdr = `{"alg":"HS256","typ":"JWT","kid":"` + kid + `"}`
				}
				_, err := f.v.Verify(context.Background(), rawToken(hdr, payload, secret))
				if KindOf(err) != KindInvalid {
					t.Errorf("hmac allowed=%v, secret %s, kid %q: %v", hmacAllowed, name, kid, err)
				}
			}
		}
	}
}

// TestHMACIssuer checks that HS256 works when explicitly configured with a
// symmetric JWKS key, and that the same key is ignored otherwise.
func TestHMACIssuer(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	doc, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: secret, KeyID: "h1", Algorithm: "HS256", Use: "sig"}}})
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	clk := newClock(testNow)
	v := newTestVerifier(t, []IssuerConfig{{Issuer: testIss, JWKSFile: path, Algorithms: []string{"HS256"}}}, clk, nil)
	tok := rawToken(`{"alg":"HS256","kid":"h1"}`, jsonOf(t, claimsAt(testIss)), secret)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("HS256: %v", err)
	}
	bad := rawToken(`{"alg":"HS256","kid":"h1"}`, jsonOf(t, claimsAt(testIss)), []byte("0123456789abcdef0123456789abcdeX"))
	if _, err := v.Verify(context.Background(), bad); KindOf(err) != KindInvalid {
		t.Fatalf("wrong secret: %v", err)
	}
	for _, hdr := range []string{`{"alg":"none","kid":"h1"}`, `{"alg":"HS384","kid":"h1"}`} {
		if _, err := v.Verify(context.Background(), rawToken(hdr, jsonOf(t, claimsAt(testIss)), secret)); KindOf(err) != KindInvalid {
			t.Fatalf("%s: %v", hdr, err)
		}
	}
	// Without HS256 configured the symmetric key is not even loaded.
	_, err := NewVerifier(context.Background(), []IssuerConfig{{Issuer: testIss, JWKSFile: path}}, Options{Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "no usable signature key") {
		t.Fatalf("symmetric-only JWKS without HMAC: %v", err)
	}
}

func TestMultipleIssuers(t *testing.T) {
	a, b := newEC(t, "k"), newEC(t, "k") // same kid at two issuers
	dir := t.TempDir()
	pa, pb := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	_ = os.WriteFile(pa, jwks(t, a), 0o600)
	_ = os.WriteFile(pb, jwks(t, b), 0o600)
	v := newTestVerifier(t, []IssuerConfig{
		{Name: "a", Issuer: "https://a", JWKSFile: pa},
		{Name: "b", Issuer: "https://b", JWKSFile: pb, Algorithms: []string{"ES256"}},
	}, newClock(testNow), nil)
	ctx := context.Background()
	if id, err := v.Verify(ctx, sign(t, a, claimsAt("https://a"))); err != nil || id.IssuerName != "a" {
		t.Fatalf("a: %+v %v", id, err)
	}
	if id, err := v.Verify(ctx, sign(t, b, claimsAt("https://b"))); err != nil || id.IssuerName != "b" {
		t.Fatalf("b: %+v %v", id, err)
	}
	// A token of a, claiming to be from b, is checked with b's keys only.
	if _, err := v.Verify(ctx, sign(t, a, claimsAt("https://b"))); KindOf(err) != KindInvalid {
		t.Fatalf("cross-issuer: %v", err)
	}
	// EdDSA is allowed for a (default), not for b.
	ed := newEd(t, "e")
	if _, err := v.Verify(ctx, sign(t, ed, claimsAt("https://b"))); err == nil || !strings.Contains(err.Error(), "not allowed for issuer") {
		t.Fatalf("EdDSA at b: %v", err)
	}
}

func TestNewVerifierErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	_ = os.WriteFile(good, jwks(t, newEC(t, "k")), 0o600)
	notJSON := filepath.Join(dir, "bad.json")
	_ = os.WriteFile(notJSON, []byte("{"), 0o600)
	noKeys := filepath.Join(dir, "nokeys.json")
	_ = os.WriteFile(noKeys, []byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"bad","y":"bad"},{"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"}]}`), 0o600)
	notSet := filepath.Join(dir, "notset.json")
	_ = os.WriteFile(notSet, []byte(`{"kty":"EC"}`), 0o600)
	big := filepath.Join(dir, "big.json")
	_ = os.WriteFile(big, []byte(`{"keys":[],"pad":"`+strings.Repeat("x", 2<<20)+`"}`), 0o600)

	cases := []struct {
		name    string
		issuers []IssuerConfig
		want    []string
	}{
		{"missing file", []IssuerConfig{{Name: "corp", Issuer: "i", JWKSFile: filepath.Join(dir, "missing.json")}},
			[]string{`issuer "corp"`, "missing.json"}},
		{"not JSON", []IssuerConfig{{Name: "corp", Issuer: "i", JWKSFile: notJSON}}, []string{`issuer "corp"`, "not a JWKS"}},
		{"no usable key", []IssuerConfig{{Name: "corp", Issuer: "i", JWKSFile: noKeys}}, []string{"no usable signature key"}},
		{"not a set", []IssuerConfig{{Name: "corp", Issuer: "i", JWKSFile: notSet}}, []string{`no "keys" array`}},
		{"too big", []IssuerConfig{{Name: "corp", Issuer: "i", JWKSFile: big}}, []string{"larger than"}},
		{"no source", []IssuerConfig{{Name: "corp", Issuer: "i"}}, []string{"one of jwks_file and jwks_url is required"}},
		{"two sources", []IssuerConfig{{Name: "corp", Issuer: "i", JWKSFile: good, JWKSURL: "https://x/jwks"}}, []string{"only one"}},
		{"bad url", []IssuerConfig{{Name: "corp", Issuer: "i", JWKSURL: "ftp://x/jwks"}}, []string{"not an http or https URL"}},
		{"no issuer", []IssuerConfig{{Name: "corp", JWKSFile: good}}, []string{"issuer (iss) is required"}},
		{"alg none", []IssuerConfig{{Name: "corp", Issuer: "i", JWKSFile: good, Algorithms: []string{"RS256", "none"}}}, []string{`"none" is never accepted`}},
		{"alg unknown", []IssuerConfig{{Name: "corp", Issuer: "i", JWKSFile: good, Algorithms: []string{"rs256"}}}, []string{`unsupported algorithm "rs256"`}},
		{"negative refresh", []IssuerConfig{{Name: "corp", Issuer: "i", JWKSFile: good, Refresh: -1}}, []string{"refresh"}},
		{"duplicate iss", []IssuerConfig{{Name: "a", Issuer: "i", JWKSFile: good}, {Name: "b", Issuer: "i", JWKSFile: good}}, []string{"configured twice"}},
		{"duplicate name", []IssuerConfig{{Name: "a", Issuer: "i", JWKSFile: good}, {Name: "a", Issuer: "j", JWKSFile: good}}, []string{"used twice"}},
		{"all errors at once", []IssuerConfig{
			{Name: "one", Issuer: "i1", JWKSFile: good, Algorithms: []string{"none"}},
			{Name: "two", Issuer: "i2"},
			{Name: "three", Issuer: "i3", JWKSFile: good},
		}, []string{`issuer "one"`, `issuer "two"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := NewVerifier(context.Background(), c.issuers, Options{Logger: quietLogger()})
			if err == nil {
				v.Close()
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestJWKSSkipsUnusableKeys(t *testing.T) {
	ec := newEC(t, "good")
	good, _ := json.Marshal(ec.jwk())
	doc := `{"keys":[` +
		`{"kty":"RSA","use":"enc","kid":"enc","n":"` + b64(rsaKey(t, 1).N.Bytes()) + `","e":"AQAB"},` +
		`{"kty":"oct","kid":"sym","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"},` +
		`{"kty":"EC","kid":"bad-alg","alg":"RS256","crv":"P-256","x":"` + b64(ecPoint(ec, true)) + `","y":"` + b64(ecPoint(ec, false)) + `"},` +
		`{"kty":"EC","kid":"odd-alg","alg":"XX999","crv":"P-256","x":"` + b64(ecPoint(ec, true)) + `","y":"` + b64(ecPoint(ec, false)) + `"},` +
		`{"kty":"XYZ","kid":"weird"},` +
		string(good) + `]}`
	ks, skipped, err := parseJWKS([]byte(doc), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(ks.all) != 1 || ks.byKID["good"] == nil {
		t.Fatalf("keys %+v", ks.all)
	}
	if len(skipped) != 5 {
		t.Fatalf("skipped %q", skipped)
	}
	// A private JWK is reduced to its public key.
	priv, _ := json.Marshal(jose.JSONWebKey{Key: ec.priv, KeyID: "p", Algorithm: "ES256"})
	ks, _, err = parseJWKS([]byte(`{"keys":[`+string(priv)+`]}`), false)
	if err != nil || len(ks.all) != 1 {
		t.Fatalf("private key: %v", err)
	}
	if !ks.all[0].fits("ES256") || ks.all[0].fits("ES384") || ks.all[0].fits("RS256") {
		t.Fatal("fits")
	}
}

// TestJWKSURLRotation rotates the key set behind a JWKS URL: the new kid is
// picked up through the unknown-kid refresh, the old kid then fails, and
// refreshes are rate limited.
func TestJWKSURLRotation(t *testing.T) {
	k1, k2, k3 := newEC(t, "k1"), newEC(t, "k2"), newEC(t, "k3")
	srv := newJWKSServer(t, jwks(t, k1))
	clk := newClock(testNow)
	v := newTestVerifier(t, []IssuerConfig{{Name: "idp", Issuer: testIss, JWKSURL: srv.URL + "/jwks", Refresh: time.Hour}}, clk, nil)
	ctx := context.Background()
	verify := func(k testKey) error {
		_, err := v.Verify(ctx, sign(t, k, claimsAt(testIss)))
		return err
	}
	if err := v.Ready(); err != nil {
		t.Fatal(err)
	}
	if err := verify(k1); err != nil {
		t.Fatal(err)
	}
	hits := srv.hits.Load()

	srv.set(jwks(t, k2))
	if err := verify(k2); err != nil {
		t.Fatalf("new kid after rotation: %v", err)
	}
	if got := srv.hits.Load(); got != hits+1 {
		t.Fatalf("%d fetches for the unknown kid, want 1", got-hits)
	}
	if err := verify(k1); KindOf(err) != KindInvalid || !strings.Contains(err.Error(), "unknown kid") {
		t.Fatalf("old kid after rotation: %v", err)
	}
	// The old kid did not trigger another fetch: rate limited.
	if got := srv.hits.Load(); got != hits+1 {
		t.Fatalf("rate limit: %d fetches", got-hits)
	}

	srv.set(jwks(t, k3))
	clk.add(UnknownKeyRefreshInterval - time.Second)
	if err := verify(k3); KindOf(err) != KindInvalid {
		t.Fatalf("k3 within the rate limit: %v", err)
	}
	clk.add(2 * time.Second)
	if err := verify(k3); err != nil {
		t.Fatalf("k3 after the rate limit: %v", err)
	}
	if err := verify(k2); KindOf(err) != KindInvalid {
		t.Fatalf("k2 after second rotation: %v", err)
	}
}

// TestUnknownKidSharedRefresh sends many tokens with a new kid at once: they
// share one fetch.
func TestUnknownKidSharedRefresh(t *testing.T) {
	k1, k2 := newEC(t, "k1"), newEC(t, "k2")
	srv := newJWKSServer(t, jwks(t, k1))
	v := newTestVerifier(t, []IssuerConfig{{Issuer: testIss, JWKSURL: srv.URL, Refresh: time.Hour}}, newClock(testNow), nil)
	before := srv.hits.Load()
	srv.set(jwks(t, k1, k2))
	tok := sign(t, k2, claimsAt(testIss))
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = v.Verify(context.Background(), tok)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		}
	}
	// Every caller that arrived while the refresh ran shares it; a caller
	// that arrived after it (rate limited) still sees the new keys.
	if ok != len(errs) {
		t.Fatalf("%d of %d verified: %v", ok, len(errs), errs)
	}
	if got := srv.hits.Load() - before; got != 1 {
		t.Fatalf("%d fetches, want 1", got)
	}
}

// TestJWKSURLDownAndBack takes the JWKS server down: the last good keys keep
// working, a warning is logged, and the new set is used once it is back.
func TestJWKSURLDownAndBack(t *testing.T) {
	k1, k2 := newEC(t, "k1"), newEC(t, "k2")
	srv := newJWKSServer(t, jwks(t, k1))
	srv.etags = true
	logs := &logBuffer{}
	log := slogTo(logs)
	v := newTestVerifier(t, []IssuerConfig{{Name: "idp", Issuer: testIss, JWKSURL: srv.URL, Refresh: 20 * time.Millisecond}}, newClock(testNow), log)
	ctx := context.Background()
	tok1, tok2 := sign(t, k1, claimsAt(testIss)), sign(t, k2, claimsAt(testIss))

	// Unchanged set: conditional fetches.
	h := srv.hits.Load()
	eventually(t, "conditional refreshes", func() bool { return srv.hits.Load() > h+2 })
	if n := strings.Count(logs.String(), "JWKS loaded"); n != 1 {
		t.Fatalf("an unchanged set was installed again (%d loads):\n%s", n, logs)
	}

	srv.setDown(true)
	h = srv.hits.Load()
	eventually(t, "failed refreshes", func() bool { return srv.hits.Load() > h+2 })
	if _, err := v.Verify(ctx, tok1); err != nil {
		t.Fatalf("last good set while down: %v", err)
	}
	if !strings.Contains(logs.String(), "JWKS refresh failed") || !strings.Contains(logs.String(), "503") {
		t.Fatalf("no warning logged:\n%s", logs)
	}

	srv.set(jwks(t, k2))
	srv.setDown(false)
	eventually(t, "new set after recovery", func() bool {
		_, err := v.Verify(ctx, tok2)
		return err == nil
	})
	if _, err := v.Verify(ctx, tok1); KindOf(err) != KindInvalid {
		t.Fatalf("removed key still accepted: %v", err)
	}
}

// TestJWKSURLFirstFetchFails: NewVerifier succeeds, tokens fail until the
// server answers.
func TestJWKSURLFirstFetchFails(t *testing.T) {
	k1 := newEC(t, "k1")
	srv := newJWKSServer(t, jwks(t, k1))
	srv.setDown(true)
	clk := newClock(testNow)
	v := newTestVerifier(t, []IssuerConfig{{Name: "late", Issuer: testIss, JWKSURL: srv.URL, Refresh: time.Hour}}, clk, nil)
	if err := v.Ready(); err == nil || !strings.Contains(err.Error(), `"late"`) {
		t.Fatalf("Ready: %v", err)
	}
	tok := sign(t, k1, claimsAt(testIss))
	_, err := v.Verify(context.Background(), tok)
	if KindOf(err) != KindInvalid || !strings.Contains(err.Error(), "no keys loaded yet") {
		t.Fatalf("before the first fetch: %v", err)
	}
	srv.setDown(false)
	// The background retry (after 1 s, then 2 s) loads the keys.
	eventually(t, "background retry", func() bool { return v.Ready() == nil })
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
}

// TestJWKSURLFirstFetchFailsTokenTriggers: a token triggers the fetch of a
// verifier that has no keys yet.
func TestJWKSURLFirstFetchFailsTokenTriggers(t *testing.T) {
	k1 := newEC(t, "k1")
	srv := newJWKSServer(t, jwks(t, k1))
	srv.setDown(true)
	clk := newClock(testNow)
	v := newTestVerifier(t, []IssuerConfig{{Issuer: testIss, JWKSURL: srv.URL, Refresh: time.Hour}}, clk, nil)
	srv.setDown(false)
	if _, err := v.Verify(context.Background(), sign(t, k1, claimsAt(testIss))); err != nil {
		t.Fatal(err)
	}
}

// TestJWKSFileReload replaces the JWKS file; a broken replacement keeps the
// last good set.
func TestJWKSFileReload(t *testing.T) {
	k1, k2 := newEC(t, "k1"), newEC(t, "k2")
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, jwks(t, k1), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	v := newTestVerifier(t, []IssuerConfig{{Issuer: testIss, JWKSFile: path, Refresh: 20 * time.Millisecond}}, newClock(testNow), slogTo(logs))
	ctx := context.Background()
	tok1, tok2 := sign(t, k1, claimsAt(testIss)), sign(t, k2, claimsAt(testIss))
	if _, err := v.Verify(ctx, tok1); err != nil {
		t.Fatal(err)
	}
	mtime := time.Now()
	// A broken file: the last good set stays.
	if err := os.WriteFile(path, []byte(`{"keys":`), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(path, mtime.Add(time.Minute), mtime.Add(time.Minute))
	eventually(t, "warning", func() bool { return strings.Contains(logs.String(), "JWKS refresh failed") })
	if _, err := v.Verify(ctx, tok1); err != nil {
		t.Fatalf("after a broken file: %v", err)
	}
	if err := os.WriteFile(path, jwks(t, k2), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(path, mtime.Add(2*time.Minute), mtime.Add(2*time.Minute))
	eventually(t, "reload", func() bool {
		_, err := v.Verify(ctx, tok2)
		return err == nil
	})
	if _, err := v.Verify(ctx, tok1); KindOf(err) != KindInvalid {
		t.Fatalf("old key after reload: %v", err)
	}
}

func TestCloseAndNil(t *testing.T) {
	f := newFileFixture(t, nil)
	f.v.Close()
	f.v.Close()
	if _, err := f.v.Verify(context.Background(), sign(t, f.ec, claimsAt(testIss))); err != nil {
		t.Fatalf("Verify after Close: %v", err)
	}
	var nilV *Verifier
	nilV.Close()
	if _, err := nilV.Verify(context.Background(), "a.b.c"); KindOf(err) != KindInvalid {
		t.Fatal(err)
	}
	empty, err := NewVerifier(context.Background(), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	if _, err := empty.Verify(context.Background(), "a.b.c"); KindOf(err) != KindInvalid {
		t.Fatal(err)
	}
	if empty.Ready() != nil {
		t.Fatal("empty verifier not ready")
	}
}

func TestClockSkewOption(t *testing.T) {
	ec := newEC(t, "k")
	path := filepath.Join(t.TempDir(), "jwks.json")
	_ = os.WriteFile(path, jwks(t, ec), 0o600)
	clk := newClock(testNow)
	for _, c := range []struct {
		skew time.Duration
		age  time.Duration // how long ago the token expired
		kind Kind
	}{
		{0, 59 * time.Second, 0},
		{0, 61 * time.Second, KindExpired},
		{15 * time.Minute, 14 * time.Minute, 0},
		{15 * time.Minute, 16 * time.Minute, KindExpired},
		{-1, 0, KindExpired},
		{-1, -time.Second, 0},
	} {
		v, err := NewVerifier(context.Background(), []IssuerConfig{{Issuer: testIss, JWKSFile: path}},
			Options{Now: clk.now, ClockSkew: c.skew, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		tok := sign(t, ec, with(claimsAt(testIss), "exp", testNow.Add(-c.age).Unix(), "iat", nil))
		_, err = v.Verify(context.Background(), tok)
		v.Close()
		if KindOf(err) != c.kind {
			t.Errorf("skew %v, expired %v ago: %v", c.skew, c.age, err)
		}
	}
}

func TestKindStrings(t *testing.T) {
	for k, want := range map[Kind]string{0: "none", KindInvalid: "invalid", KindExpired: "expired",
		KindNotYetValid: "not_yet_valid", 9: "Kind(9)"} {
		if k.String() != want {
			t.Errorf("%d: %q", k, k.String())
		}
	}
	if KindOf(nil) != 0 || KindOf(os.ErrNotExist) != 0 {
		t.Error("KindOf of a foreign error")
	}
	if got := clip("a\x01" + strings.Repeat("b", 100)); len(got) != 67 || got[1] != '?' {
		t.Errorf("clip %q", got)
	}
}

// TestOptionalAlgorithms checks the algorithms accepted only when configured.
func TestOptionalAlgorithms(t *testing.T) {
	rsaK := rsaKey(t, 2)
	ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: rsaK.Public(), KeyID: "rsa"}, // no alg: any RSA algorithm
		{Key: ec384.Public(), KeyID: "ec384", Algorithm: "ES384"},
	}})
	path := filepath.Join(t.TempDir(), "jwks.json")
	_ = os.WriteFile(path, doc, 0o600)
	v := newTestVerifier(t, []IssuerConfig{{Issuer: testIss, JWKSFile: path,
		Algorithms: []string{"PS256", "RS512", "ES384"}}}, newClock(testNow), nil)
	ctx := context.Background()
	for _, k := range []testKey{{"rsa", jose.PS256, rsaK}, {"rsa", jose.RS512, rsaK}, {"ec384", jose.ES384, ec384}} {
		if _, err := v.Verify(ctx, sign(t, k, claimsAt(testIss))); err != nil {
			t.Errorf("%s: %v", k.alg, err)
		}
	}
	// Not configured: RS256 with the same key.
	if _, err := v.Verify(ctx, sign(t, testKey{"rsa", jose.RS256, rsaK}, claimsAt(testIss))); KindOf(err) != KindInvalid {
		t.Errorf("RS256 not configured: %v", err)
	}
}
