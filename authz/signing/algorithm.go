package signing

import (
	"crypto/sha256"
	"hash"

	"github.com/tjfoc/gmsm/sm3"
)

// Algorithm identifies a signature algorithm as named in the Authorization
// header. The zero value is not a valid algorithm.
type Algorithm uint8

// Supported algorithms.
const (
	// SDKHMACSHA256 is "SDK-HMAC-SHA256": SHA-256 hashes, HMAC-SHA256 keyed
	// with the secret as is.
	SDKHMACSHA256 Algorithm = iota + 1
	// SDKHMACSM3 is "SDK-HMAC-SM3": SM3 hashes and HMAC-SM3 keyed with the
	// secret as is; the payload override header is X-Sdk-Content-Sm3.
	SDKHMACSM3
	// V11HMACSHA256 is "V11-HMAC-SHA256": like SDK-HMAC-SHA256, with a
	// credential scope line in the string to sign and an HKDF-derived key.
	V11HMACSHA256
)

const (
	nameSDKHMACSHA256 = "SDK-HMAC-SHA256"
	nameSDKHMACSM3    = "SDK-HMAC-SM3"
	nameV11HMACSHA256 = "V11-HMAC-SHA256"
)

// String returns the algorithm name as it appears in the Authorization
// header, or "Algorithm(n)" for an unknown value.
func (a Algorithm) String() string {
	switch a {
	case SDKHMACSHA256:
		return nameSDKHMACSHA256
	case SDKHMACSM3:
		return nameSDKHMACSM3
	case V11HMACSHA256:
		return nameV11HMACSHA256
	}
	return "Algorithm(" + itoa(int(a)) + ")"
}

// Valid reports whether a is one of the supported algorithms.
func (a Algorithm) Valid() bool { return a >= SDKHMACSHA256 && a <= V11HMACSHA256 }

// ContentHashHeader returns the canonical name of the header that overrides
// the payload hash for the algorithm: "X-Sdk-Content-Sha256", or
// "X-Sdk-Content-Sm3" for SDK-HMAC-SM3.
func (a Algorithm) ContentHashHeader() string {
	if a == SDKHMACSM3 {
		return "X-Sdk-Content-Sm3"
	}
	return "X-Sdk-Content-Sha256"
}

// contentHashHeaderLower is ContentHashHeader in lower case (lookup key).
func (a Algorithm) contentHashHeaderLower() string {
	if a == SDKHMACSM3 {
		return "x-sdk-content-sm3"
	}
	return "x-sdk-content-sha256"
}

// ParseAlgorithm returns the Algorithm named s (exact, case-sensitive match).
func ParseAlgorithm(s string) (Algorithm, bool) {
	switch s {
	case nameSDKHMACSHA256:
		return SDKHMACSHA256, true
	case nameSDKHMACSM3:
		return SDKHMACSM3, true
	case nameV11HMACSHA256:
		return V11HMACSHA256, true
	}
	return 0, false
}

// newHash returns a fresh hash for the algorithm.
func (a Algorithm) newHash() hash.Hash {
	if a == SDKHMACSM3 {
		return sm3.New()
	}
	return sha256.New()
}

// emptyHash returns the hex hash of the empty body for the algorithm.
func (a Algorithm) emptyHash() string {
	if a == SDKHMACSM3 {
		return emptySM3
	}
	return emptySHA256
}

const (
	// UnsignedPayload is the content-hash header value that turns body
	// signing off.
	UnsignedPayload = "UNSIGNED-PAYLOAD"

	// DateFormat is the layout of the X-Sdk-Date header.
	DateFormat = "20060102T150405Z"

	emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	emptySM3    = "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"

	// sigLen is the size of every supported MAC (SHA-256 and SM3).
	sigLen = 32
)

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
