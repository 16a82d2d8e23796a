package authz

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/apigwio/apigw/model"
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
}

type deploymentKey struct{ api, env string }

// deployment is an API published in an environment, with its precomputed
// upstream headers.
type deployment struct {
	api     *model.API
	env     string
	headers []*corev3.HeaderValueOption
}

// caller is an authenticated identity: an app or an IAM access key.
type caller struct {
	app       *model.App       // set for apps
	accessKey *model.AccessKey // set for IAM keys
	secret    []byte
	lockKey   string
	headers   []*corev3.HeaderValueOption
	metadata  *structpb.Struct
}

// Headers removed from allowed requests because the client must not choose
// them: for an app caller, the IAM identity headers, and the reverse. The
// headers the gateway sets are overwritten instead.
var (
	removeForApp  = []string{model.HeaderUserID, model.HeaderAccount, model.HeaderAccessKey}
	removeForIAM  = []string{model.HeaderAppID, model.HeaderAppKey}
	removeForNone = []string{model.HeaderAppID, model.HeaderAppKey, model.HeaderUserID, model.HeaderAccount, model.HeaderAccessKey}
)

func compile(snap *model.Snapshot) *tables {
	t := &tables{
		snap:        snap,
		deployments: make(map[deploymentKey]*deployment),
		apps:        make(map[string]*caller, len(snap.Apps)),
		accessKeys:  make(map[string]*caller, len(snap.AccessKeys)),
	}
	for _, api := range snap.APIs {
		for env := range api.Deployments {
			t.deployments[deploymentKey{api.ID, env}] = &deployment{
				api: api,
				env: env,
				headers: []*corev3.HeaderValueOption{
					setHeader(model.HeaderAPIID, api.ID),
					setHeader(model.HeaderStage, env),
				},
			}
		}
	}
	for key, app := range snap.Apps {
		t.apps[key] = &caller{
			app:     app,
			secret:  app.Secret.Bytes(),
			lockKey: "app:" + key,
			headers: []*corev3.HeaderValueOption{
				setHeader(model.HeaderAppID, app.Name),
				setHeader(model.HeaderAppKey, app.Key),
			},
			metadata: identityMetadata(map[string]string{"auth": "app", "app": app.Name}),
		}
	}
	for id, ak := range snap.AccessKeys {
		t.accessKeys[id] = &caller{
			accessKey: ak,
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
