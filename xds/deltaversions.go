package xds

import (
	"sync"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// presetVersions is a cache whose delta responses carry the resource
// versions of the snapshot's VersionMap — the hashes Publish computed
// while validating (validate.go) — as go-control-plane already uses them
// to decide what changed. Its own responses (v0.14.0,
// RawDeltaResponse.GetDeltaDiscoveryResponse) ignore them and marshal and
// SHA-256-hash every resource sent, on every delivery to every node: for
// the one route configuration of 10,000 APIs that is a hash of ~10 MB
// (~16 ms on the 2-core machine of docs/performance.md) per change and per
// Envoy. Everything else — which resources to send or remove, the
// subscription rules, the state-of-the-world side — is the wrapped
// cache's.
type presetVersions struct {
	cachev3.Cache
	// encoded returns the encoding of a resource of the snapshots served,
	// if it is known (nil otherwise): the served route configuration's,
	// which is sent as it is instead of being marshalled (copied) again.
	encoded func(proto.Message) []byte
}

// CreateDeltaWatch opens the wrapped cache's watch and relays its one
// response as a presetResponse. The relay ends with the response or the
// watch's cancellation; after cancel returns nothing more is sent to out
// (a response computed for a cancelled watch is dropped: the next watch
// compares the subscription with the snapshot again, as the wrapped
// cache does for a response it never sent).
func (c presetVersions) CreateDeltaWatch(req *cachev3.DeltaRequest, sub cachev3.Subscription, out chan cachev3.DeltaResponse) (func(), error) {
	in := make(chan cachev3.DeltaResponse, 1)
	cancel, err := c.Cache.CreateDeltaWatch(req, sub, in)
	if err != nil {
		return nil, err
	}
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case r := <-in:
			r = withPresetVersions(r, sub, c.encoded)
			select {
			case out <- r:
			case <-done:
			}
		case <-done:
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			if cancel != nil {
				cancel()
			}
			close(done)
			<-exited
		})
	}, nil
}

// presetResponse is a delta response built once, with the preset
// versions.
type presetResponse struct {
	cachev3.DeltaResponse
	resp *discoveryv3.DeltaDiscoveryResponse
}

// GetDeltaDiscoveryResponse returns the response built by
// withPresetVersions.
func (p *presetResponse) GetDeltaDiscoveryResponse() (*discoveryv3.DeltaDiscoveryResponse, error) {
	return p.resp, nil
}

// withPresetVersions builds r's DeltaDiscoveryResponse with the versions r
// records for the client (the snapshot's VersionMap), for the watch of
// sub. r is returned as it is when it is not go-control-plane's raw
// response, when a resource has no preset version or does not marshal
// (its own GetDeltaDiscoveryResponse then hashes, or reports the error).
//
// A resource whose encoding encoded knows is sent as that encoding (the
// same bytes as MarshalResource's, read-only); encoded may be nil.
func withPresetVersions(r cachev3.DeltaResponse, sub cachev3.Subscription, encoded func(proto.Message) []byte) cachev3.DeltaResponse {
	raw, ok := r.(*cachev3.RawDeltaResponse)
	if !ok {
		return r
	}
	next := raw.GetReturnedResources()
	typeURL := raw.GetDeltaRequest().GetTypeUrl()
	list := raw.GetRawResources()
	resources := make([]*discoveryv3.Resource, 0, len(list))
	wildcard, returned := sub.IsWildcard(), sub.ReturnedResources()
	// fresh counts the resources sent that the client never had.
	fresh := 0
	for _, res := range list {
		name := cachev3.GetResourceName(res.Resource)
		version := next[name]
		if version == "" {
			return r
		}
		if _, had := returned[name]; !had {
			fresh++
		}
		var b []byte
		if encoded != nil {
			b = encoded(res.Resource)
		}
		if b == nil {
			var err error
			if b, err = cachev3.MarshalResource(res.Resource); err != nil {
				return r
			}
		}
		resources = append(resources, &discoveryv3.Resource{
			Name:     name,
			Resource: &anypb.Any{TypeUrl: typeURL, Value: b},
			Version:  version,
		})
	}
	// What the wrapped cache removes (cache/v3 createDeltaResponse): the
	// resources the client has and the snapshot no longer holds, among
	// those it subscribes to (all, for a wildcard subscription).
	//
	// For a wildcard subscription next holds every resource, and each one
	// the client does not have is sent (fresh), so the client has
	// len(next)-fresh of next's: when that is all it has, nothing is
	// removed, and its ~110,000 clusters at 100,000 APIs are not looked up
	// one by one.
	var removed []string
	subscribed := sub.SubscribedResources()
	if wildcard && len(returned) == len(next)-fresh {
		returned = nil
	}
	for name := range returned {
		if _, kept := next[name]; kept {
			continue
		}
		if _, ok := subscribed[name]; wildcard || ok {
			removed = append(removed, name)
		}
	}
	return &presetResponse{DeltaResponse: r, resp: &discoveryv3.DeltaDiscoveryResponse{
		Resources:         resources,
		RemovedResources:  removed,
		TypeUrl:           typeURL,
		SystemVersionInfo: raw.SystemVersionInfo,
	}}
}
