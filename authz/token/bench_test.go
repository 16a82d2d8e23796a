package token

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func benchVerify(b *testing.B, k testKey) {
	path := filepath.Join(b.TempDir(), "jwks.json")
	if err := os.WriteFile(path, jwks(b, k, newEC(b, "other-1"), newEd(b, "other-2")), 0o600); err != nil {
		b.Fatal(err)
	}
	clk := newClock(testNow)
	v, err := NewVerifier(context.Background(), []IssuerConfig{{Name: "idp", Issuer: testIss, Audiences: []string{"gateway"},
		JWKSFile: path, Refresh: time.Hour, Algorithms: []string{"RS256", "ES256", "EdDSA"}}}, Options{Now: clk.now, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	tok := sign(b, k, claimsAt(testIss))
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyES256 verifies an ES256 JWT with a cached key.
func BenchmarkVerifyES256(b *testing.B) { benchVerify(b, newEC(b, "ec-1")) }

// BenchmarkVerifyRS256 verifies an RS256 (2048-bit) JWT with a cached key.
func BenchmarkVerifyRS256(b *testing.B) { benchVerify(b, newRSA(b, "rsa-1", 0)) }

// BenchmarkVerifyEdDSA verifies an Ed25519 JWT with a cached key.
func BenchmarkVerifyEdDSA(b *testing.B) { benchVerify(b, newEd(b, "ed-1")) }

// BenchmarkVerifyRejectGarbage measures the cost of refusing junk.
func BenchmarkVerifyRejectGarbage(b *testing.B) {
	path := filepath.Join(b.TempDir(), "jwks.json")
	_ = os.WriteFile(path, jwks(b, newEC(b, "k")), 0o600)
	v, err := NewVerifier(context.Background(), []IssuerConfig{{Issuer: testIss, JWKSFile: path}}, Options{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(context.Background(), "not-a-token"); err == nil {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkClaims measures the payload decoding alone.
func BenchmarkClaims(b *testing.B) {
	tok := parsedToken(b, []byte(jsonOf(b, claimsAt(testIss))))
	b.ReportAllocs()
	for b.Loop() {
		if _, why := decodeClaims(tok); why != "" {
			b.Fatal(why)
		}
	}
}
