package authz

import (
	"context"
	"errors"
	"strings"

	"github.com/apigwio/apigw/authz/keypair"
	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/model"
)

// hmacFailure turns a key-pair failure into the gateway answer: the Tencent
// message and status in the tencent dialect; APIG.0305 with the same message
// in the apig dialect.
func hmacFailure(msg string, status int) *apigerr.Error {
	return apigerr.WithTencent(apigerr.AuthFailed, msg, status)
}

// keyPairPolicy compiles an API's HMAC settings for the verifier.
func keyPairPolicy(p model.HMACPolicy) keypair.Policy {
	out := keypair.Policy{ClockSkew: p.ClockSkew, EnforceHeaders: p.EnforceHeaders, ValidateBody: p.ValidateBody}
	for _, name := range p.Algorithms {
		if a, ok := keypair.ParseAlgorithm(name); ok {
			out.AllowedAlgorithms = append(out.AllowedAlgorithms, a)
		}
	}
	return out
}

// authenticateKeyPair verifies an HMAC key-pair signature (Tencent / Kong
// format) and the usage plan that must bind the key to the API.
func (s *Service) authenticateKeyPair(ctx context.Context, t *tables, dep *deployment, r *request) (*caller, *apigerr.Error) {
	cred, from, err := keypair.ParseRequestAuthorization(r.headers)
	if err != nil {
		return nil, keyPairError(err)
	}
	// Checks that need no secret come first, so they neither depend on the
	// key existing nor count toward its lockout.
	if err := dep.hmac.CheckCredential(cred); err != nil {
		return nil, keyPairError(err)
	}
	c := t.keyPairs[cred.ID]
	if len(dep.plans) == 0 {
		return nil, hmacFailure(keypair.MsgNoUsagePlan, 403)
	}
	plan := planFor(dep.plans, cred.ID)
	if c == nil || plan == nil {
		return nil, hmacFailure(keypair.MsgUnknownKey, 403)
	}
	rp := dep.api.Replay
	n, bad := nonceOf(rp, r, keyPairSigned(cred.Headers))
	if bad != "" {
		return nil, apigerr.WithTencent(apigerr.AuthFailed, apigerr.TencentNonceInvalid(rp.Header), 403)
	}
	lockKey := s.lockKey(t, c, r)
	locked, closed := s.locked(ctx, t, lockKey)
	if closed {
		return nil, apigerr.New(apigerr.InternalError)
	}
	if locked {
		return nil, hmacFailure(detailLocked, 403)
	}
	req := keypair.Request{
		Method: r.method, Target: r.target, Proto: r.protocol, Host: r.host,
		Header: r.headers, Body: r.body, HasBody: len(r.body) > 0 || r.size == 0,
	}
	if verr := keypair.Verify(&req, cred, c.secret, dep.hmac, s.now()); verr != nil {
		// Only a signature actually compared counts toward the lockout.
		if keypair.KindOf(verr) == keypair.KindSignatureMismatch && s.failed(ctx, t, lockKey) {
			return nil, hmacFailure(detailLocked, 403)
		}
		return nil, keyPairError(verr)
	}
	if replay, closed := s.replayed(ctx, t, rp, c.lockKey, n); closed {
		return nil, apigerr.New(apigerr.InternalError)
	} else if replay {
		return nil, hmacFailure(apigerr.TencentNonceReplayed(rp.Header), 403)
	}
	s.succeeded(ctx, t, lockKey)
	r.credHeader = strings.ToLower(from)
	return c.withPlan(plan), nil
}

// planFor returns the first of plans that binds the key pair id.
func planFor(plans []*model.UsagePlan, id string) *model.UsagePlan {
	for _, p := range plans {
		if p.HasKey(id) {
			return p
		}
	}
	return nil
}

func keyPairError(err error) *apigerr.Error {
	var kerr *keypair.Error
	if errors.As(err, &kerr) {
		return hmacFailure(kerr.Message, kerr.Status)
	}
	return hmacFailure(keypair.MsgInvalidAuthorization, 403)
}
