package token

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"strconv"

	jose "github.com/go-jose/go-jose/v4"
)

// verifyKey is one usable key of a key set.
type verifyKey struct {
	kid string
	alg string // the JWK's "alg", "" when it has none
	fam family
	key any // *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey or []byte
}

// fits reports whether k may verify a signature made with alg.
func (k *verifyKey) fits(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	if supportedAlgorithms[alg] != k.fam {
		return false
	}
	if k.fam == famEC {
		var want elliptic.Curve
		switch alg {
		case "ES256":
			want = elliptic.P256()
		case "ES384":
			want = elliptic.P384()
		case "ES512":
			want = elliptic.P521()
		}
		return k.key.(*ecdsa.PublicKey).Curve == want
	}
	return true
}

// keySet is an immutable set of verification keys.
type keySet struct {
	byKID map[string][]*verifyKey
	all   []*verifyKey
}

func (ks *keySet) candidates(kid string) []*verifyKey {
	if ks == nil {
		return nil
	}
	if kid == "" {
		return ks.all
	}
	return ks.byKID[kid]
}

// parseJWKS decodes a JWKS document. Keys that cannot be used are skipped
// and described in skipped; a document with no usable key is an error.
// Symmetric keys are kept only when allowHMAC is set; private keys are
// reduced to their public part.
func parseJWKS(data []byte, allowHMAC bool) (ks *keySet, skipped []string, err error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, errors.New("not a JWKS document: " + err.Error())
	}
	if doc.Keys == nil {
		return nil, nil, errors.New(`not a JWKS document: no "keys" array`)
	}
	ks = &keySet{byKID: make(map[string][]*verifyKey, len(doc.Keys))}
	for i, raw := range doc.Keys {
		k, why := parseJWK(raw, allowHMAC)
		if k == nil {
			skipped = append(skipped, "key "+strconv.Itoa(i)+": "+why)
			continue
		}
		ks.all = append(ks.all, k)
		if k.kid != "" {
			ks.byKID[k.kid] = append(ks.byKID[k.kid], k)
		}
	}
	if len(ks.all) == 0 {
		return nil, skipped, errors.New("JWKS has no usable signature key")
	}
	return ks, skipped, nil
}

func parseJWK(raw json.RawMessage, allowHMAC bool) (*verifyKey, string) {
	var j jose.JSONWebKey
	if err := j.UnmarshalJSON(raw); err != nil {
		return nil, err.Error()
	}
	name := "kid " + quote(j.KeyID)
	if j.Use != "" && j.Use != "sig" {
		return nil, name + ": use is " + quote(j.Use)
	}
	if j.Algorithm != "" {
		if _, ok := supportedAlgorithms[j.Algorithm]; !ok {
			return nil, name + ": unsupported alg " + quote(j.Algorithm)
		}
	}
	k := &verifyKey{kid: j.KeyID, alg: j.Algorithm}
	switch key := j.Key.(type) {
	case *rsa.PublicKey:
		k.fam, k.key = famRSA, key
	case *rsa.PrivateKey:
		k.fam, k.key = famRSA, &key.PublicKey
	case *ecdsa.PublicKey:
		k.fam, k.key = famEC, key
	case *ecdsa.PrivateKey:
		k.fam, k.key = famEC, &key.PublicKey
	case ed25519.PublicKey:
		k.fam, k.key = famEd, key
	case ed25519.PrivateKey:
		k.fam, k.key = famEd, key.Public().(ed25519.PublicKey)
	case []byte:
		if !allowHMAC {
			return nil, name + ": symmetric key, and no HMAC algorithm is configured"
		}
		k.fam, k.key = famHMAC, key
	default:
		return nil, name + ": unsupported key type"
	}
	if k.alg != "" && supportedAlgorithms[k.alg] != k.fam {
		return nil, name + ": alg " + quote(k.alg) + " does not fit the key type"
	}
	return k, ""
}
