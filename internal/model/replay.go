package model

import "time"

// DefaultNonceHeader is the request header that carries an anti-replay
// nonce unless replay_protection.header names another.
const DefaultNonceHeader = "X-Sdk-Nonce"

// MaxReplayWindow is the longest replay_protection.window accepted.
const MaxReplayWindow = 24 * time.Hour

// TencentReplayWindow is the longest window that stays within what a
// Tencent-style client expects (its signatures are valid for 900 s either
// side); a longer window in a tencent group is accepted with a warning.
const TencentReplayWindow = 1800 * time.Second

// ReplayProtection is an API's anti-replay nonce check: a signed request
// whose nonce (in Header, which must be signed) was already seen for the
// same credential within Window is refused.
type ReplayProtection struct {
	// Header is the nonce header, lower case.
	Header string
	// Window is how long a nonce is remembered.
	Window time.Duration
	// Required refuses signed requests without a nonce.
	Required bool
}
