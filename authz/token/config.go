package token

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Defaults.
const (
	// DefaultRefresh is how often a JWKS URL is fetched again (and a JWKS
	// file checked for changes).
	DefaultRefresh = 5 * time.Minute
	// DefaultClockSkew is the leeway applied to exp, nbf and iat when
	// Options.ClockSkew is zero. The gateway normally passes its own
	// settings.clock_skew.
	DefaultClockSkew = time.Minute
	// DefaultFetchTimeout bounds one JWKS fetch.
	DefaultFetchTimeout = 5 * time.Second
	// DefaultMaxJWKSBytes bounds a JWKS document.
	DefaultMaxJWKSBytes = 1 << 20
	// UnknownKeyRefreshInterval is the shortest time between two refreshes
	// of one issuer's keys triggered by tokens with an unknown key id.
	UnknownKeyRefreshInterval = 30 * time.Second
	// maxKeyTries bounds the keys tried for one token without a key id.
	maxKeyTries = 16
)

// defaultAlgorithms are the signature algorithms an issuer accepts when its
// configuration names none.
var defaultAlgorithms = []string{"RS256", "ES256", "EdDSA"}

// supportedAlgorithms maps the algorithm names IssuerConfig.Algorithms may
// use to their family. "none" is never accepted.
var supportedAlgorithms = map[string]family{
	"RS256": famRSA, "RS384": famRSA, "RS512": famRSA,
	"PS256": famRSA, "PS384": famRSA, "PS512": famRSA,
	"ES256": famEC, "ES384": famEC, "ES512": famEC,
	"EdDSA": famEd,
	"HS256": famHMAC, "HS384": famHMAC, "HS512": famHMAC,
}

// family is the key type an algorithm verifies with.
type family uint8

const (
	famRSA family = iota + 1
	famEC
	famEd
	famHMAC
)

// ClaimMapping names the payload claims that give an [Identity] its
// Account, User and Project. Only top-level claims are read. A claim that is
// a string gives its value, a number its JSON text; a missing claim or one
// of another type gives "".
type ClaimMapping struct {
	// Account is the claim naming the caller's account, matched by Account
	// ACL policies. Default "account" (Huawei-style deployments whose tokens
	// carry the account as "domain" set it to "domain").
	Account string
	// User is the claim naming the user. Default "sub".
	User string
	// Project is the claim naming the project. Default "project".
	Project string
}

// IssuerConfig configures one trusted token issuer.
type IssuerConfig struct {
	// Name identifies the issuer in errors and logs. Default: Issuer.
	Name string
	// Issuer is the exact "iss" value of the issuer's tokens. Required and
	// unique among the issuers of a Verifier.
	Issuer string
	// Audiences are the accepted "aud" values: a token must name at least
	// one of them. Empty: aud is not checked.
	Audiences []string
	// JWKSFile is the path of a JWKS (JSON Web Key Set) document. Exactly
	// one of JWKSFile and JWKSURL must be set.
	JWKSFile string
	// JWKSURL is the http or https URL of a JWKS document.
	JWKSURL string
	// Refresh is how often JWKSURL is fetched again, and how often JWKSFile
	// is checked and reloaded when its modification time or size changed.
	// Default DefaultRefresh.
	Refresh time.Duration
	// Algorithms are the accepted "alg" values. Default RS256, ES256 and
	// EdDSA. Also accepted: RS384, RS512, PS256, PS384, PS512, ES384, ES512,
	// and the HMAC algorithms HS256, HS384 and HS512, which are only ever
	// accepted when listed here, and then only with symmetric ("oct") keys
	// of the issuer's JWKS. "none" is rejected.
	Algorithms []string
	// Claims maps identity fields to claims.
	Claims ClaimMapping
	// Leeway, when non-zero, replaces Options.ClockSkew for this issuer's
	// exp, nbf and iat; a negative value means none.
	Leeway time.Duration
}

// Options configures a Verifier.
type Options struct {
	// HTTPClient fetches JWKS URLs. Default: a client with no overall
	// timeout (each fetch is bounded by FetchTimeout).
	HTTPClient *http.Client
	// Logger receives key loading and refresh events. Default
	// slog.Default().
	Logger *slog.Logger
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// ClockSkew is the leeway applied to exp, nbf and iat. Zero means
	// DefaultClockSkew; a negative value means none.
	ClockSkew time.Duration
	// FetchTimeout bounds one JWKS fetch or file read. Default
	// DefaultFetchTimeout.
	FetchTimeout time.Duration
	// MaxJWKSBytes bounds a JWKS document. Default DefaultMaxJWKSBytes.
	MaxJWKSBytes int64
}

func (o *Options) withDefaults() Options {
	out := *o
	if out.HTTPClient == nil {
		out.HTTPClient = &http.Client{}
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	switch {
	case out.ClockSkew == 0:
		out.ClockSkew = DefaultClockSkew
	case out.ClockSkew < 0:
		out.ClockSkew = 0
	}
	if out.FetchTimeout <= 0 {
		out.FetchTimeout = DefaultFetchTimeout
	}
	if out.MaxJWKSBytes <= 0 {
		out.MaxJWKSBytes = DefaultMaxJWKSBytes
	}
	return out
}

// compiled is a validated IssuerConfig.
type compiled struct {
	cfg     IssuerConfig
	algs    []jose.SignatureAlgorithm
	hmac    bool // an HS* algorithm is allowed
	account string
	user    string
	project string
}

func compile(c IssuerConfig) (*compiled, error) {
	var errs []error
	bad := func(msg string) { errs = append(errs, errors.New(msg)) }
	if c.Name == "" {
		c.Name = c.Issuer
	}
	if c.Issuer == "" {
		bad("issuer (iss) is required")
	}
	switch {
	case c.JWKSFile != "" && c.JWKSURL != "":
		bad("set only one of jwks_file and jwks_url")
	case c.JWKSFile == "" && c.JWKSURL == "":
		bad("one of jwks_file and jwks_url is required")
	case c.JWKSURL != "":
		u, err := url.Parse(c.JWKSURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("jwks_url " + strconv.Quote(c.JWKSURL) + " is not an http or https URL")
		}
	}
	if c.Refresh < 0 {
		bad("refresh must not be negative")
	} else if c.Refresh == 0 {
		c.Refresh = DefaultRefresh
	}
	out := &compiled{}
	names := c.Algorithms
	if len(names) == 0 {
		names = defaultAlgorithms
	}
	for _, a := range names {
		fam, ok := supportedAlgorithms[a]
		switch {
		case a == "none":
			bad(`algorithm "none" is never accepted`)
		case !ok:
			bad("unsupported algorithm " + strconv.Quote(a))
		default:
			if fam == famHMAC {
				out.hmac = true
			}
			out.algs = append(out.algs, jose.SignatureAlgorithm(a))
		}
	}
	out.account = orDefault(c.Claims.Account, "account")
	out.user = orDefault(c.Claims.User, "sub")
	out.project = orDefault(c.Claims.Project, "project")
	out.cfg = c
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (c *compiled) allows(alg string) bool {
	for _, a := range c.algs {
		if string(a) == alg {
			return true
		}
	}
	return false
}
