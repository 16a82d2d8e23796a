package authz

import (
	"context"
	"log/slog"
	"time"

	"github.com/apigwio/apigw/authz/lockout"
)

// Lockout steps shared by every credential kind. A shared store (Redis) can
// fail: then throttling.failure_mode decides, as for rate limits — open
// (the default) treats the key as not locked, closed refuses with
// APIG.0601. Errors are logged; the decision never waits past the store's
// timeout.

// lockKey is the lockout store key of caller c for request r: the
// caller's key, or with settings.lockout.scope key_and_ip the key and the
// client address (the connection peer, or X-Forwarded-For behind trusted
// proxies; "?" when it cannot be determined).
func (s *Service) lockKey(t *tables, c *caller, r *request) string {
	if !t.snap.Settings.Lockout.PerIP {
		return c.lockKey
	}
	if ip, ok := r.clientIP(t.snap.Listener.XFFNumTrustedHops); ok {
		return c.lockKey + "@" + ip.String()
	}
	return c.lockKey + "@?"
}

// locked reports whether key is locked; errClosed is true when the store
// failed and the failure mode is closed.
func (s *Service) locked(ctx context.Context, t *tables, key string) (locked, errClosed bool) {
	if !t.snap.Settings.Lockout.Enabled {
		return false, false
	}
	ctx, cancel := s.storeContext(ctx)
	defer cancel()
	l, err := s.lockout.Locked(ctx, key)
	if err != nil {
		s.storeError(ctx, err)
		return false, t.snap.Settings.Throttling.FailClosed
	}
	return l, false
}

// failed records a failure and reports whether the key is now locked.
func (s *Service) failed(ctx context.Context, t *tables, key string) bool {
	if !t.snap.Settings.Lockout.Enabled {
		return false
	}
	ctx, cancel := s.storeContext(ctx)
	defer cancel()
	l, err := s.lockout.Failure(ctx, key)
	if err != nil {
		s.storeError(ctx, err)
		return false
	}
	if l {
		s.obs.Locked()
		s.log.LogAttrs(ctx, slog.LevelInfo, "key locked after consecutive authentication failures", slog.String("key", key))
	}
	return l
}

// succeeded resets the key's failures.
func (s *Service) succeeded(ctx context.Context, t *tables, key string) {
	if !t.snap.Settings.Lockout.Enabled {
		return
	}
	ctx, cancel := s.storeContext(ctx)
	defer cancel()
	if err := s.lockout.Success(ctx, key); err != nil {
		s.storeError(ctx, err)
	}
}

func nop() {}

// storeContext bounds a call to a remote store.
func (s *Service) storeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, local := s.lockout.(*lockout.Memory); local {
		return ctx, nop
	}
	return context.WithTimeout(ctx, lockout.Timeout)
}

// storeErrorLogInterval is the least time between two store error lines.
const storeErrorLogInterval = 10 * time.Second

// storeError counts a store failure and logs it, at most once per interval
// (a store that is down would otherwise log once per request).
func (s *Service) storeError(ctx context.Context, err error) {
	n := s.lockoutErrors.Add(1)
	now := time.Now().UnixNano()
	last := s.lastStoreLog.Load()
	if now-last < int64(storeErrorLogInterval) || !s.lastStoreLog.CompareAndSwap(last, now) {
		return
	}
	s.log.LogAttrs(ctx, slog.LevelWarn, "shared store unavailable (lockout, nonces or quotas)", slog.String("error", err.Error()),
		slog.Uint64("errors_total", n), slog.String("failure_mode", failureMode(s.tables.Load())))
}

func failureMode(t *tables) string {
	if t != nil && t.snap.Settings.Throttling.FailClosed {
		return "closed"
	}
	return "open"
}
