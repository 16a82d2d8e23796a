package config

// Anti-replay nonces: groups[].replay_protection and
// groups[].apis[].replay_protection.

import (
	"fmt"
	"strings"
	"time"

	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// nonceHeaderClash lists headers a nonce must not be carried in: the
// signature schemes' own headers (their values are not unique per request,
// or are the credential itself) and headers the gateway owns.
var nonceHeaderClash = map[string]bool{
	"authorization": true, "proxy-authorization": true, "x-sdk-date": true,
	"x-sdk-content-sha256": true, "x-sdk-content-sm3": true, "date": true,
	"x-date": true, "digest": true, "host": true, "content-length": true,
	"content-type": true, "x-stage": true, "x-apig-appcode": true,
	"x-request-id": true,
}

// replay resolves the replay protection of api (declared at apiPath, in
// the group at groupPath): the API's own, else the group's for a signed
// auth type.
func (b *builder) replay(apiPath, groupPath string, g *configv1.Group, a *configv1.Api, api *model.API) {
	signed := api.Auth == model.AuthApp || api.Auth == model.AuthIAM || api.Auth == model.AuthHMAC
	rp, path := a.GetReplayProtection(), field(apiPath, "replay_protection")
	if rp != nil && !signed {
		b.ps.add(path, "replay protection applies to signed requests only (auth app, iam or hmac), not auth %s", api.Auth)
		return
	}
	if rp == nil {
		// The group's applies to its signed APIs; others are left alone
		// (app codes, tokens and authorizers have no signature to cover
		// a nonce).
		if rp = g.GetReplayProtection(); rp == nil || !signed {
			return
		}
		path = field(groupPath, "replay_protection")
	}
	out := &model.ReplayProtection{Header: strings.ToLower(rp.GetHeader()), Required: rp.GetRequired()}
	if out.Header == "" {
		out.Header = strings.ToLower(model.DefaultNonceHeader)
	}
	switch {
	case !reHeader.MatchString(out.Header):
		b.ps.add(field(path, "header"), "%q is not a header name", rp.GetHeader())
	case nonceHeaderClash[out.Header] || strings.HasPrefix(out.Header, "x-apig-") || strings.HasPrefix(out.Header, ":"):
		b.ps.add(field(path, "header"), "%q is a header the signature schemes or the gateway use for something else; carry the nonce in its own header (default %s)", rp.GetHeader(), model.DefaultNonceHeader)
	}
	skew := b.snap.Settings.ClockSkew
	if api.Auth == model.AuthHMAC {
		skew = api.HMAC.ClockSkew
	}
	// A request is accepted while its date is within skew of the server
	// clock, either side: 2*skew in all, the time a nonce must be kept.
	out.Window = b.duration(field(path, "window"), rp.GetWindow(), 2*skew, time.Second, model.MaxReplayWindow)
	if out.Window > model.TencentReplayWindow && api.Dialect == apigerr.Tencent {
		b.warn(field(path, "window"), "%s is longer than %s, the window Tencent-style clients are built for (signatures valid 900 s either side): every nonce is kept that long", out.Window, model.TencentReplayWindow)
	}
	if out.Window < 2*skew && rp.GetWindow() != "" {
		b.warn(field(path, "window"), "%s is shorter than twice the clock skew (%s): a request signed with a clock running ahead can be replayed once its nonce is forgotten", out.Window, 2*skew)
	}
	api.Replay = out
}

// warn records a warning: accepted, but printed by validate and logged by
// serve.
func (b *builder) warn(path, format string, args ...any) {
	b.snap.Warnings = append(b.snap.Warnings, path+": "+fmt.Sprintf(format, args...))
}
