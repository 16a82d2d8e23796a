package authz

import (
	"context"
	"errors"
	"strings"

	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/echo"
	"github.com/apigwio/apigw/internal/model"
)

// scheme is one credential kind verified with the SDK-HMAC family: the App
// (AppKey/AppSecret, APIG.0303) or IAM (AK/SK, APIG.0301) flavour. The
// algorithm is the same; the key table and the messages differ.
type scheme struct {
	code       apigerr.Code
	lookup     func(t *tables, key string) *caller
	unknownKey func(key string) string
	mismatch   string // prefix of the bad-signature detail
}

var (
	appScheme = &scheme{
		code:       apigerr.AppAuthFailed,
		lookup:     func(t *tables, key string) *caller { return t.apps[key] },
		unknownKey: func(key string) string { return "app not found, appkey " + clip(key) },
		mismatch:   "verify signature fail, canonicalRequest:",
	}
	iamScheme = &scheme{
		code:       apigerr.IAMAuthFailed,
		lookup:     func(t *tables, key string) *caller { return t.accessKeys[key] },
		unknownKey: func(key string) string { return "Get secretKey failed,ak:" + clip(key) + ",err:ak not exist" },
		mismatch:   "verify aksk signature fail, canonicalRequest:",
	}
)

// Details of authentication failures that the platform documents.
const (
	detailNoAuthorization = "Authorization not found"
	// detailHostNotSigned: settings.require_signed_host and a signature
	// that does not cover host.
	detailHostNotSigned = "the signature must cover the host header (SignedHeaders has no host; settings.require_signed_host)"
	detailLocked        = "AK access failed to reach the limit,forbidden"
)

// authenticate verifies the request's SDK-HMAC signature for sc and applies
// the key lockout.
func (s *Service) authenticate(ctx context.Context, t *tables, r *request, sc *scheme, rp *model.ReplayProtection) (*caller, *apigerr.Error) {
	authz, ok := r.header("authorization")
	if !ok || authz == "" {
		return nil, missingCredential(apigerr.WithDetail(sc.code, detailNoAuthorization))
	}
	cred, err := signing.ParseAuthorization(authz)
	if err != nil {
		return nil, apigerr.WithDetail(sc.code, err.Error())
	}
	c := sc.lookup(t, cred.Access)
	if c == nil {
		return nil, apigerr.WithDetail(sc.code, sc.unknownKey(cred.Access))
	}
	signed := sdkSigned(cred.SignedHeaders)
	if t.snap.Settings.RequireSignedHost && !signed("host") {
		// Refused before any comparison: not a lockout failure.
		return nil, apigerr.WithDetail(sc.code, detailHostNotSigned)
	}
	n, bad := nonceOf(rp, r, signed)
	if bad != "" {
		return nil, apigerr.WithDetail(sc.code, bad)
	}
	lockKey := s.lockKey(t, c, r)
	locked, closed := s.locked(ctx, t, lockKey)
	if closed {
		return nil, apigerr.New(apigerr.InternalError)
	}
	if locked {
		return nil, apigerr.WithDetail(sc.code, detailLocked)
	}
	sreq := r.signingRequest()
	verr := signing.Verify(&sreq, cred, c.secret, s.now(), t.snap.Settings.ClockSkew)
	if verr == nil {
		if replay, closed := s.replayed(ctx, t, rp, c.lockKey, n); closed {
			return nil, apigerr.New(apigerr.InternalError)
		} else if replay {
			return nil, apigerr.WithDetail(sc.code, apigerr.NonceReplayedDetail(rp.Header, clip(n)))
		}
		s.succeeded(ctx, t, lockKey)
		r.credHeader = "authorization"
		return c, nil
	}
	var serr *signing.Error
	if errors.As(verr, &serr) && serr.Reason == signing.ReasonMismatch {
		// Only a signature actually compared counts toward the lockout:
		// anyone who knows a key can send it with no or a stale date.
		if s.failed(ctx, t, lockKey) {
			return nil, apigerr.WithDetail(sc.code, detailLocked)
		}
		return nil, apigerr.WithDetail(sc.code, sc.mismatch+strings.ReplaceAll(serr.CanonicalRequest, "\n", "|"))
	}
	return nil, apigerr.WithDetail(sc.code, verr.Error())
}

// clip bounds client-chosen text echoed in a message.
func clip(s string) string { return echo.Clip(s, 128, "...") }
