package authz

import (
	"crypto/sha256"
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/apigwio/apigw/authz/acl"
	"github.com/apigwio/apigw/authz/keypair"
	"github.com/apigwio/apigw/internal/model"
)

// tables are the lookup structures the Check path uses, compiled once per
// snapshot so that a request allocates as little as possible: upstream
// headers and dynamic metadata that only depend on the caller or the API are
// built here and shared (read-only) by every response.
type tables struct {
	snap        *model.Snapshot
	deployments map[deploymentKey]*deployment
	apps        map[string]*caller
	accessKeys  map[string]*caller
	keyPairs    map[string]*caller
	appCodes    map[[32]byte]*appCodeEntry
	// certSubjects: client-certificate subject -> app (auth mtls).
	certSubjects map[string]*caller
	tokens       *tokenState // nil without token issuers
	// allow caches encoded allows (allowcache.go): *deployment -> *allowEntry.
	allow sync.Map
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
	removes    []string // identity headers removed upstream
	metadata   *structpb.Struct
	// plans holds, for a key pair, the caller as seen through each usage
	// plan it is bound to: the metadata then names the plan, whose rate
	// and quota the rate limiter counts per key.
	plans map[*model.UsagePlan]*caller
}

// withPlan returns the key-pair caller whose metadata names plan.
func (c *caller) withPlan(plan *model.UsagePlan) *caller {
	if pc := c.plans[plan]; pc != nil {
		return pc
	}
	return c
}

// callerHeaders are the identity headers each kind of caller sets upstream.
// Every other identity header a client sent is removed (the ones set are
// overwritten), so a client cannot forge an identity.
var (
	appHeaders     = []string{model.HeaderAppID, model.HeaderAppKey}
	iamHeaders     = []string{model.HeaderUserID, model.HeaderAccount, model.HeaderAccessKey}
	tokenHeaders   = []string{model.HeaderUserID, model.HeaderAccount, model.HeaderProjectID}
	keyPairHeaders = []string{model.HeaderKeyID}
	removeForApp   = without(model.IdentityHeaders, appHeaders, deploymentHeaders)
	removeForIAM   = without(model.IdentityHeaders, iamHeaders, deploymentHeaders)
	removeForToken = without(model.IdentityHeaders, tokenHeaders, deploymentHeaders)
	removeForKey   = without(model.IdentityHeaders, keyPairHeaders, deploymentHeaders)
	removeForNone  = without(model.IdentityHeaders, deploymentHeaders)
)

var deploymentHeaders = []string{model.HeaderAPIID, model.HeaderStage}

// without returns all minus the names in the other lists.
func without(all []string, minus ...[]string) []string {
	var out []string
outer:
	for _, h := range all {
		for _, m := range minus {
			for _, x := range m {
				if h == x {
					continue outer
				}
			}
		}
		out = append(out, h)
	}
	return out
}

func compile(snap *model.Snapshot, tokens *tokenState) *tables {
	aclCache := map[*model.ACLPolicy]*acl.Policy{}
	n := 0
	for _, api := range snap.APIs {
		n += len(api.Deployments)
	}
	t := &tables{
		tokens:      tokens,
		appCodes:    map[[32]byte]*appCodeEntry{},
		snap:        snap,
		deployments: make(map[deploymentKey]*deployment, n),
		apps:        make(map[string]*caller, len(snap.Apps)),
		accessKeys:  make(map[string]*caller, len(snap.AccessKeys)),
		keyPairs:    make(map[string]*caller, len(snap.KeyPairs)),
	}
	// The upstream headers are read-only: one stage header per
	// environment and one API header per API serve all deployments.
	stages := map[string]*corev3.HeaderValueOption{}
	deps := make([]deployment, n) // one allocation for all
	headers := make([]*corev3.HeaderValueOption, 2*n)
	for _, api := range snap.APIs {
		apiHeader := setHeader(model.HeaderAPIID, api.ID)
		for env, d := range api.Deployments {
			stage := stages[env]
			if stage == nil {
				stage = setHeader(model.HeaderStage, env)
				stages[env] = stage
			}
			i := len(deps) - n
			n--
			h := headers[2*i : 2*i+2 : 2*i+2]
			h[0], h[1] = apiHeader, stage
			dep := &deps[i]
			*dep = deployment{
				api: api,
				env: env,
				// Capacity = length: a response that adds headers appends
				// to a copy.
				headers: h,
				hmac:    keyPairPolicy(api.HMAC),
				plans:   d.UsagePlans,
				acls:    compileACLs(d.ACLs, aclCache),
				signer:  compileSigner(snap, api, d),
				params:  compileParams(snap, api, env),
			}
			t.deployments[deploymentKey{api.ID, env}] = dep
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
			removes:  removeForApp,
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
			removes:   removeForIAM,
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
			removes:  removeForKey,
			metadata: identityMetadata(map[string]string{"auth": "hmac", "key": id}),
			plans:    make(map[*model.UsagePlan]*caller, len(kp.Plans)),
		}
		for _, p := range kp.Plans {
			pc := *c
			pc.plans = nil
			pc.metadata = identityMetadata(map[string]string{"auth": "hmac", "key": id, "plan": p.Name})
			c.plans[p] = &pc
		}
		t.keyPairs[id] = c
	}
	return t
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
