package token

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzClaims checks the payload decoding against encoding/json
// (checkClaims).
func FuzzClaims(f *testing.F) {
	for _, s := range payloadSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		checkClaims(t, p)
	})
}

func FuzzExtractToken(f *testing.F) {
	f.Add("", "Bearer abc.def.ghi")
	f.Add("tok", "")
	f.Add(" ", "bearer\t x")
	f.Add("", "Basic abc")
	f.Fuzz(func(t *testing.T, xat, authz string) {
		tok, ok := ExtractToken(xat, authz)
		if !ok {
			if tok != "" {
				t.Fatalf("token %q with ok=false", tok)
			}
			return
		}
		if tok == "" || len(tok) > MaxTokenBytes {
			t.Fatalf("bad length %d", len(tok))
		}
		for i := 0; i < len(tok); i++ {
			if tok[i] <= ' ' || tok[i] > '~' {
				t.Fatalf("byte %q in token", tok[i])
			}
		}
		if !strings.Contains(xat, tok) && !strings.Contains(authz, tok) {
			t.Fatalf("token %q is not part of the input", tok)
		}
	})
}

// FuzzVerify feeds arbitrary input (seeded with valid, expired and
// malformed tokens) to Verify: it must not panic, must only fail with
// *Error, and whatever it accepts must be a well-formed identity.
func FuzzVerify(f *testing.F) {
	rsaK, ecK, edK := newRSA(f, "rsa-1", 0), newEC(f, "ec-1"), newEd(f, "ed-1")
	path := filepath.Join(f.TempDir(), "jwks.json")
	if err := os.WriteFile(path, jwks(f, rsaK, ecK, edK), 0o600); err != nil {
		f.Fatal(err)
	}
	clk := newClock(testNow)
	v, err := NewVerifier(context.Background(), []IssuerConfig{{Name: "idp", Issuer: testIss, Audiences: []string{"gateway"},
		JWKSFile: path, Refresh: time.Hour}}, Options{Now: clk.now, Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(v.Close)
	for _, k := range []testKey{rsaK, ecK, edK} {
		tok := sign(f, k, claimsAt(testIss))
		f.Add(tok)
		f.Add("Bearer " + tok)
		f.Add(forge(tok))
	}
	f.Add(sign(f, ecK, with(claimsAt(testIss), "exp", 1)))
	f.Add(sign(f, ecK, []byte(`{"iss":"`+testIss+`","aud":["gateway"],"exp":1e300,"nbf":-1e300}`)))
	f.Add(rawToken(`{"alg":"none"}`, `{"iss":"`+testIss+`"}`, []byte("x")))
	f.Add(rawToken(`{"alg":"HS256","kid":"rsa-1"}`, `{"iss":"`+testIss+`"}`, []byte("x")))
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		// Both extraction paths, then Verify.
		for _, in := range []string{raw} {
			if tok, ok := ExtractToken("", in); ok {
				in = tok
			}
			id, err := v.Verify(context.Background(), in)
			if err != nil {
				e, ok := err.(*Error)
				if !ok || e.Kind < KindInvalid || e.Kind > KindNotYetValid || len(e.Detail) > 300 {
					t.Fatalf("unexpected error %#v", err)
				}
				if id != (Identity{}) {
					t.Fatal("identity with error")
				}
				continue
			}
			if id.Issuer != testIss || id.IssuerName != "idp" || !clk.now().Before(id.ExpiresAt.Add(DefaultClockSkew)) {
				t.Fatalf("accepted %q as %+v", in, id)
			}
		}
	})
}
