// Package model is the resolved, immutable view of a gateway configuration.
//
// The config package builds a Snapshot from user files; the authz package
// (Envoy ext_authz Check) and the xds package (Envoy resources) read it. A
// Snapshot is never modified after it is built: a new configuration produces a
// new Snapshot, published atomically.
package model

import (
	"net/netip"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/apigwio/apigw/internal/apigerr"
	"github.com/apigwio/apigw/internal/bodyschema"
)

// AuthType is how an API authenticates callers.
type AuthType uint8

// Authentication types.
const (
	AuthNone AuthType = iota + 1
	AuthApp
	AuthIAM
	AuthHMAC
	AuthToken
	AuthAppCode
	AuthAuthorizer
	// AuthMTLS identifies the app by the client certificate the group's
	// client CA verified on the TLS listener.
	AuthMTLS
)

// String returns the configuration spelling of a.
func (a AuthType) String() string {
	switch a {
	case AuthNone:
		return "none"
	case AuthApp:
		return "app"
	case AuthIAM:
		return "iam"
	case AuthHMAC:
		return "hmac"
	case AuthToken:
		return "token"
	case AuthAppCode:
		return "app_code"
	case AuthAuthorizer:
		return "authorizer"
	case AuthMTLS:
		return "mtls"
	}
	return "unknown"
}

// MatchKind is how an API path matches the request path.
type MatchKind uint8

// Path match kinds.
const (
	MatchExact MatchKind = iota + 1
	MatchPrefix
)

// String returns the configuration spelling of m.
func (m MatchKind) String() string {
	if m == MatchPrefix {
		return "prefix"
	}
	return "exact"
}

// MethodAny matches every HTTP method.
const MethodAny = "ANY"

// Snapshot is one fully resolved configuration.
type Snapshot struct {
	// Version identifies the configuration content (a hash).
	Version string
	// Warnings are "path: message" lines about settings accepted but
	// questionable (printed by validate, logged by serve).
	Warnings []string
	// Server holds the service's own addresses.
	Server Server
	// Listener is the Envoy listener for API traffic.
	Listener Listener
	// Settings are the gateway-wide limits.
	Settings Settings
	// Environments, default first, then by name.
	Environments []*Environment
	// Groups in declaration order.
	Groups []*Group
	// APIs by key (API.Key): by id, but for the variants of an API after
	// the first (see API.Variant). LookupAPI finds the variant published in
	// an environment.
	APIs map[string]*API
	// Channels by name.
	Channels map[string]*Channel
	// Apps by AppKey (enabled apps only).
	Apps map[string]*App
	// AccessKeys by AK (enabled keys only).
	AccessKeys map[string]*AccessKey
	// KeyPairs by secret id (enabled key pairs only).
	KeyPairs map[string]*KeyPair
	// UsagePlans in declaration order.
	UsagePlans []*UsagePlan
	// TokenIssuers in declaration order.
	TokenIssuers []*TokenIssuer
	// ACLPolicies by name.
	ACLPolicies map[string]*ACLPolicy
	// ThrottlePolicies by name.
	ThrottlePolicies map[string]*ThrottlePolicy
	// GatewayResponses are the response sets, by name.
	GatewayResponses map[string]*ResponseSet
	// apiCount is APICount's answer when apiCounted (SetAPICount).
	apiCount   int
	apiCounted bool
}

// Server holds the service's own addresses.
type Server struct {
	// GRPCAddress serves Check, health and xDS.
	GRPCAddress string
	// AdminAddress serves the admin HTTP endpoints.
	AdminAddress string
	// AdvertiseAddress is how Envoy reaches GRPCAddress.
	AdvertiseAddress string
	// TLS of the gRPC port; nil: plaintext.
	TLS *ServerTLS
}

// ServerTLS is TLS (mTLS with ClientCAFile) on the gRPC port, and how the
// generated apigw_authz cluster connects to it.
type ServerTLS struct {
	// CertFile and KeyFile are the port's PEM certificate chain and key;
	// ClientCAFile ("" : no client certificate asked) the CA bundle that
	// must have signed client certificates. Read by apigw, re-read when
	// they change.
	CertFile, KeyFile, ClientCAFile string
	// EnvoyCAFile, EnvoyCertFile and EnvoyKeyFile are paths on Envoy's
	// file system: the CA Envoy verifies the port with, and Envoy's client
	// certificate and key ("" without mTLS).
	EnvoyCAFile, EnvoyCertFile, EnvoyKeyFile string
	// ServerName is the SNI Envoy sends and the SAN it expects.
	ServerName string
}

// Listener is the Envoy listener for API traffic.
type Listener struct {
	// Address to bind.
	Address string
	// Port to bind.
	Port uint32
	// XFFNumTrustedHops is the number of trusted proxies in X-Forwarded-For.
	XFFNumTrustedHops uint32
	// TLSPort is the port of the TLS listener (0: none).
	TLSPort uint32
}

// Settings are the gateway-wide limits.
type Settings struct {
	// ClockSkew is the allowed |X-Sdk-Date - now|.
	ClockSkew time.Duration
	// MaxBodyBytes is the largest accepted request body.
	MaxBodyBytes int64
	// MaxURIBytes is the largest accepted path plus query.
	MaxURIBytes int
	// Lockout configures key lockout.
	Lockout Lockout
	// DefaultEnvironment is selected when no X-Stage header is sent.
	DefaultEnvironment string
	// DeniedBackendCIDRs are ranges no backend may resolve into.
	DeniedBackendCIDRs []netip.Prefix
	// HMAC is the key-pair verification default.
	HMAC HMACPolicy
	// AppCodeAllowHTTP accepts app codes over plain HTTP.
	AppCodeAllowHTTP bool
	// Throttling holds the rate-limit defaults and store.
	Throttling Throttling
	// BackendTLS is how Envoy verifies https backends.
	BackendTLS BackendTLS
	// RequireSignedHost refuses SDK-HMAC signatures that do not sign host.
	RequireSignedHost bool
	// IdentityMetadataAlways publishes the caller identity as ext_authz
	// dynamic metadata on every allow (settings.identity_metadata: always);
	// false: only for deployments whose rate-limit descriptors read it.
	IdentityMetadataAlways bool
	// MaxAPIRemovalPercent refuses a reload that would remove more than
	// this percentage of the published APIs, unless forced (100: never).
	MaxAPIRemovalPercent int
}

// DefaultBackendCAFile is the CA bundle https backends are verified against
// unless configured otherwise: the system bundle of Debian, Ubuntu (the
// official Envoy images) and Alpine, on Envoy's file system.
const DefaultBackendCAFile = "/etc/ssl/certs/ca-certificates.crt"

// BackendTLS configures the verification of https backends' certificates.
type BackendTLS struct {
	// CAFile is a PEM file of trusted CAs on Envoy's file system (empty:
	// DefaultBackendCAFile).
	CAFile string
	// InsecureSkipVerify accepts any backend certificate.
	InsecureSkipVerify bool
	// ClientCertificate is presented to https backends that ask for one
	// (nil: none).
	ClientCertificate *CertificateFiles
}

// HMACPolicy configures HMAC key-pair verification.
type HMACPolicy struct {
	// Algorithms allowed ("hmac-sha256", ...); empty means all.
	Algorithms []string
	// ClockSkew allowed for X-Date / Date.
	ClockSkew time.Duration
	// EnforceHeaders must be among the signed headers.
	EnforceHeaders []string
	// ValidateBody requires a matching Digest header.
	ValidateBody bool
}

// Throttling holds the rate-limit defaults and store.
type Throttling struct {
	// DefaultAPIRPS is the per-API limit per second when no policy is bound;
	// 0 means none.
	DefaultAPIRPS uint32
	// RedisAddress of the shared store; empty for memory (or a cluster).
	RedisAddress string
	// RedisCluster are the seed nodes of a Redis Cluster used as the shared
	// store instead of RedisAddress (they are exclusive).
	RedisCluster []string
	// RedisPassword of the shared store.
	RedisPassword Secret
	// FailClosed denies when the store is unreachable. It is the one source
	// of the failure mode: the rate-limit service (through throttle.Config)
	// and lockout both read it from the snapshot in use, so a reload
	// changes both.
	FailClosed bool
}

// MaxLockoutDuration is the longest Lockout.Duration a configuration may
// set (the lockout stores keep entries at most that long).
const MaxLockoutDuration = 24 * time.Hour

// Lockout configures key lockout after consecutive failures.
type Lockout struct {
	// Enabled turns lockout on.
	Enabled bool
	// MaxFailures tolerated; one more locks the key.
	MaxFailures int
	// Duration of a lock.
	Duration time.Duration
	// MaxTrackedKeys bounds the memory used.
	MaxTrackedKeys int
	// PerIP counts failures and locks per key and client address
	// (settings.lockout.scope: key_and_ip) instead of per key.
	PerIP bool
}

// Environment is a stage with its variables.
type Environment struct {
	// Name of the environment.
	Name string
	// Default is true for the environment selected without X-Stage.
	Default bool
	// Variables substituted into backends.
	Variables map[string]string
}

// Group is an API group.
type Group struct {
	// Name of the group.
	Name string
	// Domains served (Envoy virtual host domains).
	Domains []string
	// APIs in declaration order.
	APIs []*API
	// Dialect of error answers.
	Dialect apigerr.Dialect
	// Responses is the gateway response set the group is bound to (nil:
	// the built-in answers of its dialect).
	Responses *ResponseSet
	// PathEnvironments maps a first path segment to an environment when the
	// environment is selected by path; nil when X-Stage selects it.
	PathEnvironments map[string]string
	// Warnings about the group's definition (also in Snapshot.Warnings),
	// kept with the model so that a reload reusing it repeats them.
	Warnings []string
	// TLS serves the group's domains on the TLS listener; nil: not there.
	TLS *GroupTLS
	// Digest hashes everything the group's model is resolved from: its own
	// definition and every definition outside the groups. Equal digests
	// mean equal models, so a translation of the group can be reused.
	// Empty when unknown (a model built by hand): never reuse then.
	Digest string
}

// API is one operation, resolved per environment.
//
// An API may be defined more than once in its group, each definition (a
// variant) published in environments none of the others is published in:
// v1 in RELEASE, v2 in BETA. Every variant has the API's ID (what
// upstreams, metrics and rate limits see); Check and Envoy's routes tell
// them apart by environment.
type API struct {
	// ID is "<group>/<name>".
	ID string
	// Variant is empty for the first definition of the API in its group,
	// and for a later variant its environments, comma-separated.
	Variant string
	// Name of the API in its group.
	Name string
	// Group name.
	Group string
	// Method, upper case, or MethodAny.
	Method string
	// Path as configured.
	Path string
	// Match kind.
	Match MatchKind
	// Auth type.
	Auth AuthType
	// WebSocket allows upgrades.
	WebSocket bool
	// AppCode accepts X-Apig-AppCode for auth app.
	AppCode bool
	// Dialect of error answers (the group's). (The one-byte fields are
	// kept together: 16 bytes of padding fewer, a 320-byte allocation
	// per API instead of 352.)
	Dialect apigerr.Dialect
	// CORS policy, nil when off.
	CORS *CORS
	// Deployments by environment name: where the API is published.
	Deployments map[string]*Deployment
	// Environments the API is published in, default first then by name.
	Environments []string
	// HideCredentials removes the credential header a request
	// authenticated with before it goes upstream: nil (unset) for
	// X-Apig-AppCode only, true for every scheme's header, false for none.
	HideCredentials *bool
	// HMAC is the key-pair policy for auth hmac.
	HMAC HMACPolicy
	// TokenIssuers accepted for auth token (names; empty: all).
	TokenIssuers []string
	// Authorizer for auth authorizer.
	Authorizer *Authorizer
	// Replay is the anti-replay nonce check (nil: off). Set for signed
	// auth types only (app, iam, hmac).
	Replay *ReplayProtection
	// Responses is the group's gateway response set (nil: none).
	Responses *ResponseSet
	// Parameters declared (nil: none).
	Parameters *Parameters
	// Body is the request body validation (nil: validate_request off).
	Body *BodyValidation
	// Digest hashes everything the API's model is resolved from: the
	// definitions outside the groups, its group's own fields, its own
	// definition and whether it is a later variant. Equal digests mean
	// equal models but for the bindings of Deployment (ACLs, Throttle,
	// UsagePlans), whose definitions are outside the groups: so a
	// translation of the API's routes can be reused. Zero when unknown
	// (a model built by hand): never reuse then. Only compared, never
	// shown (/debug/config leaves it out).
	Digest Digest
}

// Digest is a SHA-256 digest kept as its 32 bytes (half the memory of
// its hex: one per API).
type Digest [32]byte

// IsZero reports whether d is the zero digest (unknown).
func (d Digest) IsZero() bool { return d == Digest{} }

// Key is the API's key in Snapshot.APIs: the ID, followed for a later
// variant by "@" and its environments.
func (a *API) Key() string {
	if a.Variant == "" {
		return a.ID
	}
	return a.ID + "@" + a.Variant
}

// LookupAPI returns the definition of the API id ("<group>/<name>")
// published in env, else the API's first definition (nil when the
// snapshot has no API id).
func (s *Snapshot) LookupAPI(id, env string) *API {
	first := s.APIs[id]
	if first == nil || first.Deployments[env] != nil {
		return first
	}
	for _, g := range s.Groups {
		if g.Name != first.Group {
			continue
		}
		for _, a := range g.APIs {
			if a.ID == id && a.Deployments[env] != nil {
				return a
			}
		}
	}
	return first
}

// APICount is the number of APIs of the snapshot, an API with variants
// counting once: the count SetAPICount recorded, else counted in APIs.
func (s *Snapshot) APICount() int {
	if s.apiCounted {
		return s.apiCount
	}
	n := 0
	for _, a := range s.APIs {
		if a.Variant == "" {
			n++
		}
	}
	return n
}

// SetAPICount records n as APICount's answer (config's build counts the
// APIs as it adds them, instead of a walk of APIs for every log line).
// Only for a snapshot whose APIs no longer change.
func (s *Snapshot) SetAPICount(n int) {
	s.apiCount, s.apiCounted = n, true
}

// BodyValidation is an API's validate_request: Check reads the body and
// validates it against the compiled request.body_schema.
type BodyValidation struct {
	Schema *bodyschema.Schema
	// Required refuses a request without a body.
	Required bool
}

// Deployment is an API published in one environment, with variables applied.
//
// ACLs, Throttle and UsagePlans are bound by definitions outside the
// group; the rest comes from the group's own definition. A field added to
// the first kind must also be cleared where config reuses an unchanged
// group's model (builder.reuseAPI).
type Deployment struct {
	// Environment name.
	Environment string
	// Backend with variables resolved.
	Backend Backend
	// Policies are conditional backends, first match wins.
	Policies []BackendPolicy
	// ACLs bound to the API in this environment.
	ACLs []*ACLPolicy
	// Throttle bound to the API in this environment (nil: the default).
	Throttle *ThrottlePolicy
	// UsagePlans bound to the API in this environment (auth hmac).
	UsagePlans []*UsagePlan
	// SignatureKey signs the requests forwarded to the backend (nil: none).
	SignatureKey *SignatureKey
}

// BackendKind says which kind of backend a Backend is.
type BackendKind uint8

// Backend kinds.
const (
	BackendURL BackendKind = iota + 1
	BackendChannel
	BackendMock
)

// Backend is a resolved backend.
type Backend struct {
	// Kind of backend.
	Kind BackendKind
	// URL for BackendURL (variables resolved).
	URL *url.URL
	// Channel name for BackendChannel.
	Channel string
	// Path to send upstream (URL path or configured path), "" keeps the request path.
	Path string
	// Mock response for BackendMock.
	Mock *Mock
	// Timeout of the upstream request.
	Timeout time.Duration
	// Retries on failure.
	Retries uint32
	// HostHeader overrides the Host sent upstream.
	HostHeader string
}

// Mock is a fixed response.
type Mock struct {
	// Status code.
	Status uint32
	// Body.
	Body string
	// Headers of the response.
	Headers map[string]string
}

// BackendPolicy is a conditional backend.
type BackendPolicy struct {
	// Name of the policy.
	Name string
	// Conditions, all of which must hold.
	Conditions []Condition
	// Backend to use.
	Backend Backend
}

// ConditionType is what a Condition tests.
type ConditionType uint8

// Condition types.
const (
	ConditionSourceIP ConditionType = iota + 1
	ConditionHeader
	ConditionQuery
	ConditionApp
)

// Condition is one test on a request.
type Condition struct {
	// Type of test.
	Type ConditionType
	// Name of the header or query parameter.
	Name string
	// Values accepted (CIDRs for source IP, app names for app).
	Values []string
}

// CORS is a resolved CORS policy.
type CORS struct {
	// AllowOrigins are exact origins or "*".
	AllowOrigins []string
	// AllowMethods allowed.
	AllowMethods []string
	// AllowHeaders allowed.
	AllowHeaders []string
	// ExposeHeaders exposed.
	ExposeHeaders []string
	// MaxAge of preflight results; 0 leaves it unset.
	MaxAge time.Duration
	// AllowCredentials allows credentials.
	AllowCredentials bool
}

// LBPolicy is a channel's load-balancing policy.
type LBPolicy uint8

// Load-balancing policies.
const (
	LBRoundRobin LBPolicy = iota + 1
	LBLeastRequest
	LBRandom
	LBRingHash
)

// Channel is a load-balance channel.
type Channel struct {
	// Name of the channel.
	Name string
	// Members (servers).
	Members []ChannelMember
	// LBPolicy of the channel.
	LBPolicy LBPolicy
	// HealthCheck, nil when off.
	HealthCheck *HealthCheck
	// TLS is true for https channels.
	TLS bool
}

// ChannelMember is one server.
type ChannelMember struct {
	// Host is an IP address or name.
	Host string
	// Port number.
	Port uint32
	// Weight relative to other members.
	Weight uint32
}

// HealthCheck is an active HTTP health check.
type HealthCheck struct {
	// Path requested.
	Path string
	// Interval between checks.
	Interval time.Duration
	// Timeout of one check.
	Timeout time.Duration
	// HealthyThreshold successes to mark healthy.
	HealthyThreshold uint32
	// UnhealthyThreshold failures to mark unhealthy.
	UnhealthyThreshold uint32
}

// App is an application credential.
type App struct {
	// Name of the app (its id upstream).
	Name string
	// Key is the AppKey.
	Key string
	// Secret is the AppSecret.
	Secret Secret
	// Codes are the app codes for simple authentication.
	Codes []Secret
	// TrustedIPs the app may call from; empty means any.
	TrustedIPs []netip.Prefix
	// Quota is the app's calendar quota (nil: none).
	Quota *CalendarQuota
	// ClientCertSubjects identify the app by a verified client
	// certificate (auth mtls): a subject CN, subject DN or SAN.
	ClientCertSubjects []string
	// apis holds the (API id, environment) pairs of grants naming an API
	// (pairs a group grant already covers are left out).
	apis map[grantRef]struct{}
	// groups holds the group grants ("<group>/*") by group name.
	groups map[string]groupGrant
	// grantGroups are the groups of the group grants, in grant order,
	// for GrantCount (counted on first use: a reload does not pay for it).
	grantGroups []*Group
	countOnce   sync.Once
	// grantCount is the number of (API, environment) pairs granted.
	grantCount int
}

// grantRef is an API id with an environment.
type grantRef struct{ api, env string }

// groupGrant is the environments a group is granted in.
type groupGrant struct {
	// all: every environment each API of the group is published in.
	all bool
	// envs granted, unless all.
	envs []string
}

// Grant is one grant as written: one API, or every API of a group.
type Grant struct {
	// API is the granted API; nil for a group grant.
	API *API
	// Group is the granted group when API is nil.
	Group *Group
	// Environments granted; empty: every environment each API is
	// published in. An environment an API is not published in grants
	// nothing for that API.
	Environments []string
}

// NewApp returns an app with the given grants. The grants are kept as
// written (a group grant is one entry per group, not one per API and
// environment): Granted answers with at most two map lookups.
func NewApp(name, key string, secret Secret, grants []Grant) *App {
	a := &App{Name: name, Key: key, Secret: secret}
	groups := map[*Group]bool{}
	for _, g := range grants {
		if g.API != nil || g.Group == nil {
			continue
		}
		if a.groups == nil {
			a.groups = map[string]groupGrant{}
		}
		if !groups[g.Group] {
			a.grantGroups = append(a.grantGroups, g.Group)
		}
		groups[g.Group] = true
		gg := a.groups[g.Group.Name]
		if len(g.Environments) == 0 {
			gg.all, gg.envs = true, nil
		}
		for _, e := range g.Environments {
			if !gg.all && e != "" && !slices.Contains(gg.envs, e) { // "" is no environment's name
				gg.envs = append(gg.envs, e)
			}
		}
		a.groups[g.Group.Name] = gg
	}
	for _, g := range grants {
		if g.API == nil {
			continue
		}
		envs := g.Environments
		if len(envs) == 0 {
			envs = g.API.Environments
		}
		for _, e := range envs {
			if g.API.Deployments[e] == nil || a.groupGranted(g.API, e) {
				continue
			}
			if a.apis == nil {
				a.apis = map[grantRef]struct{}{}
			}
			a.apis[grantRef{g.API.ID, e}] = struct{}{}
		}
	}
	return a
}

// Granted reports whether the app may call the API (of this snapshot) in
// the environment.
func (a *App) Granted(api *API, env string) bool {
	if _, ok := a.apis[grantRef{api.ID, env}]; ok {
		return true
	}
	return a.groupGranted(api, env)
}

// groupGranted reports whether a group grant covers the API in env.
func (a *App) groupGranted(api *API, env string) bool {
	if len(a.groups) == 0 {
		return false
	}
	g, ok := a.groups[api.Group]
	if !ok || !g.all && !slices.Contains(g.envs, env) {
		return false
	}
	return slices.Contains(api.Environments, env) // published (the keys of Deployments)
}

// GrantCount returns the number of (API, environment) pairs granted
// (CountGrants of a itself, once).
func (a *App) GrantCount() int {
	CountGrants([]*App{a})
	return a.grantCount
}

// CountGrants counts the grants of apps (what GrantCount returns) all at
// once: each granted group's (API, environment) pairs are counted once for
// every app granting it, not once per app. At 100,000 APIs, 500 apps each
// granted a group of 10,000 APIs cost ~5 million API visits counted one
// app at a time, ~100,000 this way (/debug/config's summary shows every
// app's count). An app already counted keeps its count.
func CountGrants(apps []*App) {
	counts := map[*Group]*groupPairs{}
	for _, a := range apps {
		a.countOnce.Do(func() {
			n := len(a.apis)
			for _, grp := range a.grantGroups {
				g, ok := a.groups[grp.Name]
				if !ok {
					continue
				}
				c := counts[grp]
				if c == nil {
					c = countPairs(grp)
					counts[grp] = c
				}
				if g.all {
					n += c.all
					continue
				}
				for _, e := range g.envs { // distinct (NewApp)
					n += c.in(e)
				}
			}
			a.grantCount = n
		})
	}
}

// groupPairs are the (API, environment) pairs of a group's APIs.
type groupPairs struct {
	// all is the number of pairs.
	all int
	// envs are the environments of the pairs, and counts the number of
	// pairs in each (a deployment has a few environments: a list is
	// faster to look up than a map, once per pair).
	envs   []string
	counts []int
}

// in is the number of pairs in environment env.
func (c *groupPairs) in(env string) int {
	for i, e := range c.envs {
		if e == env {
			return c.counts[i]
		}
	}
	return 0
}

// countPairs counts grp's (API, environment) pairs as GrantCount does:
// the APIs of the group named grp.Name, each environment it is published
// in.
func countPairs(grp *Group) *groupPairs {
	c := &groupPairs{}
	for _, api := range grp.APIs {
		if api.Group != grp.Name {
			continue
		}
		c.all += len(api.Environments)
	next:
		for _, e := range api.Environments {
			for i, seen := range c.envs {
				if seen == e {
					c.counts[i]++
					continue next
				}
			}
			c.envs = append(c.envs, e)
			c.counts = append(c.counts, 1)
		}
	}
	return c
}

// AccessKey is an IAM AK/SK pair with its owner.
type AccessKey struct {
	// ID is the AK.
	ID string
	// Secret is the SK.
	Secret Secret
	// Account of the owner.
	Account string
	// User name of the owner.
	User string
}

// Secret holds secret bytes. Its String and GoString methods never reveal
// them, so a Secret printed by mistake in a log or error shows "[redacted]".
type Secret struct{ b []byte }

// NewSecret wraps b.
func NewSecret(b []byte) Secret { return Secret{b: b} }

// Bytes returns the secret material. Callers must not modify or log it.
func (s Secret) Bytes() []byte { return s.b }

// String implements fmt.Stringer without revealing the secret.
func (s Secret) String() string { return "[redacted]" }

// GoString implements fmt.GoStringer without revealing the secret.
func (s Secret) GoString() string { return "[redacted]" }

// MarshalText implements encoding.TextMarshaler without revealing the secret.
func (s Secret) MarshalText() ([]byte, error) { return []byte("[redacted]"), nil }

// DefaultEnvironment returns the default environment of s.
func (s *Snapshot) DefaultEnvironment() *Environment {
	for _, e := range s.Environments {
		if e.Default {
			return e
		}
	}
	return nil
}

// KeyPair is an HMAC key pair.
type KeyPair struct {
	// ID is the secret id.
	ID string
	// Secret is the secret key.
	Secret Secret
	// Plans the key pair is bound to.
	Plans []*UsagePlan
}

// UsagePlan binds key pairs to APIs with limits.
type UsagePlan struct {
	// Name of the plan.
	Name string
	// RatePerSecond per key pair; 0 means unlimited.
	RatePerSecond uint32
	// QuotaRequests per QuotaPeriod per key pair; 0 means none.
	QuotaRequests uint32
	// QuotaPeriod is "minute", "hour" or "day".
	QuotaPeriod string
	// Calendar is the plan's calendar quota per key pair (week, month, or
	// a day in a time zone), counted by the Check service; QuotaRequests
	// is then 0 (the rate limiter does not count it).
	Calendar *CalendarQuota
	// keys bound to the plan.
	keys map[string]struct{}
}

// NewUsagePlan returns a plan with the given key pair ids.
func NewUsagePlan(name string, rps, quota uint32, period string, keys []string) *UsagePlan {
	p := &UsagePlan{Name: name, RatePerSecond: rps, QuotaRequests: quota, QuotaPeriod: period, keys: map[string]struct{}{}}
	for _, k := range keys {
		p.keys[k] = struct{}{}
	}
	return p
}

// HasKey reports whether the key pair id is bound to the plan.
func (p *UsagePlan) HasKey(id string) bool {
	_, ok := p.keys[id]
	return ok
}

// TokenIssuer is a trusted token issuer.
type TokenIssuer struct {
	// Name of the issuer entry.
	Name string
	// Issuer is the expected iss claim.
	Issuer string
	// Audiences accepted (any); empty means not checked.
	Audiences []string
	// JWKSFile path.
	JWKSFile string
	// JWKSURL of the key set.
	JWKSURL string
	// Refresh interval.
	Refresh time.Duration
	// Leeway applied to exp, nbf and iat (may be 0).
	Leeway time.Duration
	// Algorithms allowed.
	Algorithms []string
	// AccountClaim, UserClaim, ProjectClaim name the identity claims.
	AccountClaim, UserClaim, ProjectClaim string
}

// ACLType is what an ACL policy tests.
type ACLType uint8

// ACL types.
const (
	ACLIP ACLType = iota + 1
	ACLAccount
)

// ACLPolicy is an access-control policy.
type ACLPolicy struct {
	// Name of the policy.
	Name string
	// Type of the values.
	Type ACLType
	// Allow is true for allow lists, false for deny lists.
	Allow bool
	// Values are addresses/CIDRs or account names.
	Values []string
}

// ThrottlePolicy limits request rates of an API.
type ThrottlePolicy struct {
	// Name of the policy.
	Name string
	// Unit is "second", "minute", "hour" or "day".
	Unit string
	// APILimit, UserLimit, AppLimit, IPLimit per unit; 0 means none.
	APILimit, UserLimit, AppLimit, IPLimit uint32
	// SpecialApps and SpecialUsers override AppLimit / UserLimit.
	SpecialApps, SpecialUsers map[string]uint32
}

// Authorizer is a custom authorizer endpoint.
type Authorizer struct {
	// Name of the authorizer.
	Name string
	// URL the identity is POSTed to.
	URL string
	// Timeout of one call.
	Timeout time.Duration
	// IdentityHeaders (lower case) sent to the authorizer.
	IdentityHeaders []string
	// CacheTTL of answers per identity source; 0 disables the cache.
	CacheTTL time.Duration
}
