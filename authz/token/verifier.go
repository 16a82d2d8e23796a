package token

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
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
// for some issuer ("none" never is); payload a JSON object; "iss" names a
// configured issuer (read before verification, only to pick the issuer)
// whose Algorithms include "alg"; the registered and mapped claims it uses
// well formed and not repeated; the signature verifies with one of that
// issuer's keys: the keys with the token's "kid" (an unknown kid triggers
// one rate-limited refresh, see NewVerifier), or, without "kid", each key in
// turn (at most 16); a key whose JWK "alg" or type does not fit the token's
// "alg" is never used, so an HMAC token cannot be verified with an RSA or EC
// public key. Then, for a genuine token only: "aud" must name one of
// Audiences when those are configured; "exp" (required) must satisfy
// now < exp + skew (else KindExpired); nbf and iat, when present, must be
// <= now + skew (else KindNotYetValid).
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
	jws, err := jose.ParseSignedCompact(raw, v.algs)
	if err != nil {
		var ua *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &ua) {
			return Identity{}, invalid("algorithm " + quote(string(ua.Got)) + " is not allowed")
		}
		return Identity{}, invalid("malformed token header")
	}
	if len(jws.Signatures) != 1 {
		return Identity{}, invalid("malformed token header")
	}
	hdr := jws.Signatures[0].Header
	alg, kid := hdr.Algorithm, hdr.KeyID

	var pl payload
	if why := pl.scan(jws.UnsafePayloadWithoutVerification()); why != "" {
		return Identity{}, invalid(why)
	}
	issVal, dup := pl.get("iss")
	if dup {
		return Identity{}, invalid("claim iss is repeated")
	}
	var is *issuer
	if b, simple, _ := rawString(issVal); simple {
		is = v.byIss[string(b)] // no allocation
	} else if iss, ok := jsonString(issVal); ok {
		is = v.byIss[iss]
	} else {
		return Identity{}, invalid("missing or malformed iss")
	}
	if is == nil {
		iss, _ := jsonString(issVal)
		return Identity{}, invalid("unknown issuer " + quote(iss))
	}
	if !is.allows(alg) {
		return Identity{}, invalid("algorithm " + quote(alg) + " is not allowed for issuer " + quote(is.cfg.Name))
	}
	c, why := is.decodeClaims(&pl)
	if why != "" {
		return Identity{}, invalid(why)
	}

	if err := is.verifySignature(ctx, jws, alg, kid); err != nil {
		return Identity{}, err
	}

	if len(is.cfg.Audiences) > 0 {
		if c.aud == nil {
			return Identity{}, invalid("token has no aud")
		}
		match, ok := audienceMatch(c.aud, is.cfg.Audiences)
		if !ok {
			return Identity{}, invalid("malformed aud")
		}
		if !match {
			return Identity{}, invalid("aud does not name an accepted audience")
		}
	}
	now := v.opts.Now()
	skew := v.opts.ClockSkew
	if is.cfg.Leeway != 0 {
		skew = max(is.cfg.Leeway, 0)
	}
	if !now.Before(c.exp.Add(skew)) {
		return Identity{}, &Error{Kind: KindExpired, Detail: "token expired at " + c.exp.UTC().Format(time.RFC3339)}
	}
	if c.hasNbf && now.Add(skew).Before(c.nbf) {
		return Identity{}, &Error{Kind: KindNotYetValid, Detail: "token not valid before " + c.nbf.UTC().Format(time.RFC3339)}
	}
	if c.hasIat && now.Add(skew).Before(c.iat) {
		return Identity{}, &Error{Kind: KindNotYetValid, Detail: "token issued in the future at " + c.iat.UTC().Format(time.RFC3339)}
	}
	return Identity{
		IssuerName: is.cfg.Name,
		Issuer:     is.cfg.Issuer,
		Subject:    c.sub,
		Account:    c.account,
		User:       c.user,
		Project:    c.project,
		ExpiresAt:  c.exp,
	}, nil
}

// claims are the decoded (not yet trusted) claims Verify uses.
type claims struct {
	sub                    string
	account, user, project string
	exp, nbf, iat          time.Time
	hasNbf, hasIat         bool
	aud                    []byte
}

func (is *issuer) decodeClaims(pl *payload) (c claims, why string) {
	var dup bool
	var v []byte
	if v, dup = pl.get("sub"); dup {
		return c, "claim sub is repeated"
	} else if v != nil {
		var ok bool
		if c.sub, ok = jsonString(v); !ok {
			return c, "malformed sub"
		}
	}
	if c.aud, dup = pl.get("aud"); dup {
		return c, "claim aud is repeated"
	}
	for _, d := range []struct {
		name string
		t    *time.Time
		has  *bool
	}{{"exp", &c.exp, nil}, {"nbf", &c.nbf, &c.hasNbf}, {"iat", &c.iat, &c.hasIat}} {
		v, dup := pl.get(d.name)
		switch {
		case dup:
			return c, "claim " + d.name + " is repeated"
		case v == nil && d.has == nil:
			return c, "token has no " + d.name
		case v == nil:
			continue
		}
		t, ok := numericDate(v)
		if !ok {
			return c, "malformed " + d.name
		}
		*d.t = t
		if d.has != nil {
			*d.has = true
		}
	}
	for _, m := range []struct {
		name string
		dst  *string
	}{{is.account, &c.account}, {is.user, &c.user}, {is.project, &c.project}} {
		if m.name == "sub" {
			*m.dst = c.sub // already decoded, and checked for repeats
			continue
		}
		v, dup := pl.get(m.name)
		if dup {
			return c, "claim " + quote(m.name) + " is repeated"
		}
		*m.dst = claimText(v)
	}
	return c, ""
}

// verifySignature verifies jws with the issuer's keys for kid.
func (is *issuer) verifySignature(ctx context.Context, jws *jose.JSONWebSignature, alg, kid string) *Error {
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
		if _, err := jws.Verify(k.key); err == nil {
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
