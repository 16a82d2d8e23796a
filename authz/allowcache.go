package authz

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/apigwio/apigw/internal/grpccodec"
	"github.com/apigwio/apigw/internal/model"
)

// Encoded allows. Most allows of a deployment repeat the same answer for the
// same caller: the deployment's and the caller's identity headers, the
// caller's removals and metadata. Such an answer is encoded once
// (grpccodec.Encode) and kept, per deployment, for the last caller allowed
// there, in the tables it was decided with (so a reload, which builds new
// tables, deployments and callers, starts afresh). An allow is answered
// from the cache only when its answer depends on nothing else:
//
//   - no request parameters (backend parameters come from the request) and
//     no signature key (the upstream signature covers the request);
//   - hide_credentials not true (it removes the header the request
//     authenticated with);
//   - a caller that is part of the tables — not a token's or a custom
//     authorizer's, made for each request from its claims;
//   - no x-apig- header in the request that the answer would remove
//     (gatewayRemovals): such a request gets its own answer, and the
//     cached one removes nothing.
//
// The cache is keyed by pointers to the deployment and the caller, which
// are never modified once built, and each entry keeps both alive, so a
// pointer match is the same deployment and caller.

// allowEntry is a deployment's encoded allow for one caller (nil: auth
// none).
type allowEntry struct {
	caller *caller
	enc    *grpccodec.Encoded
}

// allowEncoded returns the encoded allow of d for r, from the cache or
// encoded now and cached; nil when d's answer is not cacheable for r (the
// caller then builds it).
func (t *tables) allowEncoded(d decision, r *request) *grpccodec.Encoded {
	dep := d.dep
	if d.params != nil || dep.signer != nil || dep.api.Auth == model.AuthToken || dep.api.Auth == model.AuthAuthorizer {
		return nil
	}
	hide := dep.api.HideCredentials
	if hide != nil && *hide {
		return nil
	}
	keepAppCode := hide != nil // and not true
	var callerHeaders []*corev3.HeaderValueOption
	if d.caller != nil {
		callerHeaders = d.caller.headers
	}
	extra := false
	r.eachHeaderName(func(name string) {
		if !extra {
			_, extra = gatewayRemoval(name, nil, dep.headers, callerHeaders, keepAppCode)
		}
	})
	if extra {
		return nil
	}
	if v, ok := t.allow.Load(dep); ok {
		if e := v.(*allowEntry); e.caller == d.caller {
			return e.enc
		}
	}
	enc, err := grpccodec.Encode(d.response(r))
	if err != nil {
		return nil // answered by building it again (the codec reports the error)
	}
	t.allow.Store(dep, &allowEntry{caller: d.caller, enc: enc})
	return enc
}
