package authz

// Anti-replay nonces (an API's replay_protection): a signed request carries
// a nonce in a header its signature covers; the nonce is recorded, per
// credential, for the API's window in the nonce store (memory, or Redis
// shared by replicas), and a request whose nonce is already recorded is a
// replay and is refused.
//
// Two steps, around the signature verification:
//   - before it (needs no secret, counts toward no lockout): a required
//     nonce must be present, a present one well formed and signed;
//   - after it succeeded (so that unauthenticated clients cannot burn
//     nonces): the store records the nonce, one call (one Redis round
//     trip). A replay is not a signature failure: it neither counts toward
//     the lockout nor resets it.
//
// A store error follows settings.throttling.failure_mode, as for the
// lockout: open accepts the request with its nonce unchecked, closed
// refuses it with APIG.0601.

import (
	"context"
	"strings"
	"time"

	"github.com/apigwio/apigw/authz/nonce"
	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/model"
)

// nonceOf returns the request's nonce for API api ("" when it carries none
// and none is required), or the detail of why it is refused. signed
// reports whether a header name is among the signed headers.
func nonceOf(rp *model.ReplayProtection, r *request, signed func(string) bool) (string, string) {
	if rp == nil {
		return "", ""
	}
	n, ok := r.header(rp.Header)
	if !ok {
		if rp.Required {
			return "", apigerr.NonceMissing(rp.Header)
		}
		return "", ""
	}
	if !nonce.Valid(n) {
		return "", apigerr.NonceInvalid(rp.Header)
	}
	if !signed(rp.Header) {
		return "", apigerr.NonceNotSigned(rp.Header)
	}
	return n, ""
}

// sdkSigned reports whether name is among an SDK-HMAC credential's
// ";"-joined signed headers.
func sdkSigned(list string) func(string) bool {
	return func(name string) bool {
		for list != "" {
			var h string
			h, list, _ = strings.Cut(list, ";")
			if strings.EqualFold(strings.TrimSpace(h), name) {
				return true
			}
		}
		return false
	}
}

// keyPairSigned reports whether name is among a key pair's signed headers.
func keyPairSigned(list []string) func(string) bool {
	return func(name string) bool {
		for _, h := range list {
			if h == name {
				return true
			}
		}
		return false
	}
}

// replayed records nonce n of the caller whose lockout key is cred for
// the API's window, and reports a replay. closed is true when the store
// failed and the failure mode is closed.
func (s *Service) replayed(ctx context.Context, t *tables, rp *model.ReplayProtection, cred, n string) (replay, closed bool) {
	if n == "" {
		return false, false
	}
	if _, local := s.nonces.(*nonce.Memory); !local {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, nonce.Timeout)
		defer cancel()
	}
	seen, err := s.nonces.Seen(ctx, nonce.Key(cred, n), rp.Window)
	if err != nil {
		s.nonceErrors.Add(1)
		s.storeError(ctx, err)
		return false, t.snap.Settings.Throttling.FailClosed
	}
	if seen {
		s.replays.Add(1)
	}
	return seen, false
}

// newNonceStore is the default store: in memory, failing closed when full
// if the failure mode is closed.
func newNonceStore(snap *model.Snapshot, now func() time.Time) nonce.Store {
	m := nonce.NewMemory(0, now)
	m.SetFailClosed(snap.Settings.Throttling.FailClosed)
	return m
}
