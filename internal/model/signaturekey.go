package model

// SignatureKeyType is the kind of credential a signature key adds to the
// requests the gateway forwards to a backend.
type SignatureKeyType uint8

// Signature key types.
const (
	// SignatureHMAC signs with SDK-HMAC-SHA256: Authorization and X-Sdk-Date.
	SignatureHMAC SignatureKeyType = iota + 1
	// SignatureBasic sends Authorization: Basic base64(key:secret).
	SignatureBasic
)

// SignatureKey is a named signature key (signature_keys).
type SignatureKey struct {
	// Name of the key.
	Name string
	// Type of signature.
	Type SignatureKeyType
	// Key is the access key (hmac) or the user name (basic).
	Key string
	// Secret is the signing secret (hmac) or the password (basic).
	Secret Secret
}
