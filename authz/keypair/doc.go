// Package keypair implements HMAC key-pair authentication in the Tencent
// API Gateway / Kong hmac-auth style:
//
//	Authorization: hmac id="<secret id>", algorithm="hmac-sha1", headers="x-date source", signature="<base64>"
//
// (Kong writes username= instead of id=). It serves both sides: the
// verifier ([ParseRequestAuthorization] or [FindAuthorization] +
// [ParseAuthorization], then [Verify]) used on the gateway's hot path, and
// the client signer ([Sign]) used by the CLI and tests. Both compute the
// signing string with the same code; [SigningString] exposes it for
// debugging. Looking the key up by [Credential.ID], checking that it is
// enabled and bound to a usage plan, and rate limits are the caller's; the
// messages for those ([MsgUnknownKey], [MsgNoUsagePlan], [MsgRateLimitExceeded],
// [MsgQuotaExceeded]) and their kinds live here so that every client-facing
// text of the scheme is in one place.
//
// # Signing string
//
// For each name of headers="...", in the listed order, one line
// lowercase(name) + ": " + value, the lines joined by "\n" with no trailing
// newline. Header lookup is case-insensitive; a value is trimmed of spaces
// and tabs, and several values of one header are joined by ", " (draft-cavage
// §2.3; Envoy's headers map already joins them with ","). "host" falls back
// to [Request.Host] and then to ":authority". Pseudo-headers:
//
//   - request-line: METHOD " " <path?query as received> " " HTTP/<x.y>. As
//     Kong and draft-cavage-http-signatures do, the line stands alone, without
//     a "request-line: " prefix; since the spec can also be read as
//     prefixing it, Verify accepts that reading too (one extra HMAC, tried only
//     on a mismatch when request-line is signed). HTTP/2 and HTTP/3 are
//     written "HTTP/2.0" and "HTTP/3.0" (Kong's "%.01f").
//   - @request-target: "@request-target: " lowercase(method) " " <path?query>.
//   - Any other name starting with "@" (and the draft's "(request-target)",
//     which is not a token) makes the credential invalid.
//
// Names are written in lower case even when the client listed them
// otherwise (Kong writes them as listed; clients send them in lower case in
// practice). A signed header absent from the request is an error (Tencent)
// rather than
// the "name:" line Kong signs. Kong's deprecated second reading, with the
// decoded path and no query, is not accepted: it would leave the query
// unsigned.
//
// # Parsing choices
//
//   - Parameters may come in any order (the documented order being id or
//     username, algorithm, headers, signature): order carries no meaning and
//     each parameter must appear exactly once, so no reading is ambiguous.
//     id and username are alternatives; both together are a repeat.
//     Parameter names are case-insensitive (RFC 9110 auth-param), the scheme
//     "hmac" too; algorithm names are matched exactly ("hmac-sha256").
//   - "," separates parameters, with optional spaces or tabs on either side;
//     at least one space follows the scheme. Unknown or misspelt parameter
//     names (usernme=, signatur=, wrong_header=) are
//     "authorization headers is invalidate", as are unquoted values,
//     unterminated quotes, backslashes and control bytes in values, a
//     missing algorithm or headers parameter, a trailing comma, and text
//     before the scheme (Kong's unanchored regular expression tolerates a
//     leading '"'; this parser does not).
//   - A missing or empty id/username or signature is "id or signature
//     missing"; an unknown algorithm, or one outside
//     [Policy.AllowedAlgorithms], is "HMAC algorithm <alg> not supported.".
//   - Bounds: the value is at most [MaxAuthorizationLen] bytes, the id
//     [MaxIDLen] bytes of valid UTF-8, the headers list [MaxHeaders] names
//     of at most [MaxHeaderNameLen] bytes each, split on runs of spaces and
//     tabs. Beyond them the value is invalid.
//   - A signature that is not padded standard base64 (zero padding bits, no
//     line breaks) of exactly the algorithm's MAC size is treated like a
//     wrong signature, "HMAC signature does not match", as Kong does; it is
//     reported by Verify after the checks that need no secret, with the
//     distinct kind [KindMalformedSignature].
//
// # Date
//
// At least one of X-Date and Date must be present and among the signed
// headers ("HMAC signature cannot be verified, a valid date header is
// required"). Every signed one that is present must be a single HTTP-date
// ([http.ParseTime]: IMF-fixdate in GMT, RFC 850 or asctime; otherwise the
// same message) within [Policy.ClockSkew] of the server time, in either
// direction ("... the x-date header is out of date for HMAC
// Authentication.", for Date too). Unlike Kong, an unsigned date is never
// used for the freshness check. The default skew is Tencent's 900 s
// ([DefaultClockSkew]); Kong's is [KongClockSkew].
//
// # Body
//
// With [Policy.ValidateBody], after the signature has matched:
//
//   - no Digest header: only an empty body passes; otherwise "HMAC signature
//     cannot be verified, a valid digest header is required"
//     ([KindDigestRequired]);
//   - a Digest header that is not signed: the same message
//     ([KindDigestNotSigned]) — an unsigned digest proves nothing;
//   - a Digest header without a SHA-256 entry (RFC 3230 lists, algorithm
//     name case-insensitive): the same message ([KindDigestRequired]);
//   - a SHA-256 entry different from base64(sha256(body)): "HMAC signature
//     does not match" ([KindDigestMismatch]), Kong's message for body
//     failures;
//   - the body not forwarded ([Request.HasBody] false): "HMAC signature does
//     not match" ([KindBodyUnavailable]), failing closed.
//
// The "a valid digest header is required" wording was preferred over Kong's
// "does not match" for the first three because it tells the client what to
// fix; the kinds keep every case apart for logs and metrics.
//
// # Statuses
//
// As in the Tencent table: 401 for a missing Authorization, 403 for every
// other authentication failure, 429 for usage-plan limits ([Kind.Status]).
//
// # Performance
//
// Verify allocates nothing on success for a parsed Credential and
// signing.MapHeader / signing.PairHeader headers when the secret is the one
// last used on the same P: the signing string is built in a pooled buffer,
// and the HMAC is crypto/hmac with keyed states pooled per secret (a new
// secret costs one hmac.New); signatures are compared with [hmac.Equal].
package keypair
