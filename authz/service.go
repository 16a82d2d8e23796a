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
//  3. identity: authenticate the caller by the API's auth type
//     (SDK-HMAC signatures for app and iam), with key lockout;
//  4. authorization: the app's grants (APIG.0304);
//  5. response: upstream identity headers and dynamic metadata, or the APIG
//     JSON error.
//
// The configuration is read through an atomic pointer: the hot path takes no
// lock of its own.
package authz

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/apigwio/apigw/apigerr"
	"github.com/apigwio/apigw/authz/lockout"
	"github.com/apigwio/apigw/model"
)

// Service implements authv3.AuthorizationServer.
type Service struct {
	authv3.UnimplementedAuthorizationServer

	tables  atomic.Pointer[tables]
	lockout lockout.Store
	now     func() time.Time
	log     *slog.Logger
}

// Options configure a Service.
type Options struct {
	// Lockout stores failure counts. Default: an in-memory store sized from
	// the first snapshot's settings.
	Lockout lockout.Store
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives decision logs at debug level. Default slog.Default().
	Logger *slog.Logger
}

// New returns a Service serving snap.
func New(snap *model.Snapshot, opts Options) *Service {
	s := &Service{lockout: opts.Lockout, now: opts.Now, log: opts.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.lockout == nil {
		lo := snap.Settings.Lockout
		s.lockout = lockout.NewMemory(lockout.Policy{MaxFailures: lo.MaxFailures, Duration: lo.Duration, MaxKeys: lo.MaxTrackedKeys}, s.now)
	}
	s.Update(snap)
	return s
}

// Update makes snap the configuration for subsequent Checks. Checks already
// running finish with the configuration they started with.
func (s *Service) Update(snap *model.Snapshot) {
	if m, ok := s.lockout.(*lockout.Memory); ok {
		lo := snap.Settings.Lockout
		m.SetPolicy(lockout.Policy{MaxFailures: lo.MaxFailures, Duration: lo.Duration})
	}
	s.tables.Store(compile(snap))
}

// Snapshot returns the configuration in use.
func (s *Service) Snapshot() *model.Snapshot { return s.tables.Load().snap }

// Check implements authv3.AuthorizationServer. It never returns a gRPC error
// for a request it can read: every decision is a CheckResponse.
func (s *Service) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	t := s.tables.Load()
	r := newRequest(req)
	d, err := s.decide(ctx, t, &r)
	if err != nil {
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.LogAttrs(ctx, slog.LevelDebug, "check denied",
				slog.String("request_id", r.requestID),
				slog.String("api", r.apiID), slog.String("env", r.env),
				slog.String("code", err.ID), slog.Int("status", err.Status))
		}
		return denied(err, t.dialect(&r), r.requestID), nil
	}
	return d.response(), nil
}

// decision is an allowed request.
type decision struct {
	dep    *deployment
	caller *caller // nil for auth type none
}

func (s *Service) decide(ctx context.Context, t *tables, r *request) (decision, *apigerr.Error) {
	// 1. locate
	dep := t.deployments[deploymentKey{r.apiID, r.env}]
	if dep == nil {
		return decision{}, apigerr.New(apigerr.APINotFound)
	}
	// 2. limits
	if err := checkLimits(&t.snap.Settings, r); err != nil {
		return decision{}, err
	}
	// 3. identity
	var c *caller
	switch dep.api.Auth {
	case model.AuthApp:
		var err *apigerr.Error
		if c, err = s.authenticate(ctx, t, r, appScheme); err != nil {
			return decision{}, err
		}
		// 4. authorization
		if !c.app.Granted(dep.api.ID, dep.env) {
			return decision{}, apigerr.New(apigerr.AppNotAuthorized)
		}
	case model.AuthIAM:
		var err *apigerr.Error
		if c, err = s.authenticate(ctx, t, r, iamScheme); err != nil {
			return decision{}, err
		}
	case model.AuthHMAC:
		var err *apigerr.Error
		if c, err = s.authenticateKeyPair(ctx, t, dep, r); err != nil {
			return decision{}, err
		}
	case model.AuthNone:
	default:
		// An auth type this build cannot verify must never fall through to
		// an allow.
		return decision{}, apigerr.New(apigerr.InternalError)
	}
	return decision{dep: dep, caller: c}, nil
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
