// Package authz is the Envoy external-authorization service
// (envoy.service.auth.v3.Authorization/Check) of the gateway.
//
// Envoy calls Check for every request routed to a published API. The route
// tells which API and environment matched through context extensions (keys in
// the model package), so Check never re-implements routing. A Check runs in
// phases, each small and testable alone:
//
//  1. locate: the API deployment named by the context extensions (APIG.0101);
//  2. limits: URI and body size (414, 413);
//  3. client address: IP access-control policies (APIG.0401, APIG.0402);
//  4. identity: authenticate the caller by the API's auth type (SDK-HMAC
//     signatures for app and iam, app codes, HMAC key pairs with usage
//     plans, JWT tokens), with key lockout;
//  5. authorization: account policies (APIG.0306), the app's grants
//     (APIG.0304) and trusted addresses (APIG.0405);
//  6. request parameters: declared inputs validated (APIG.0201), defaults;
//  7. calendar quotas (apps[].quota, usage plans' week and month quotas);
//  8. response: upstream identity headers, backend parameters and dynamic
//     metadata, or the error in the group's dialect.
//
// The configuration is read through an atomic pointer: the hot path takes no
// lock of its own.
package authz

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/apigwio/apigw/authz/lockout"
	"github.com/apigwio/apigw/authz/nonce"
	"github.com/apigwio/apigw/authz/quota"
	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/grpccodec"
	"github.com/apigwio/apigw/internal/model"
)

// Service implements authv3.AuthorizationServer.
type Service struct {
	authv3.UnimplementedAuthorizationServer

	tables  atomic.Pointer[tables]
	lockout lockout.Store
	nonces  nonce.Store
	quotas  quota.Store
	// quotaTimeout bounds a remote quota store call (Options.QuotaTimeout).
	quotaTimeout time.Duration
	usage        usageTable
	now          func() time.Time
	log          *slog.Logger
	obs          Observer

	authorizers *authorizerClient

	mu     sync.Mutex // serialises Stage and Activate
	staged *tables
	// removed keeps the tables an Activate replaced, for RemovalGrace:
	// Check still answers for the APIs the new configuration removed
	// until Envoy, which gets the removal after Check, stops routing them.
	removed atomic.Pointer[retired]
	// removeTimer forgets removed after RemovalGrace; the next Activate
	// stops it (its closure would otherwise keep every replaced
	// configuration alive for RemovalGrace). Guarded by mu.
	removeTimer *time.Timer
	// previous is the configuration the last Activate replaced, for
	// Revert, until Committed. Guarded by mu.
	previous *tables

	lockoutErrors atomic.Uint64
	nonceErrors   atomic.Uint64
	replays       atomic.Uint64
	quotaErrors   atomic.Uint64
	lastStoreLog  atomic.Int64 // Unix nanoseconds of the last store error line
}

// Stats are counters for metrics.
type Stats struct {
	// LockoutStoreErrors counts failed calls to the lockout store (and to
	// the nonce store).
	LockoutStoreErrors uint64
	// NonceStoreErrors counts failed calls to the nonce store.
	NonceStoreErrors uint64
	// Replays counts requests refused because their nonce was used.
	Replays uint64
	// QuotaStoreErrors counts failed calls to the quota store.
	QuotaStoreErrors uint64
	// NonceEvictions counts nonces the in-memory store forgot before the
	// end of their window because it was full.
	NonceEvictions uint64
}

// Stats returns the service's counters.
func (s *Service) Stats() Stats {
	st := Stats{LockoutStoreErrors: s.lockoutErrors.Load(), NonceStoreErrors: s.nonceErrors.Load(), Replays: s.replays.Load(), QuotaStoreErrors: s.quotaErrors.Load()}
	if m, ok := s.nonces.(*nonce.Memory); ok {
		st.NonceEvictions = m.Evicted()
	}
	return st
}

// Options configure a Service.
type Options struct {
	// Lockout stores failure counts. Default: an in-memory store sized from
	// the first snapshot's settings.
	Lockout lockout.Store
	// Nonces remembers anti-replay nonces (replay_protection). Default: an
	// in-memory store (bounded; see nonce.Memory).
	Nonces nonce.Store
	// Quotas counts calendar quotas. Default: an in-memory store.
	Quotas quota.Store
	// QuotaTimeout bounds one call to a remote quota store; past it the
	// call fails as the store being down would (failure_mode). Default
	// quota.Timeout.
	QuotaTimeout time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives decision logs at debug level. Default slog.Default().
	Logger *slog.Logger
	// Observer is told about every decision (metrics). Default: none.
	Observer Observer
}

// Observer receives decisions as they are made (metrics.Registry
// implements it). Calls must be cheap and must not block.
type Observer interface {
	// Decision reports one Check: the API id ("unknown" when the request
	// named no published API), whether it was allowed, the error code of a
	// denial, and the time spent deciding.
	Decision(api string, allowed bool, code string, d time.Duration)
	// Locked reports that a key was locked.
	Locked()
}

type nopObserver struct{}

func (nopObserver) Decision(string, bool, string, time.Duration) {}
func (nopObserver) Locked()                                      {}

// New returns a Service serving snap. It fails when snap names token
// issuers whose keys cannot be loaded.
func New(ctx context.Context, snap *model.Snapshot, opts Options) (*Service, error) {
	s := &Service{lockout: opts.Lockout, nonces: opts.Nonces, quotas: opts.Quotas, now: opts.Now, log: opts.Logger, obs: opts.Observer, authorizers: newAuthorizerClient()}
	if s.obs == nil {
		s.obs = nopObserver{}
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.quotaTimeout = opts.QuotaTimeout
	if s.quotaTimeout <= 0 {
		s.quotaTimeout = quota.Timeout
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.lockout == nil {
		lo := snap.Settings.Lockout
		s.lockout = lockout.NewMemory(lockout.Policy{MaxFailures: lo.MaxFailures, Duration: lo.Duration, MaxKeys: lo.MaxTrackedKeys}, s.now)
	}
	if s.quotas == nil {
		s.quotas = quota.NewMemory(s.now)
	}
	if s.nonces == nil {
		s.nonces = newNonceStore(snap, s.now)
	}
	if err := s.Update(ctx, snap); err != nil {
		return nil, err
	}
	return s, nil
}

// Update makes snap the configuration for subsequent Checks (Stage then
// Activate). Checks already running finish with the configuration they
// started with.
func (s *Service) Update(ctx context.Context, snap *model.Snapshot) error {
	if err := s.Stage(ctx, snap); err != nil {
		return err
	}
	return s.Activate(ctx, snap)
}

// Stage prepares snap (lookup tables, token key sets) without serving it.
// It fails, changing nothing, when a token issuer's keys cannot be loaded:
// call it before publishing snap anywhere else.
func (s *Service) Stage(ctx context.Context, snap *model.Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.tables.Load()
	var prev *tokenState
	if cur != nil {
		prev = cur.tokens
	}
	tokens, err := s.tokenVerifier(ctx, snap, prev)
	if err != nil {
		return err
	}
	s.discardStaged(tokens)
	// The groups whose digest is unchanged keep the compiled deployments
	// of the configuration in use.
	s.staged = compileReusing(snap, tokens, cur)
	return nil
}

// RemovalGrace is how long Check keeps answering, as before, for the APIs a
// reload removed: a reload switches Check first (so that Envoy never routes
// to an API Check does not know yet) and Envoy second, so for a moment Envoy
// still routes the removed APIs.
const RemovalGrace = 10 * time.Second

// retired is a configuration replaced by Activate, still consulted until
// its deadline for the deployments the new one lacks.
type retired struct {
	t     *tables
	until time.Time
}

// Activate serves the snapshot prepared by Stage. Until RemovalGrace has
// passed, requests for deployments that snap no longer has are still
// decided by the configuration it replaces (which is kept for that only
// when snap lacks some of its deployments).
func (s *Service) Activate(_ context.Context, snap *model.Snapshot) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.staged == nil || s.staged.snap != snap {
		return errors.New("authz: Activate without a matching Stage")
	}
	if m, ok := s.lockout.(interface{ SetPolicy(lockout.Policy) }); ok {
		lo := snap.Settings.Lockout
		m.SetPolicy(lockout.Policy{MaxFailures: lo.MaxFailures, Duration: lo.Duration, MaxKeys: lo.MaxTrackedKeys})
	}
	if m, ok := s.nonces.(interface{ SetFailClosed(bool) }); ok {
		m.SetFailClosed(snap.Settings.Throttling.FailClosed)
	}
	next := s.staged
	old := s.tables.Swap(next)
	s.staged = nil
	s.previous = old
	if old != nil && lacksDeployments(next, old) {
		r := &retired{t: old, until: s.now().Add(RemovalGrace)}
		s.removed.Store(r)
		if s.removeTimer != nil {
			s.removeTimer.Stop()
		}
		s.removeTimer = time.AfterFunc(RemovalGrace, func() { s.removed.CompareAndSwap(r, nil) })
	}
	if old != nil && old.tokens != nil && old.tokens != s.tables.Load().tokens {
		// Checks in flight may still use the old key sets for a moment.
		v := old.tokens.verifier
		time.AfterFunc(5*time.Second, v.Close)
	}
	return nil
}

// lacksDeployments reports whether next lacks a deployment of old. The
// compiled groups next shares with old have the same deployments: only the
// others' are looked up.
func lacksDeployments(next, old *tables) bool {
	shared := make(map[*groupTables]bool, len(next.parts))
	for _, p := range next.parts {
		shared[p] = true
	}
	for _, p := range old.parts {
		if shared[p] {
			continue
		}
		for k := range p.deployments {
			if next.deployment(k) == nil {
				return true
			}
		}
	}
	return false
}

// Revert serves again the configuration the last Activate replaced (when
// the xDS side failed to publish after Check switched), unless Committed
// was called since. It reports whether there was one to go back to.
func (s *Service) Revert() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.previous == nil {
		return false
	}
	if r := s.removed.Load(); r != nil && r.t == s.previous {
		s.removed.Store(nil)
	}
	s.tables.Store(s.previous)
	s.previous = nil
	return true
}

// Committed says that the configuration of the last Activate is served
// everywhere and will not be reverted: the configuration it replaced is
// then released, unless it is kept for RemovalGrace (see Activate).
func (s *Service) Committed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.previous = nil
}

// discardStaged drops a staged configuration that was never activated,
// closing its token verifier unless it is shared.
func (s *Service) discardStaged(keep *tokenState) {
	if s.staged == nil || s.staged.tokens == nil || s.staged.tokens == keep {
		s.staged = nil
		return
	}
	if cur := s.tables.Load(); cur == nil || cur.tokens != s.staged.tokens {
		s.staged.tokens.verifier.Close()
	}
	s.staged = nil
}

// Close stops background work (token key refresh).
func (s *Service) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.discardStaged(nil)
	if t := s.tables.Load(); t != nil && t.tokens != nil {
		t.tokens.verifier.Close()
	}
}

// Check implements authv3.AuthorizationServer. It never returns a gRPC error
// for a request it can read: every decision is a CheckResponse.
func (s *Service) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	resp, _ := s.check(ctx, req, false)
	return resp, nil
}

// CheckEncoded is Check for the server's codec (grpccodec.EncodingServer):
// an allow that depends only on the deployment and the caller is answered
// with its encoding, made on the first such allow and kept with the
// configuration (allowcache.go); every other answer is Check's.
func (s *Service) CheckEncoded(ctx context.Context, req *authv3.CheckRequest) (any, error) {
	resp, enc := s.check(ctx, req, true)
	if enc != nil {
		return enc, nil
	}
	return resp, nil
}

// check decides req; with encoded, an allow may come back encoded instead.
func (s *Service) check(ctx context.Context, req *authv3.CheckRequest, encoded bool) (*authv3.CheckResponse, *grpccodec.Encoded) {
	start := time.Now()
	t := s.tables.Load()
	r := newRequest(req)
	d, err := s.decide(ctx, t, &r)
	if err != nil {
		s.obs.Decision(d.metricAPI(), false, err.ID, time.Since(start))
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.LogAttrs(ctx, slog.LevelDebug, "check denied",
				slog.String("request_id", r.requestID),
				slog.String("api", r.apiID), slog.String("env", r.env),
				slog.String("code", err.ID), slog.Int("status", err.Status))
		}
		return d.deny(err, &r), nil
	}
	s.obs.Decision(d.dep.api.ID, true, "", time.Since(start))
	if encoded {
		if enc := t.allowEncoded(d, &r); enc != nil {
			return nil, enc
		}
	}
	resp := d.response(&r)
	if d.params != nil {
		d.dep.params.apply(resp.GetOkResponse(), d.params, &r, d.caller, s.now())
	}
	s.signUpstream(d, &r, resp)
	return resp, nil
}

// metricAPI is the API label of a decision: its API id when the request
// named a published API, else "unknown" (ids from unknown routes must not
// create unbounded label values).
func (d decision) metricAPI() string {
	if d.dep != nil {
		return d.dep.api.ID
	}
	return "unknown"
}

// decision is the outcome of the phases: the deployment the request named
// (set as soon as it is located, also for a denial) and, when allowed, the
// caller.
type decision struct {
	dep    *deployment
	caller *caller      // nil for auth type none
	params *paramValues // nil without parameters
}

func (s *Service) decide(ctx context.Context, t *tables, r *request) (decision, *apigerr.Error) {
	// 1. locate
	key := deploymentKey{r.apiID, r.env}
	dep := t.deployment(key)
	if dep == nil {
		// An API the last reload removed, while Envoy may still route it.
		if old := s.removed.Load(); old != nil && s.now().Before(old.until) {
			if dep = old.t.deployment(key); dep != nil {
				t = old.t
			}
		}
		if dep == nil {
			return decision{}, apigerr.New(apigerr.APINotFound)
		}
	}
	// 2. limits
	if err := checkLimits(&t.snap.Settings, r); err != nil {
		return decision{dep: dep}, err
	}
	// 3. client address policies, before any authentication work
	if err := checkIPACL(t, dep, r); err != nil {
		return decision{dep: dep}, err
	}
	// 4. identity
	c, err := s.identify(ctx, t, dep, r)
	if err != nil {
		return decision{dep: dep}, err
	}
	// 5. authorization
	var account string
	if c != nil {
		account = c.account
	}
	if err := checkAccountACL(dep, account); err != nil {
		return decision{dep: dep}, err
	}
	if c != nil && c.app != nil {
		if !c.app.Granted(dep.api, dep.env) {
			return decision{dep: dep}, apigerr.New(apigerr.AppNotAuthorized)
		}
		if err := checkAppTrustedIP(t, c, r); err != nil {
			return decision{dep: dep}, err
		}
	}
	// 6. request parameters and body
	var pv *paramValues
	if dep.params != nil {
		if pv, err = dep.params.validate(r); err != nil {
			return decision{dep: dep}, err
		}
	}
	if dep.api.Body != nil {
		if err := checkBody(dep.api.Body, r); err != nil {
			return decision{dep: dep}, err
		}
	}
	// 7. calendar quotas, last: only requests otherwise allowed count
	if c != nil {
		if err := s.checkQuota(ctx, t, dep, c); err != nil {
			return decision{dep: dep}, err
		}
	}
	return decision{dep: dep, caller: c, params: pv}, nil
}

// identify authenticates the caller by the API's auth type; nil for none.
func (s *Service) identify(ctx context.Context, t *tables, dep *deployment, r *request) (*caller, *apigerr.Error) {
	switch dep.api.Auth {
	case model.AuthNone:
		return nil, nil
	case model.AuthApp:
		if dep.api.AppCode {
			if code, ok := r.header(HeaderAppCode); ok {
				if _, signed := r.header("authorization"); !signed {
					return authenticateAppCode(t, r, code)
				}
			}
		}
		return s.authenticate(ctx, t, r, appScheme, dep.api.Replay)
	case model.AuthAppCode:
		code, ok := r.header(HeaderAppCode)
		if !ok || code == "" {
			return nil, missingCredential(apigerr.WithDetail(apigerr.AppAuthFailed, "app code not found"))
		}
		return authenticateAppCode(t, r, code)
	case model.AuthIAM:
		return s.authenticate(ctx, t, r, iamScheme, dep.api.Replay)
	case model.AuthHMAC:
		return s.authenticateKeyPair(ctx, t, dep, r)
	case model.AuthToken:
		return s.authenticateToken(ctx, t, dep, r)
	case model.AuthAuthorizer:
		return s.authenticateAuthorizer(ctx, dep, r)
	case model.AuthMTLS:
		return authenticateClientCert(t, dep, r)
	}
	// An auth type this build cannot verify must never fall through to an
	// allow.
	return nil, apigerr.New(apigerr.InternalError)
}

// checkLimits enforces the URI and body size limits. Envoy has no URI limit
// of its own (the path only counts toward its header limit), so the 414
// comes from here; the 413 for a declared Content-Length answers before the
// body is read.
func checkLimits(set *model.Settings, r *request) *apigerr.Error {
	if len(r.target) > set.MaxURIBytes {
		return apigerr.New(apigerr.RequestURITooLarge)
	}
	if cl, ok := r.header("content-length"); ok {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil || n < 0 {
			return apigerr.WithDetail(apigerr.RequestError, "invalid Content-Length")
		}
		if n > set.MaxBodyBytes {
			return apigerr.New(apigerr.RequestEntityTooLarge)
		}
	}
	if r.size > set.MaxBodyBytes || int64(len(r.body)) > set.MaxBodyBytes {
		return apigerr.New(apigerr.RequestEntityTooLarge)
	}
	return nil
}
