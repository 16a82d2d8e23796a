package keypair

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"strconv"
)

// Algorithm identifies an HMAC algorithm as named in the algorithm="..."
// parameter. The zero value is not a valid algorithm.
type Algorithm uint8

// Supported algorithms.
const (
	// HMACSHA1 is "hmac-sha1" (20-byte MAC); the Tencent default.
	HMACSHA1 Algorithm = iota + 1
	// HMACSHA256 is "hmac-sha256" (32-byte MAC).
	HMACSHA256
	// HMACSHA384 is "hmac-sha384" (48-byte MAC).
	HMACSHA384
	// HMACSHA512 is "hmac-sha512" (64-byte MAC).
	HMACSHA512
)

// numAlgorithms is one more than the largest Algorithm.
const numAlgorithms = int(HMACSHA512) + 1

var algorithmNames = [numAlgorithms]string{
	HMACSHA1:   "hmac-sha1",
	HMACSHA256: "hmac-sha256",
	HMACSHA384: "hmac-sha384",
	HMACSHA512: "hmac-sha512",
}

// Algorithms lists every supported algorithm, weakest first. It is the
// allow-list used when [Policy.AllowedAlgorithms] is empty.
var Algorithms = []Algorithm{HMACSHA1, HMACSHA256, HMACSHA384, HMACSHA512}

// String returns the name used in the Authorization header ("hmac-sha256"),
// or "Algorithm(n)" for an unknown value.
func (a Algorithm) String() string {
	if a.Valid() {
		return algorithmNames[a]
	}
	return "Algorithm(" + strconv.Itoa(int(a)) + ")"
}

// Valid reports whether a is one of the four supported algorithms.
func (a Algorithm) Valid() bool { return a >= HMACSHA1 && a <= HMACSHA512 }

// Size returns the length in bytes of the MAC (the decoded signature), or 0
// for an invalid algorithm.
func (a Algorithm) Size() int {
	switch a {
	case HMACSHA1:
		return sha1.Size
	case HMACSHA256:
		return sha256.Size
	case HMACSHA384:
		return sha512.Size384
	case HMACSHA512:
		return sha512.Size
	}
	return 0
}

// newHash returns a fresh hash for the algorithm; a must be valid.
func (a Algorithm) newHash() hash.Hash {
	switch a {
	case HMACSHA1:
		return sha1.New()
	case HMACSHA384:
		return sha512.New384()
	case HMACSHA512:
		return sha512.New()
	}
	return sha256.New()
}

// ParseAlgorithm returns the Algorithm named s. Names are matched exactly
// (lower case, as Kong and Tencent clients send them).
func ParseAlgorithm(s string) (Algorithm, bool) {
	switch s {
	case "hmac-sha1":
		return HMACSHA1, true
	case "hmac-sha256":
		return HMACSHA256, true
	case "hmac-sha384":
		return HMACSHA384, true
	case "hmac-sha512":
		return HMACSHA512, true
	}
	return 0, false
}

// maxMACSize is the largest MAC size (SHA-512).
const maxMACSize = sha512.Size
