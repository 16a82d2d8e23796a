package authz

import (
	"bytes"
	"crypto/sha256"
	"strings"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/apigwio/apigw/authz/acl"
	"github.com/apigwio/apigw/authz/keypair"
	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/ratelimit/throttle"
)

// tables are the lookup structures the Check path uses, compiled once per
// snapshot so that a request allocates as little as possible: upstream
// headers and dynamic metadata that only depend on the caller or the API are
// built here and shared (read-only) by every response.
//
// The deployments are compiled per group (groupTables): a reload reuses the
// compiled group of the tables it replaces when the group's digest is
// unchanged (see compileReusing), so its cost follows the groups changed.
// The callers (apps, IAM keys, key pairs) are compiled whole each time.
type tables struct {
	snap *model.Snapshot
	// groups holds the compiled deployments by the group part of their
	// API ids (groupOfID).
	groups map[string]*groupTables
	// parts are the groups' compiled deployments, in the snapshot's group
	// order.
	parts      []*groupTables
	apps       map[string]*caller
	accessKeys map[string]*caller
	keyPairs   map[string]*caller
	appCodes   map[[32]byte]*appCodeEntry
	// certSubjects: client-certificate subject -> app (auth mtls).
	certSubjects map[string]*caller
	tokens       *tokenState // nil without token issuers
	// allow caches encoded allows (allowcache.go): *deployment -> *allowEntry.
	allow sync.Map
}

// groupTables are the compiled deployments of one group. They are never
// changed once compiled: tables of later snapshots share them while the
// group's digest (and its signature keys) stay the same, so their
// deployments may refer to the API models of an earlier, equal snapshot.
type groupTables struct {
	// digest is the group's model.Group.Digest ("" : never reused).
	digest string
	// name is the group part of the ids of the APIs (groupOfID).
	name        string
	deployments map[deploymentKey]*deployment
	// signed lists the deployments bound to a signature key, with the key
	// they were compiled with: a key's secret (from a file or variable)
	// is not part of the digest, so reuse compares it.
	signed []signedDeployment
}

// signedDeployment is a deployment with the signature key its model had
// when it was compiled.
type signedDeployment struct {
	apiKey, env string
	key         *model.SignatureKey
}

// deployment returns the deployment of k, nil when t has none.
func (t *tables) deployment(k deploymentKey) *deployment {
	g := t.groups[groupOfID(k.api)]
	if g == nil {
		return nil
	}
	return g.deployments[k]
}

// groupOfID is the group part of an API id ("<group>/<name>"): the id up to
// its first slash (the whole id without one).
func groupOfID(id string) string {
	if i := strings.IndexByte(id, '/'); i >= 0 {
		return id[:i]
	}
	return id
}

type deploymentKey struct{ api, env string }

// deployment is an API published in an environment, with its precomputed
// upstream headers.
type deployment struct {
	api     *model.API
	env     string
	headers []*corev3.HeaderValueOption
	hmac    keypair.Policy     // auth hmac
	plans   []*model.UsagePlan // auth hmac: plans bound here
	acls    *acl.Set           // nil without ACL policies
	signer  *upstreamSigner    // nil without a signature key
	params  *paramPlan         // nil without parameters
	// metadata: allows publish the caller identity as dynamic metadata
	// (the deployment's rate-limit descriptors read it, or
	// settings.identity_metadata is always).
	metadata bool
}

// caller is an authenticated identity: an app or an IAM access key.
type caller struct {
	app        *model.App       // set for apps
	accessKey  *model.AccessKey // set for IAM keys
	keyPair    *model.KeyPair   // set for HMAC key pairs
	account    string           // for account ACLs
	secret     []byte
	lockKey    string
	trustedIPs *acl.IPList // apps: where the app may call from (nil: anywhere)
	headers    []*corev3.HeaderValueOption
	metadata   *structpb.Struct
	// plans holds, for a key pair, the caller as seen through each usage
	// plan it is bound to: the metadata then names the plan, whose rate
	// and quota the rate limiter counts per key.
	// Keyed by plan name: a reused deployment's plans are those of the
	// (equal) snapshot it was compiled from.
	plans map[string]*caller
}

// withPlan returns the key-pair caller whose metadata names plan.
func (c *caller) withPlan(plan *model.UsagePlan) *caller {
	if pc := c.plans[plan.Name]; pc != nil {
		return pc
	}
	return c
}

// compile builds the tables of snap from scratch.
func compile(snap *model.Snapshot, tokens *tokenState) *tables {
	return compileReusing(snap, tokens, nil)
}

// compileReusing builds the tables of snap, taking the compiled deployments
// of each group whose digest (and signature keys) prev also has from prev
// instead of compiling them again. The result answers every request as
// compile(snap, tokens) does.
func compileReusing(snap *model.Snapshot, tokens *tokenState, prev *tables) *tables {
	t := &tables{
		tokens:     tokens,
		appCodes:   map[[32]byte]*appCodeEntry{},
		snap:       snap,
		apps:       make(map[string]*caller, len(snap.Apps)),
		accessKeys: make(map[string]*caller, len(snap.AccessKeys)),
		keyPairs:   make(map[string]*caller, len(snap.KeyPairs)),
	}
	c := &deploymentCompiler{snap: snap, acls: map[*model.ACLPolicy]*acl.Policy{}, stages: map[string]*corev3.HeaderValueOption{}}
	if parts := c.groups(prev); parts != nil {
		t.parts = parts
		t.groups = make(map[string]*groupTables, len(parts))
		for _, p := range parts {
			t.groups[p.name] = p
		}
	} else {
		// A snapshot not built by config (tests): its APIs, by the group
		// part of their ids, never reused.
		byGroup := map[string][]*model.API{}
		var names []string
		for _, api := range snap.APIs {
			n := groupOfID(api.ID)
			if byGroup[n] == nil {
				names = append(names, n)
			}
			byGroup[n] = append(byGroup[n], api)
		}
		t.groups = make(map[string]*groupTables, len(names))
		for _, n := range names {
			p := c.group(n, "", byGroup[n])
			t.parts = append(t.parts, p)
			t.groups[n] = p
		}
	}
	for key, app := range snap.Apps {
		c := &caller{
			app:        app,
			secret:     app.Secret.Bytes(),
			lockKey:    "app:" + key,
			trustedIPs: compileTrustedIPs(app.TrustedIPs),
			headers: []*corev3.HeaderValueOption{
				setHeader(model.HeaderAppID, app.Name),
				setHeader(model.HeaderAppKey, app.Key),
			},
			metadata: identityMetadata(map[string]string{"auth": "app", "app": app.Name}),
		}
		t.apps[key] = c
		for _, code := range app.Codes {
			t.appCodes[sha256.Sum256(code.Bytes())] = &appCodeEntry{code: code.Bytes(), caller: c}
		}
	}
	t.certSubjects = certSubjectCallers(snap, t.apps)
	for id, ak := range snap.AccessKeys {
		t.accessKeys[id] = &caller{
			accessKey: ak,
			account:   ak.Account,
			secret:    ak.Secret.Bytes(),
			lockKey:   "iam:" + id,
			headers: []*corev3.HeaderValueOption{
				setHeader(model.HeaderUserID, ak.User),
				setHeader(model.HeaderAccount, ak.Account),
				setHeader(model.HeaderAccessKey, ak.ID),
			},
			metadata: identityMetadata(map[string]string{"auth": "iam", "account": ak.Account, "user": ak.Account + "/" + ak.User}),
		}
	}
	for id, kp := range snap.KeyPairs {
		c := &caller{
			keyPair:  kp,
			secret:   kp.Secret.Bytes(),
			lockKey:  "hmac:" + id,
			headers:  []*corev3.HeaderValueOption{setHeader(model.HeaderKeyID, id)},
			metadata: identityMetadata(map[string]string{"auth": "hmac", "key": id}),
			plans:    make(map[string]*caller, len(kp.Plans)),
		}
		for _, p := range kp.Plans {
			pc := *c
			pc.plans = nil
			pc.metadata = identityMetadata(map[string]string{"auth": "hmac", "key": id, "plan": p.Name})
			c.plans[p.Name] = &pc
		}
		t.keyPairs[id] = c
	}
	return t
}

// groups returns the compiled deployments of the snapshot's groups, in
// order: prev's for each group whose digest, name and signature keys are
// unchanged, compiled for the others. It returns nil unless the groups hold
// every API of snap.APIs, each under a group named by the group part of
// its id (as config builds snapshots). A reused group's APIs are not
// checked again (equal digests, equal APIs), nor are a group with a
// digest's looked up in snap.APIs one by one: config adds them all, and
// the counts are compared.
func (c *deploymentCompiler) groups(prev *tables) []*groupTables {
	snap := c.snap
	n := 0
	for _, g := range snap.Groups {
		n += len(g.APIs)
	}
	if n != len(snap.APIs) {
		return nil
	}
	var reusable map[string]*groupTables
	if prev != nil {
		reusable = make(map[string]*groupTables, len(prev.parts))
		for _, p := range prev.parts {
			if p.digest != "" {
				reusable[p.digest] = p
			}
		}
	}
	names := make(map[string]bool, len(snap.Groups))
	parts := make([]*groupTables, 0, len(snap.Groups))
	for _, g := range snap.Groups {
		if names[g.Name] {
			return nil
		}
		names[g.Name] = true
		p := reusable[g.Digest]
		if p == nil || p.name != g.Name || !signedCurrent(snap, p) {
			for _, api := range g.APIs {
				if !hasGroupPrefix(api.ID, g.Name) || g.Digest == "" && snap.APIs[api.Key()] != api {
					return nil
				}
			}
			p = c.group(g.Name, g.Digest, g.APIs)
		}
		parts = append(parts, p)
	}
	return parts
}

// hasGroupPrefix reports whether id is "<group>/<something>".
func hasGroupPrefix(id, group string) bool {
	return len(id) > len(group) && id[len(group)] == '/' && id[:len(group)] == group && strings.IndexByte(group, '/') < 0
}

// signedCurrent reports whether the signature keys p was compiled with are
// those snap binds to the same deployments, secrets included.
func signedCurrent(snap *model.Snapshot, p *groupTables) bool {
	for _, s := range p.signed {
		api := snap.APIs[s.apiKey]
		if api == nil {
			return false
		}
		d := api.Deployments[s.env]
		if d == nil || !sameSignatureKey(d.SignatureKey, s.key) {
			return false
		}
	}
	return true
}

// sameSignatureKey reports whether a and b are equal keys.
func sameSignatureKey(a, b *model.SignatureKey) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Name == b.Name && a.Type == b.Type && a.Key == b.Key && bytes.Equal(a.Secret.Bytes(), b.Secret.Bytes())
}

// deploymentCompiler compiles the deployments of one snapshot's groups,
// sharing what they have in common (compiled ACL policies, stage headers).
type deploymentCompiler struct {
	snap   *model.Snapshot
	acls   map[*model.ACLPolicy]*acl.Policy
	stages map[string]*corev3.HeaderValueOption
}

// group compiles the deployments of apis, the APIs of group name.
func (c *deploymentCompiler) group(name, digest string, apis []*model.API) *groupTables {
	n := 0
	for _, api := range apis {
		n += len(api.Deployments)
	}
	p := &groupTables{digest: digest, name: name, deployments: make(map[deploymentKey]*deployment, n)}
	// The upstream headers are read-only: one stage header per
	// environment and one API header per API serve all deployments.
	deps := make([]deployment, n) // one allocation for all
	headers := make([]*corev3.HeaderValueOption, 2*n)
	i := 0
	for _, api := range apis {
		apiHeader := setHeader(model.HeaderAPIID, api.ID)
		for env, d := range api.Deployments {
			stage := c.stages[env]
			if stage == nil {
				stage = setHeader(model.HeaderStage, env)
				c.stages[env] = stage
			}
			h := headers[2*i : 2*i+2 : 2*i+2]
			h[0], h[1] = apiHeader, stage
			dep := &deps[i]
			i++
			*dep = deployment{
				api: api,
				env: env,
				// Capacity = length: a response that adds headers appends
				// to a copy.
				headers: h,
				hmac:    keyPairPolicy(api.HMAC),
				plans:   d.UsagePlans,
				acls:    compileACLs(d.ACLs, c.acls),
				signer:  compileSigner(c.snap, api, d),
				params:  compileParams(c.snap, api, env),
				// The group's digest covers the settings, throttle
				// policies and usage plans this depends on.
				metadata: c.snap.Settings.IdentityMetadataAlways || throttle.ReadsMetadata(c.snap, api, env),
			}
			if d.SignatureKey != nil {
				p.signed = append(p.signed, signedDeployment{apiKey: api.Key(), env: env, key: d.SignatureKey})
			}
			p.deployments[deploymentKey{api.ID, env}] = dep
		}
	}
	return p
}

func setHeader(k, v string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: k, Value: v},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

// identityMetadata is the dynamic metadata published for rate limiting
// (namespace envoy.filters.http.ext_authz).
func identityMetadata(fields map[string]string) *structpb.Struct {
	s := &structpb.Struct{Fields: make(map[string]*structpb.Value, len(fields))}
	for k, v := range fields {
		s.Fields[k] = structpb.NewStringValue(v)
	}
	return s
}

var anonymousMetadata = identityMetadata(map[string]string{"auth": "none"})
