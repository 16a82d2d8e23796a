package apigerr

// Anti-replay nonce answers (replay_protection). They are answered with the
// scheme's authentication code (APIG.0303 app, APIG.0301 IAM, APIG.0305 /
// the Tencent wording for key pairs) and one of these details, so clients
// that handle authentication failures need nothing new, and the detail
// tells a replay apart.

// NonceReplayedDetail is the detail of a request whose nonce was already
// used within the window: "nonce has been used, x-sdk-nonce:<nonce>".
func NonceReplayedDetail(header, nonce string) string {
	return "nonce has been used, " + header + ":" + nonce
}

// NonceMissing is the detail of a request without the required nonce.
func NonceMissing(header string) string { return "Header " + header + " not found" }

// NonceInvalid is the detail of a malformed nonce.
func NonceInvalid(header string) string {
	return header + " format incorrect: 1 to 128 printable ASCII characters without spaces"
}

// NonceNotSigned is the detail of a nonce outside the signature.
func NonceNotSigned(header string) string {
	return header + " is not among the signed headers"
}

// TencentNonceReplayed is the Tencent-dialect message of a replay (status
// 403, worded as Tencent's other HMAC messages).
func TencentNonceReplayed(header string) string {
	return "HMAC signature cannot be verified, the " + header + " header has been used"
}

// TencentNonceInvalid is the Tencent-dialect message of a missing,
// malformed or unsigned nonce (Tencent's wording for a missing enforced
// header, status 403).
func TencentNonceInvalid(header string) string {
	return "HMAC signature cannot be verified, a valid " + header + " header is required"
}
