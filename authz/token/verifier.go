package token

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Identity is what a verified token says about its bearer.
type Identity struct {
	// IssuerName is the Name of the IssuerConfig that verified the token.
	IssuerName string
	// Issuer is the token's "iss".
	Issuer string
	// Subject is the token's "sub" ("" when absent).
	Subject string
	// Account, User and Project come from the issuer's ClaimMapping.
	Account string
	User    string
	Project string
	// ExpiresAt is the token's "exp".
	ExpiresAt time.Time
}

// Verifier verifies bearer tokens (JWS compact serialisation, usually JWTs)
// against a fixed set of issuers and their JSON Web Key Sets. It is safe for
// concurrent use. Close stops its background refreshes.
type Verifier struct {
	opts  Options
	byIss map[string]*issuer
	list  []*issuer
	algs  []jose.SignatureAlgorithm // union over the issuers

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed and wg.Add
	closed bool
	wg     sync.WaitGroup
}

// NewVerifier validates the issuers and loads their keys.
//
// A JWKS file must load: an unreadable file, or one without a usable key,
// fails NewVerifier with an error naming the issuer. A JWKS URL is fetched
// once, concurrently for all issuers and bounded by ctx and
// Options.FetchTimeout, but a failed first fetch is only logged: NewVerifier
// succeeds, so that one unreachable identity provider does not stop the
// gateway, and the issuer's tokens fail with KindInvalid until a fetch
// succeeds. Until then the background refresh retries after 1 s, 2 s, 4 s...
// up to Refresh, and a token of that issuer may also trigger a fetch (at most
// once per UnknownKeyRefreshInterval). [Verifier.Ready] tells whether every
// issuer has keys.
//
// Configuration errors of all issuers are reported together. ctx only bounds
// the initial loading; the background refreshes run until Close.
func NewVerifier(ctx context.Context, issuers []IssuerConfig, opts Options) (*Verifier, error) {
	v := &Verifier{opts: opts.withDefaults(), byIss: make(map[string]*issuer, len(issuers))}
	var errs []error
	names := make(map[string]bool, len(issuers))
	seenAlg := make(map[jose.SignatureAlgorithm]bool)
	for i, cfg := range issuers {
		c, err := compile(cfg)
		label := cfg.Name
		if label == "" {
			label = cfg.Issuer
		}
		if label == "" {
			label = "#" + strconv.Itoa(i)
		}
		if err != nil {
			errs = append(errs, errors.New("token: issuer "+strconv.Quote(label)+": "+strings.ReplaceAll(err.Error(), "\n", "; ")))
			continue
		}
		if v.byIss[c.cfg.Issuer] != nil {
			errs = append(errs, errors.New("token: issuer "+strconv.Quote(label)+": iss "+strconv.Quote(c.cfg.Issuer)+" is configured twice"))
			continue
		}
		if names[c.cfg.Name] {
			errs = append(errs, errors.New("token: issuer name "+strconv.Quote(c.cfg.Name)+" is used twice"))
			continue
		}
		names[c.cfg.Name] = true
		is := &issuer{compiled: c, v: v}
		v.byIss[c.cfg.Issuer] = is
		v.list = append(v.list, is)
		for _, a := range c.algs {
			if !seenAlg[a] {
				seenAlg[a] = true
				v.algs = append(v.algs, a)
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	// Initial loads, concurrently.
	loadErrs := make([]error, len(v.list))
	var wg sync.WaitGroup
	for i, is := range v.list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loadErrs[i] = is.refresh(ctx)
		}()
	}
	wg.Wait()
	for i, is := range v.list {
		if loadErrs[i] != nil && is.cfg.JWKSFile != "" {
			errs = append(errs, errors.New("token: issuer "+strconv.Quote(is.cfg.Name)+": "+loadErrs[i].Error()))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	v.ctx, v.cancel = context.WithCancel(context.Background())
	for _, is := range v.list {
		v.goBackground(is.loop)
	}
	return v, nil
}

// goBackground runs f in a goroutine that Close waits for. It returns false
// (and does not run f) once Close has been called.
func (v *Verifier) goBackground(f func()) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed || v.ctx == nil {
		return false
	}
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		f()
	}()
	return true
}

// Close stops the background refreshes and waits for them. Verify keeps
// working with the keys loaded last. Close is idempotent.
func (v *Verifier) Close() {
	if v == nil {
		return
	}
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	v.closed = true
	v.mu.Unlock()
	if v.cancel != nil {
		v.cancel()
	}
	v.wg.Wait()
}

// Ready returns nil when every issuer has keys loaded, and otherwise an
// error naming those that have none (their JWKS URL could not be fetched
// yet).
func (v *Verifier) Ready() error {
	if v == nil {
		return nil
	}
	var missing []string
	for _, is := range v.list {
		if is.keys.Load() == nil {
			missing = append(missing, strconv.Quote(is.cfg.Name))
		}
	}
	if len(missing) > 0 {
		return errors.New("token: no keys loaded yet for issuer " + strings.Join(missing, ", "))
	}
	return nil
}

// Verify checks raw, a JWS in compact serialisation, and returns the
// identity it asserts. Errors are *Error.
//
// Checks, in order: length (at most MaxTokenBytes) and shape; "alg" allowed
// for some issuer ("none" never is); the payload a JSON object without a
// repeated member whose registered claims are well formed (go-jose's
// jwt.Claims: iss and sub strings, aud a string or an array of strings,
// exp/nbf/iat numbers of seconds, fractions dropped); "iss" names a
// configured issuer (read before verification, only to pick the issuer)
// whose Algorithms include "alg"; "exp" present; the signature verifies with
// one of that issuer's keys: the keys with the token's "kid" (an unknown kid
// triggers one rate-limited refresh, see NewVerifier), or, without "kid",
// each key in turn (at most 16); a key whose JWK "alg" or type does not fit
// the token's "alg" is never used, so an HMAC token cannot be verified with
// an RSA or EC public key. Then, for a genuine token only
// (jwt.Claims.ValidateWithLeeway with the clock skew): "aud" must name one
// of Audiences when those are configured; nbf and iat, when present, must be
// <= now + skew (else KindNotYetValid); "exp" must satisfy now < exp + skew
// (else KindExpired).
func (v *Verifier) Verify(ctx context.Context, raw string) (Identity, error) {
	if v == nil || len(v.list) == 0 {
		return Identity{}, invalid("no token issuer is configured")
	}
	if raw == "" {
		return Identity{}, invalid("empty token")
	}
	if len(raw) > MaxTokenBytes {
		return Identity{}, invalid("token longer than " + strconv.Itoa(MaxTokenBytes) + " bytes")
	}
	if !compactShape(raw) {
		return Identity{}, invalid("not a JWS in compact serialisation")
	}
	tok, err := jwt.ParseSigned(raw, v.algs)
	if err != nil {
		var ua *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &ua) {
			return Identity{}, invalid("algorithm " + quote(string(ua.Got)) + " is not allowed")
		}
		return Identity{}, invalid("malformed token header")
	}
	if len(tok.Headers) != 1 {
		return Identity{}, invalid("malformed token header")
	}
	alg, kid := tok.Headers[0].Algorithm, tok.Headers[0].KeyID

	c, why := decodeClaims(tok)
	if why != "" {
		return Identity{}, invalid(why)
	}
	if c.Issuer == "" {
		return Identity{}, invalid("missing iss")
	}
	is := v.byIss[c.Issuer]
	if is == nil {
		return Identity{}, invalid("unknown issuer " + quote(c.Issuer))
	}
	if !is.allows(alg) {
		return Identity{}, invalid("algorithm " + quote(alg) + " is not allowed for issuer " + quote(is.cfg.Name))
	}
	if c.Expiry == nil {
		return Identity{}, invalid("token has no exp")
	}

	if err := is.verifySignature(ctx, tok, alg, kid); err != nil {
		return Identity{}, err
	}

	now := v.opts.Now()
	skew := v.opts.ClockSkew
	if is.cfg.Leeway != 0 {
		skew = max(is.cfg.Leeway, 0)
	}
	exp := c.Expiry.Time()
	err = c.ValidateWithLeeway(jwt.Expected{AnyAudience: is.cfg.Audiences, Time: now}, skew)
	switch {
	case errors.Is(err, jwt.ErrInvalidAudience):
		return Identity{}, invalid("aud does not name an accepted audience")
	case errors.Is(err, jwt.ErrExpired):
		return Identity{}, &Error{Kind: KindExpired, Detail: "token expired at " + exp.UTC().Format(time.RFC3339)}
	case errors.Is(err, jwt.ErrNotValidYet):
		return Identity{}, &Error{Kind: KindNotYetValid, Detail: "token not valid before " + c.NotBefore.Time().UTC().Format(time.RFC3339)}
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return Identity{}, &Error{Kind: KindNotYetValid, Detail: "token issued in the future at " + c.IssuedAt.Time().UTC().Format(time.RFC3339)}
	case err != nil:
		return Identity{}, invalid("invalid claims")
	}
	// RFC 7519, Section 4.1.4: the token is expired from exp on; go-jose
	// still accepts it at exactly exp + skew.
	if !now.Before(exp.Add(skew)) {
		return Identity{}, &Error{Kind: KindExpired, Detail: "token expired at " + exp.UTC().Format(time.RFC3339)}
	}
	return Identity{
		IssuerName: is.cfg.Name,
		Issuer:     is.cfg.Issuer,
		Subject:    c.Subject,
		Account:    c.text(is.account),
		User:       c.text(is.user),
		Project:    c.text(is.project),
		ExpiresAt:  exp,
	}, nil
}

// verifySignature verifies tok with the issuer's keys for kid.
func (is *issuer) verifySignature(ctx context.Context, tok *jwt.JSONWebToken, alg, kid string) *Error {
	cands := is.keys.Load().candidates(kid)
	if len(cands) == 0 {
		// Unknown kid, or no keys yet: the keys may have rotated. Look
		// again even when no refresh ran: another request's may just have
		// finished.
		is.refreshUnknown(ctx)
		cands = is.keys.Load().candidates(kid)
		if len(cands) == 0 {
			if is.keys.Load() == nil {
				return invalid("no keys loaded yet for issuer " + quote(is.cfg.Name))
			}
			return invalid("unknown kid " + quote(kid) + " for issuer " + quote(is.cfg.Name))
		}
	}
	tried := 0
	for _, k := range cands {
		if !k.fits(alg) {
			continue
		}
		if tried == maxKeyTries {
			break
		}
		tried++
		if tok.Claims(k.key) == nil { // the signature only: the claims are decoded
			return nil
		}
	}
	if tried == 0 {
		return invalid("no key of issuer " + quote(is.cfg.Name) + " fits kid " + quote(kid) + " and algorithm " + quote(alg))
	}
	return invalid("signature verification failed")
}

// compactShape reports whether s looks like header.payload.signature with
// base64url parts, the header and payload non-empty.
func compactShape(s string) bool {
	dots := 0
	last := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if i == last+1 && dots < 2 {
				return false // empty header or payload
			}
			dots++
			last = i
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return dots == 2 && last < len(s)-1
}
