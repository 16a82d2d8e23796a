package config

import (
	"maps"
	"os"
	"regexp"
	"time"

	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// Defaults and bounds of the settings (documented in docs/configuration.md).
const (
	DefaultGRPCAddress        = "127.0.0.1:18000"
	DefaultAdminAddress       = "127.0.0.1:18001"
	DefaultListenerAddress    = "0.0.0.0"
	DefaultListenerPort       = 10080
	DefaultEnvironment        = "RELEASE"
	DefaultClockSkew          = 15 * time.Minute
	DefaultMaxBodyBytes       = 12 << 20
	MinBodyBytes              = 1 << 20
	MaxBodyBytes              = 9536 << 20
	DefaultMaxURIBytes        = 32 << 10
	MinURIBytes               = 256
	MaxURIBytes               = 1 << 20
	DefaultLockoutFailures    = 5
	DefaultLockoutDuration    = 5 * time.Minute
	DefaultLockoutTrackedKeys = 100000
	DefaultBackendTimeout     = 5 * time.Second
	MaxBackendTimeout         = 60 * time.Second
	MaxRetries                = 10
	MinSecretBytes            = 8
	// DefaultBackendCAFile is the CA bundle https backends are verified
	// against by default.
	DefaultBackendCAFile = model.DefaultBackendCAFile
	MaxSecretBytes       = 4096
)

var (
	reGroupName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	reEnvName   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)
	reVarName   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)
	reKey       = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
	reHeader    = model.HeaderName
	reVarRef    = regexp.MustCompile(`#\{([^}#]*)\}#`)
)

var methods = map[string]bool{
	"GET": true, "POST": true, "PUT": true, "DELETE": true, "PATCH": true, "HEAD": true, "OPTIONS": true, model.MethodAny: true,
}

// builder turns a schema message into a Snapshot, collecting problems.
type builder struct {
	opts             Options
	issuerNames      map[string]bool
	authorizerByName map[string]*model.Authorizer
	appCodes         map[string]string // code -> path of the app that has it
	ps               problems
	snap             *model.Snapshot
	envs             map[string]*model.Environment
	secrets          [][]byte
	// digests are the group and API digests, in declaration order;
	// reuse holds models of a previous snapshot's groups by digest (and
	// so, by group name, those of its APIs).
	digests digests
	// allowEmpty accepts a configuration without groups.
	allowEmpty bool
	reuse      map[string]*model.Group
	// later are the later variants of each API id (model.API.Variant not
	// empty), in declaration order: an API's definitions are its entry in
	// snap.APIs followed by these (see definitions).
	later map[string][]*model.API
	// baseAPIs says snap.APIs started as a copy of the previous snapshot's
	// APIs (see baseAPIs): a shared API of a group reused whole is there
	// already.
	baseAPIs bool
	// apiCount counts the APIs added without a variant (APICount).
	apiCount int
	// apiURLs are the backend URLs parsed for the API being built (see
	// parseURL).
	apiURLs []parsedURL
	// sharedAPIs are the APIs of the previous snapshot this one shares
	// (see shareable); sharedDeps maps their deployments to them and
	// owned a shared deployment to its copy, once own needed them.
	sharedAPIs []*model.API
	sharedDeps map[*model.Deployment]*model.API
	owned      map[*model.Deployment]*model.Deployment
	// certSubjects maps a client-certificate subject to the app that
	// claims it (apps[].client_certificate_subjects).
	certSubjects map[string]string
}

// Build validates gw and resolves it into a Snapshot. source names the
// configuration in error messages.
func Build(source string, gw *configv1.Gateway, opts Options) (*model.Snapshot, error) {
	return build(source, gw, opts, nil, nil, nil)
}

// build is Build reusing, for each group whose digest is a key of reuse,
// that model (a previous snapshot's group: copied, never changed), and in
// any other group, the model of each API whose digest is that of an API
// of reuse's group of the same name. prevAPIs, when not nil, is the APIs
// map of the snapshot whose groups reuse holds (see baseAPIs). digest
// computes the digests (nil: groupDigests).
func build(source string, gw *configv1.Gateway, opts Options, reuse map[string]*model.Group, prevAPIs map[string]*model.API, digest func(*configv1.Gateway) digests) (*model.Snapshot, error) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = os.LookupEnv
	}
	if opts.ReadFile == nil {
		opts.ReadFile = os.ReadFile
	}
	apis := 0
	for _, g := range gw.GetGroups() {
		apis += len(g.GetApis())
	}
	b := &builder{opts: opts, later: map[string][]*model.API{}, snap: &model.Snapshot{
		Channels:         map[string]*model.Channel{},
		Apps:             map[string]*model.App{},
		AccessKeys:       map[string]*model.AccessKey{},
		KeyPairs:         map[string]*model.KeyPair{},
		ACLPolicies:      map[string]*model.ACLPolicy{},
		ThrottlePolicies: map[string]*model.ThrottlePolicy{},
	}}
	if digest == nil {
		digest = groupDigests
	}
	b.digests = digest(gw)
	b.reuse = reuse
	b.snap.APIs, b.baseAPIs = baseAPIs(reuse, prevAPIs, b.digests.groups, apis)
	b.allowEmpty = gw.GetAllowEmpty()
	b.server(gw.GetServer())
	b.listener(gw.GetListener())
	b.settings(gw.GetSettings())
	b.environments(gw.GetEnvironments())
	b.channels(gw.GetChannels())
	b.tokenIssuers(gw.GetTokenIssuers())
	b.authorizers(gw.GetAuthorizers())
	b.gatewayResponses(gw.GetGatewayResponses())
	b.groups(gw.GetGroups())
	b.mtlsAPIs()
	b.apps(gw.GetApps())
	b.iamUsers(gw.GetIamUsers())
	b.keyPairs(gw.GetKeyPairs(), gw.GetUsagePlans())
	b.aclPolicies(gw.GetAclPolicies())
	b.throttlePolicies(gw.GetThrottlePolicies())
	b.signatureKeys(gw.GetSignatureKeys())
	if err := b.ps.err(source); err != nil {
		return nil, err
	}
	b.snap.Version = version(b.digests.shared, b.digests.groups, b.secrets)
	b.snap.SetAPICount(b.apiCount)
	return b.snap, nil
}

// baseAPIs returns the map a snapshot's APIs start from, and whether it
// holds APIs already: a copy of prev, the APIs of the snapshot whose
// groups reuse holds, without those of the groups that are not reused
// whole (whose digest is not one of groups, this configuration's group
// digests): copying a map is a fraction of inserting its entries one by
// one. Else (no previous APIs, or no group reused whole) an empty map
// sized for n APIs.
func baseAPIs(reuse map[string]*model.Group, prev map[string]*model.API, groups []string, n int) (map[string]*model.API, bool) {
	kept := 0
	if prev != nil {
		for _, d := range groups {
			if reuse[d] != nil {
				kept++
			}
		}
	}
	if kept == 0 {
		// Sized once: a large configuration's map would otherwise grow
		// (and rehash) a dozen times.
		return make(map[string]*model.API, n), false
	}
	current := make(map[string]bool, len(groups))
	for _, d := range groups {
		current[d] = true
	}
	apis := maps.Clone(prev)
	for d, g := range reuse {
		if current[d] {
			continue
		}
		for _, a := range g.APIs {
			delete(apis, a.Key())
		}
	}
	return apis, true
}
