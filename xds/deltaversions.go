package xds

import (
	"sync"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"

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
	// snapshots is the wrapped cache, which setSnapshot serves
	// (deltaahead.go).
	snapshots cachev3.SnapshotCache
	// ahead is the state of the answers made ahead (deltaahead.go).
	ahead *ahead
	// encoded returns the encoding of a resource of the snapshots served,
	// if it is known (nil otherwise): the served route configuration's,
	// which is sent as it is instead of being marshalled (copied) again.
	encoded func(proto.Message) []byte
	// relays are the streams' relays, by the stream's response channel.
	relays *streamRelays
}

// newPresetVersions wraps cache.
func newPresetVersions(cache cachev3.SnapshotCache, encoded func(proto.Message) []byte) presetVersions {
	a := &ahead{}
	return presetVersions{Cache: cache, snapshots: cache, ahead: a, encoded: encoded,
		relays: &streamRelays{ahead: a, m: map[chan cachev3.DeltaResponse]*streamRelay{}, idle: map[chan cachev3.DeltaResponse]idleOwned{}}}
}

// CreateDeltaWatch opens the wrapped cache's watch and relays its response
// as a presetResponse. All the watches of a stream (one response channel
// out) answer into one channel of the stream's relay, in the order the
// wrapped cache answers them: with ADS, by type (clusters before
// endpoints, listeners and routes), so that Envoy has a new cluster before
// the route that names it (TestRelayKeepsTypeOrder). After cancel returns,
// nothing more of this watch is sent to out (a response computed for a
// cancelled watch is dropped: the next watch compares the subscription
// with the snapshot again, as the wrapped cache does for a response it
// never sent). A watch that the wrapped cache would leave waiting for the
// next snapshot, with nothing to send, is parked instead, and answered by
// setSnapshot (deltaahead.go).
func (c presetVersions) CreateDeltaWatch(req *cachev3.DeltaRequest, sub cachev3.Subscription, out chan cachev3.DeltaResponse) (func(), error) {
	c.ahead.mu.Lock()
	defer c.ahead.mu.Unlock()
	r, w := c.relays.join(out, req, sub, c.encoded)
	cancel := func() {
		c.ahead.mu.Lock()
		w.closed = true
		if w.inner != nil {
			w.inner() // the wrapped cache sends nothing more for it
			w.inner = nil
		}
		c.ahead.mu.Unlock()
		r.leave(w)
	}
	r.owner.mu.Lock()
	if len(req.GetResourceNamesSubscribe()) > 0 || len(req.GetResourceNamesUnsubscribe()) > 0 {
		// The client's map may have been changed in place.
		delete(r.owned, req.GetTypeUrl())
	}
	if !c.createAhead(r, w, req, sub) {
		inner, err := c.Cache.CreateDeltaWatch(req, sub, r.in)
		if err != nil {
			r.leave(w)
			return nil, err
		}
		w.inner = inner
	}
	var once sync.Once
	return func() { once.Do(cancel) }, nil
}

// streamRelays are the relays of the open streams.
type streamRelays struct {
	ahead *ahead
	mu    sync.Mutex
	m     map[chan cachev3.DeltaResponse]*streamRelay
	// idle are the owned maps of the streams whose last watch was
	// cancelled, by response channel: the delta server cancels a
	// stream's watch before it opens the next one, so a stream with one
	// watch has no relay in between. The next watch of the stream takes
	// them back; setSnapshot forgets the others (streams closed), and
	// so does leave beyond maxIdleRelays, the oldest first: nothing
	// tells a closed stream from one between two watches, and streams
	// that close while no snapshot is served must not pile up (each
	// map has every cluster's version). idleSeq numbers the entries.
	idle    map[chan cachev3.DeltaResponse]idleOwned
	idleSeq uint64
}

// maxIdleRelays is how many streams' owned maps idle keeps at most: a
// stream is there only between the cancellation of its one watch and the
// opening of the next, one call after the other in the delta server's
// goroutine of the stream; one forgotten goes to go-control-plane once.
const maxIdleRelays = 16

// idleOwned are a stream's owned maps kept in streamRelays.idle, and
// their order of arrival.
type idleOwned struct {
	owned map[string]ownedVersions
	seq   uint64
}

// streamRelay forwards the delta responses of one stream's watches from
// in to out, in order, each rebuilt with the preset versions. It runs
// while the stream has watches.
type streamRelay struct {
	owner   *streamRelays
	ahead   *ahead
	out     chan cachev3.DeltaResponse
	in      chan cachev3.DeltaResponse
	encoded func(proto.Message) []byte
	// watches are the stream's open watches, by their request (the
	// wrapped cache's responses carry it); guarded by owner.mu.
	watches map[*cachev3.DeltaRequest]*relayedWatch
	// owned are the version maps of known content the stream's client
	// was given last, by type URL (deltaahead.go); guarded by owner.mu.
	owned map[string]ownedVersions
	stop  chan struct{}
}

// relayedWatch is one open watch of a stream.
type relayedWatch struct {
	req *cachev3.DeltaRequest
	sub cachev3.Subscription
	// done is closed by cancel, which then sets cancelled under sending
	// (held while the watch's response is built and offered to out):
	// nothing of the watch is sent, nor its subscription read, once
	// cancel returned, and cancel waits for no other watch's response.
	done      chan struct{}
	sending   sync.Mutex
	cancelled bool
	// inner cancels the wrapped cache's watch (nil: none, or it
	// answered at once); parked: the wrapped cache has no watch, and
	// setSnapshot answers it or hands it back; closed: cancelled.
	// Guarded by the presetVersions' ahead.mu.
	inner          func()
	parked, closed bool
}

// join adds a watch (req, sub) to out's relay, starting the relay if out
// has none.
func (rs *streamRelays) join(out chan cachev3.DeltaResponse, req *cachev3.DeltaRequest, sub cachev3.Subscription, encoded func(proto.Message) []byte) (*streamRelay, *relayedWatch) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	r := rs.m[out]
	if r == nil {
		// One response per watch at most, and a stream has at most one
		// watch per type: the wrapped cache never waits on in.
		owned := rs.idle[out].owned
		if owned == nil {
			owned = map[string]ownedVersions{}
		}
		delete(rs.idle, out)
		r = &streamRelay{owner: rs, ahead: rs.ahead, out: out, in: make(chan cachev3.DeltaResponse, 2*int(types.UnknownType)), encoded: encoded,
			watches: map[*cachev3.DeltaRequest]*relayedWatch{}, owned: owned, stop: make(chan struct{})}
		rs.m[out] = r
		go r.run()
	}
	w := &relayedWatch{req: req, sub: sub, done: make(chan struct{})}
	r.watches[req] = w
	return r, w
}

// leave removes w from r once its watch is cancelled: after it returns,
// nothing of w is sent. The relay stops with the stream's last watch.
func (r *streamRelay) leave(w *relayedWatch) {
	close(w.done) // ends an offer of w's response to out
	w.sending.Lock()
	w.cancelled = true
	w.sending.Unlock()
	r.owner.mu.Lock()
	defer r.owner.mu.Unlock()
	delete(r.watches, w.req)
	if len(r.watches) == 0 && r.owner.m[r.out] == r {
		delete(r.owner.m, r.out)
		close(r.stop)
		if len(r.owned) > 0 {
			r.owner.keepIdle(r.out, r.owned)
		}
	}
}

// keepIdle keeps owned, the owned maps of out's stream, in idle,
// forgetting the oldest entry beyond maxIdleRelays. rs.mu is held.
func (rs *streamRelays) keepIdle(out chan cachev3.DeltaResponse, owned map[string]ownedVersions) {
	if len(rs.idle) >= maxIdleRelays {
		var oldest chan cachev3.DeltaResponse
		var seq uint64
		for ch, e := range rs.idle {
			if oldest == nil || e.seq < seq {
				oldest, seq = ch, e.seq
			}
		}
		delete(rs.idle, oldest)
	}
	rs.idleSeq++
	rs.idle[out] = idleOwned{owned: owned, seq: rs.idleSeq}
}

// run forwards in to out until stop.
func (r *streamRelay) run() {
	for {
		select {
		case resp := <-r.in:
			r.owner.mu.Lock()
			w := r.watches[resp.GetDeltaRequest()]
			r.owner.mu.Unlock()
			if w == nil {
				continue // its watch was cancelled
			}
			// Built under sending: once cancel returns, the delta server
			// changes the subscription's maps in place (the next
			// request's names), which withPresetVersions reads.
			w.sending.Lock()
			if !w.cancelled {
				if raw, ok := resp.(*cachev3.RawDeltaResponse); ok && aheadTypes[raw.GetDeltaRequest().GetTypeUrl()] && w.sub.IsWildcard() {
					r.adopt(raw.GetDeltaRequest().GetTypeUrl(), raw.GetReturnedResources())
				}
				resp = withPresetVersions(resp, w.sub, r.encoded)
				select {
				case r.out <- resp:
				case <-w.done:
				case <-r.stop:
				}
			}
			w.sending.Unlock()
		case <-r.stop:
			return
		}
	}
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
