package authz

import (
	"context"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/apigwio/apigw/authz/token"
	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/model"
)

// detailTokenInvalid is the documented detail for a token that cannot be
// decoded or verified.
const detailTokenInvalid = token.MsgDecryptFail

// tokenIssuers converts the snapshot's issuers for the token verifier.
func tokenIssuers(snap *model.Snapshot) []token.IssuerConfig {
	out := make([]token.IssuerConfig, 0, len(snap.TokenIssuers))
	for _, ti := range snap.TokenIssuers {
		out = append(out, token.IssuerConfig{
			Name: ti.Name, Issuer: ti.Issuer, Audiences: ti.Audiences,
			JWKSFile: ti.JWKSFile, JWKSURL: ti.JWKSURL, Refresh: ti.Refresh, Algorithms: ti.Algorithms,
			Leeway: leeway(ti.Leeway),
			Claims: token.ClaimMapping{Account: ti.AccountClaim, User: ti.UserClaim, Project: ti.ProjectClaim},
		})
	}
	return out
}

// leeway maps the configured leeway to the verifier's (where 0 means the
// default and a negative value none).
func leeway(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// tokenVerifier returns a verifier for snap's issuers: prev when the issuers
// did not change (so a reload does not refetch key sets), else a new one.
func (s *Service) tokenVerifier(ctx context.Context, snap *model.Snapshot, prev *tokenState) (*tokenState, error) {
	issuers := tokenIssuers(snap)
	if len(issuers) == 0 {
		return nil, nil
	}
	if prev != nil && reflect.DeepEqual(prev.issuers, issuers) {
		return prev, nil
	}
	v, err := token.NewVerifier(ctx, issuers, token.Options{Logger: s.log, Now: s.now, ClockSkew: snap.Settings.ClockSkew})
	if err != nil {
		return nil, err
	}
	cache, _ := lru.New[string, verifiedToken](tokenCacheSize)
	return &tokenState{issuers: issuers, verifier: v, cache: cache}, nil
}

// Verified tokens are cached so that a client reusing its token (the normal
// case) pays the signature verification once per tokenCacheTTL, not per
// request. An entry lives at most tokenCacheTTL — so a key removed from an
// issuer's JWKS stops being honoured within that time — and never past the
// token's own expiry.
const (
	tokenCacheSize = 10000
	tokenCacheTTL  = time.Minute
)

// verifiedToken is a cached verification.
type verifiedToken struct {
	id    token.Identity
	until time.Time
}

// tokenState is a verifier, the issuers it was built for, and its cache.
type tokenState struct {
	issuers  []token.IssuerConfig
	verifier *token.Verifier
	cache    *lru.Cache[string, verifiedToken]
}

// verify returns the identity of raw, from the cache when it was verified
// recently.
func (ts *tokenState) verify(ctx context.Context, raw string, now time.Time) (token.Identity, error) {
	if e, ok := ts.cache.Get(raw); ok {
		if now.Before(e.until) {
			return e.id, nil
		}
		ts.cache.Remove(raw)
	}
	id, err := ts.verifier.Verify(ctx, raw)
	if err != nil {
		return id, err
	}
	until := now.Add(tokenCacheTTL)
	if !id.ExpiresAt.IsZero() && id.ExpiresAt.Before(until) {
		until = id.ExpiresAt
	}
	ts.cache.Add(raw, verifiedToken{id: id, until: until})
	return id, nil
}

// authenticateToken verifies a bearer token (X-Auth-Token, or
// Authorization: Bearer).
func (s *Service) authenticateToken(ctx context.Context, t *tables, dep *deployment, r *request) (*caller, *apigerr.Error) {
	xat, _ := r.header("x-auth-token")
	authz, _ := r.header("authorization")
	raw, ok := token.ExtractToken(xat, authz)
	if !ok {
		return nil, apigerr.WithDetail(apigerr.IAMAuthFailed, detailTokenInvalid)
	}
	if t.tokens == nil {
		return nil, apigerr.WithDetail(apigerr.IAMAuthFailed, detailTokenInvalid)
	}
	id, err := t.tokens.verify(ctx, raw, s.now())
	if err != nil {
		if token.KindOf(err) == token.KindExpired {
			return nil, apigerr.New(apigerr.TokenMustBeUpdated)
		}
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.LogAttrs(ctx, slog.LevelDebug, "token refused", slog.String("request_id", r.requestID), slog.String("reason", err.Error()))
		}
		return nil, apigerr.WithDetail(apigerr.IAMAuthFailed, detailTokenInvalid)
	}
	if len(dep.api.TokenIssuers) > 0 && !slices.Contains(dep.api.TokenIssuers, id.IssuerName) {
		return nil, apigerr.WithDetail(apigerr.IAMAuthFailed, detailTokenInvalid)
	}
	// Claims become upstream header values: a control character (CR/LF
	// above all) would let a token's issuer, or whoever chose the claim
	// value, smuggle headers.
	if hasControl(id.User) || hasControl(id.Account) || hasControl(id.Project) {
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.LogAttrs(ctx, slog.LevelDebug, "token refused", slog.String("request_id", r.requestID), slog.String("reason", "control character in an identity claim"))
		}
		return nil, apigerr.WithDetail(apigerr.IAMAuthFailed, detailTokenInvalid)
	}
	r.credHeader = "authorization"
	if strings.Trim(xat, " \t") != "" {
		r.credHeader = "x-auth-token" // the one ExtractToken reads first
	}
	return &caller{
		account: id.Account,
		headers: []*corev3.HeaderValueOption{
			setHeader(model.HeaderUserID, id.User),
			setHeader(model.HeaderAccount, id.Account),
			setHeader(model.HeaderProjectID, id.Project),
		},
		metadata: identityMetadata(map[string]string{"auth": "token", "account": id.Account, "user": id.Account + "/" + id.User}),
	}, nil
}

// hasControl reports whether s has an ASCII control character (C0 or DEL).
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}
