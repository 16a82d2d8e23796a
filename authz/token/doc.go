// Package token verifies bearer tokens (JWS compact serialisation, in
// practice JWTs) issued by configured identity providers, for the gateway's
// token authentication.
//
// # Flow
//
// [ExtractToken] takes the token from X-Auth-Token or, failing that, from
// "Authorization: Bearer <token>". [Verifier.Verify] then:
//
//  1. bounds and shapes the input ([MaxTokenBytes], three base64url parts);
//  2. parses the header with go-jose, which refuses any "alg" outside the
//     union of the issuers' Algorithms ("none" is never accepted);
//  3. reads the payload's "iss" (unverified) only to select the issuer;
//  4. verifies the signature with that issuer's keys only, selected by "kid";
//  5. checks aud, and nbf, exp and iat with the clock skew.
//
// The payload is decoded with go-jose's jwt package (jwt.Claims and its
// JSON decoder, which refuses repeated member names), and validated with
// jwt.Claims.ValidateWithLeeway.
//
// # Errors
//
// Failures are *[Error] with a [Kind]. The gateway maps them as follows;
// [Error.Detail] is for logs only.
//
//	KindInvalid      401 APIG.0301  "Incorrect IAM authentication information: decrypt token fail"
//	KindNotYetValid  401 APIG.0301  (same: a token from the future is not usable and
//	                                 renewing it would not help, so it is reported as invalid)
//	KindExpired      401 APIG.0307  "The token must be updated."
//
// KindExpired is only returned for a token whose signature verified.
//
// # Keys
//
// Each issuer has a JWKS (JSON Web Key Set) from a file or an http(s) URL.
// A file must load when the Verifier is created; a URL that cannot be fetched
// then only delays that issuer (its tokens fail with KindInvalid until a
// fetch succeeds; [Verifier.Ready] reports it). Keys are refreshed every
// IssuerConfig.Refresh (default 5 minutes; a file is re-read only when its
// modification time or size changed; a URL is fetched with If-None-Match).
// A failed refresh keeps the last good key set and logs a warning. A token
// whose "kid" is not in the set triggers one refresh, at most once every
// [UnknownKeyRefreshInterval] per issuer, so a key rotation is picked up
// without waiting for the next tick; the requests that need it share that
// refresh and wait for it (at most Options.FetchTimeout, or until their
// context ends).
//
// JWKS keys with "use" other than "sig", with an unsupported "alg" or key
// type, are skipped (and logged). Symmetric ("oct") keys are used only by
// issuers that list an HS* algorithm. A key with an "alg" verifies only that
// algorithm; any key verifies only algorithms of its own type and curve.
//
// # Identity
//
// [Identity] carries iss, sub, exp and the three mapped claims of
// [ClaimMapping]: Account (default claim "account"), User (default "sub")
// and Project (default "project").
//
// # Defaults
//
// Algorithms RS256, ES256 and EdDSA; clock skew one
// minute ([DefaultClockSkew], the gateway passes its settings.clock_skew);
// JWKS fetch timeout 5 s; JWKS size 1 MiB; exp required.
package token
