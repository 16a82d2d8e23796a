package token_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/apigwio/apigw/authz/token"
)

func ExampleExtractToken() {
	tok, ok := token.ExtractToken("", "Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln")
	fmt.Println(tok, ok)
	tok, ok = token.ExtractToken("from-x-auth-token", "Bearer ignored")
	fmt.Println(tok, ok)
	_, ok = token.ExtractToken("", "Basic dXNlcjpwYXNz")
	fmt.Println(ok)
	// Output:
	// eyJhbGciOiJFUzI1NiJ9.e30.c2ln true
	// from-x-auth-token true
	// false
}

func ExampleVerifier_Verify() {
	// An identity provider's key, published in a JWKS file.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: key.Public(), KeyID: "2024-01", Algorithm: "ES256", Use: "sig"},
	}})
	dir, _ := os.MkdirTemp("", "jwks")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "jwks.json")
	_ = os.WriteFile(path, set, 0o600)

	ctx := context.Background()
	v, err := token.NewVerifier(ctx, []token.IssuerConfig{{
		Name:      "corp-idp",
		Issuer:    "https://idp.example.com",
		Audiences: []string{"gateway"},
		JWKSFile:  path, // or JWKSURL: "https://idp.example.com/.well-known/jwks.json"
		Claims:    token.ClaimMapping{Account: "domain"},
	}}, token.Options{ClockSkew: 15 * time.Minute})
	if err != nil {
		panic(err)
	}
	defer v.Close()

	// A token the provider issued.
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "2024-01"))
	claims, _ := json.Marshal(map[string]any{
		"iss": "https://idp.example.com", "aud": "gateway", "sub": "u-42",
		"domain": "acme", "project": "p-7", "exp": time.Now().Add(time.Hour).Unix(),
	})
	obj, _ := signer.Sign(claims)
	raw, _ := obj.CompactSerialize()

	id, err := v.Verify(ctx, raw)
	fmt.Println(id.IssuerName, id.Account, id.User, id.Project, err)

	// The same token with its claims replaced, and junk.
	parts := strings.Split(raw, ".")
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString(
		[]byte(`{"iss":"https://idp.example.com","aud":"gateway","domain":"root","exp":4102444800}`)) + "." + parts[2]
	for _, bad := range []string{forged, "not-a-token"} {
		_, err = v.Verify(ctx, bad)
		switch token.KindOf(err) {
		case token.KindExpired:
			fmt.Println("APIG.0307 The token must be updated.")
		case token.KindInvalid, token.KindNotYetValid:
			fmt.Println("APIG.0301 Incorrect IAM authentication information: " + token.MsgDecryptFail)
		}
	}
	// Output:
	// corp-idp acme u-42 p-7 <nil>
	// APIG.0301 Incorrect IAM authentication information: decrypt token fail
	// APIG.0301 Incorrect IAM authentication information: decrypt token fail
}
