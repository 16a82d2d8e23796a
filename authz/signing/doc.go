// Package signing implements the SDK-HMAC-SHA256 family of request signatures
// (SDK-HMAC-SHA256, SDK-HMAC-SM3 and the derived-key V11-HMAC-SHA256) used by
// the Huawei Cloud style IAM AK/SK and App AppKey/AppSecret authentication.
//
// The package serves both sides of the protocol with one canonicalisation:
//
//   - the verifier ([ParseAuthorization], [Verify]) used on the gateway's hot
//     path (Envoy ext_authz Check service). It allocates nothing on success for
//     the SHA-256 algorithms: canonical parts are appended to pooled scratch
//     buffers and hashed with pooled hashers, and the HMAC is crypto/hmac
//     with keyed states pooled per secret (a new secret costs one hmac.New).
//   - the client signer ([SignRequest], [Explain]) used by the CLI and by tests.
//     It builds a verifier [Request] out of the *http.Request and runs exactly
//     the same code, so what the client signs is what the verifier checks.
//
// # Canonical request
//
//	METHOD "\n"
//	CanonicalURI "\n"
//	CanonicalQuery "\n"
//	CanonicalHeaders "\n"   (every header line already ends in "\n")
//	SignedHeaders "\n"
//	PayloadHash
//
// CanonicalURI is the percent-decoded path with every byte other than
// A-Z a-z 0-9 - _ . ~ and "/" escaped as %XX (upper-case hex), with a "/"
// appended when missing. An invalid escape such as "%zz" is not decoded: its
// "%" is taken literally (and so becomes "%25"). A target that does not start
// with "/" gets one prepended, so the canonical URI always starts and ends
// with "/".
//
// CanonicalQuery decodes keys and values (first reading: "+" is a space;
// second reading, tried by [Verify] only when the query contains "+": "+" is
// literal), sorts the pairs by key then value, bytewise, and emits
// enc(key)=enc(value) joined by "&". Empty pieces ("a=1&&b=2") are skipped; a
// key without "=" has an empty value.
//
// CanonicalHeaders has one "name:value\n" line per value of every name listed
// in SignedHeaders, in the listed order; values are trimmed
// ([strings.TrimSpace], as the official Go SDK does) and several values of one
// name are sorted. "host" falls back to [Request.Host] (and then to an
// ":authority" header) when the request has no host header, as Envoy presents
// the Host header as :authority.
//
// PayloadHash is the X-Sdk-Content-Sha256 (SM3: X-Sdk-Content-Sm3) header
// value as sent when present (UNSIGNED-PAYLOAD included), otherwise the hex
// hash of the body.
package signing
