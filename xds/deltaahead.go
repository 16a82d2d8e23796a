package xds

// Delta answers made ahead of go-control-plane, for the wildcard
// clusters and endpoints watches.
//
// go-control-plane's snapshot cache answers a delta watch by comparing
// every resource of the snapshot with the versions the client has
// (cache/v3 createDeltaResponse): for a wildcard watch it builds a map of
// every name (110,001 clusters at 100,000 APIs) on each change, once when
// SetSnapshot answers the open watch and once more when the client's ACK
// opens the next one — ~80-95 ms of CPU per change and per stream, on the
// path between a change and the route configuration reaching Envoy.
//
// Design. The relay (deltaversions.go) already sees every watch of a
// stream, with its request and subscription, and every response sent to
// it. It now also remembers, per stream and type, the version map the
// client was last given when that map is one whose content is known: the
// version map of a snapshot served through setSnapshot (ownedVersions:
// the map, by identity, and the number of that snapshot). Such a map is
//
//   - one the relay made itself (a copy of the snapshot's versions, a map
//     of the stream's own: go-control-plane changes the client's map in
//     place on an unsubscription), or
//   - go-control-plane's own next map, adopted once the relay checked it
//     holds exactly the served snapshot's versions (after a reconnection,
//     a subscription change, or any answer the relay did not make).
//
// A request that subscribes or unsubscribes anything forgets the stream's
// map (it may have been changed in place), so the remembered map is the
// client's map unchanged or not the client's map at all; the identity
// check tells which.
//
// A watch for clusters or endpoints that is wildcard, carries a nonce (so
// go-control-plane would not answer it with an empty response) and whose
// client map is the remembered one, for the snapshot served now, is
// "parked": go-control-plane never sees it (it would find nothing to
// send). setSnapshot, which serves each new snapshot in place of the
// cache's SetSnapshot, answers the parked watches before SetSnapshot runs
// (so the clusters still reach the stream before the routes that name
// them: the relay keeps the order of its input, TestRelayKeepsTypeOrder),
// from the names that may differ between the snapshot served and the new
// one (the server's list diffs and the draining clusters: aheadChanges):
// it sends those names whose version differs from the client's, and
// removes those the client has and the new snapshot has not — what
// createDeltaResponse would send, found without looking at the other
// names. A parked watch with nothing to send stays parked, its map now
// known as the new snapshot's. When the changes are not known (a list
// not diffed, a snapshot served by another path), the parked watches are
// handed back to go-control-plane first (CreateDeltaWatch against the
// snapshot still served: nothing to send, the watch waits), and
// SetSnapshot answers them as before.
//
// A watch whose client map is the one remembered for the snapshot served
// before the current one (a client that acknowledged late) is answered at
// once from the last changes, as go-control-plane would answer it at
// once. Every other watch (not wildcard, another type, a map not
// remembered, or remembered for an older snapshot) goes to
// go-control-plane as before. Equivalence is checked by TestAheadAsCache, which drives the
// same clients through the server and through go-control-plane alone and
// compares every response.

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// aheadTypes are the types answered ahead (the large wildcard ones).
var aheadTypes = map[string]bool{resourcev3.ClusterType: true, resourcev3.EndpointType: true}

// aheadChanges is how a snapshot differs from the one served before it
// (numbered from): by type URL, every name whose version may differ
// (present in one and not the other, or another version). A type absent
// is not known.
type aheadChanges struct {
	from  uint64
	names map[string][]string
}

// servedSnapshot is a snapshot served through setSnapshot and its number
// (0: none).
type servedSnapshot struct {
	gen  uint64
	snap cachev3.ResourceSnapshot
}

// ahead is the state of the answers made ahead, shared by a presetVersions
// and its relays.
type ahead struct {
	// mu orders setSnapshot, the creation of watches and their
	// cancellation; it guards the watches' inner, parked and closed.
	mu sync.Mutex
	// cur is the snapshot served last (read by the relays without mu).
	cur atomic.Pointer[servedSnapshot]
	// last are the changes from the snapshot served before cur to cur,
	// when they were known (nil otherwise); guarded by mu. A client
	// late to acknowledge cur's predecessor is answered from them.
	last *aheadChanges
}

// current returns the snapshot served last (gen 0: none).
func (a *ahead) current() servedSnapshot {
	if p := a.cur.Load(); p != nil {
		return *p
	}
	return servedSnapshot{}
}

// ownedVersions is a version map a stream's client was given whose
// content is the version map of the snapshot numbered gen for its type.
type ownedVersions struct {
	m   map[string]string
	gen uint64
}

// sameMap reports whether a and b are the same map (not only equal).
func sameMap(a, b map[string]string) bool {
	return a != nil && b != nil && reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// parkable reports whether go-control-plane would find nothing to send for
// the watch (req, sub) of r's stream against the snapshot numbered gen,
// and not answer it until the next one: a wildcard watch with a nonce
// whose client map is the one remembered, for that snapshot. r.owner.mu
// is held.
func (r *streamRelay) parkable(req *cachev3.DeltaRequest, sub cachev3.Subscription, gen uint64) bool {
	if gen == 0 || !aheadTypes[req.GetTypeUrl()] || !sub.IsWildcard() || req.GetResponseNonce() == "" ||
		len(req.GetResourceNamesSubscribe()) > 0 || len(req.GetResourceNamesUnsubscribe()) > 0 {
		return false
	}
	own, ok := r.owned[req.GetTypeUrl()]
	return ok && own.gen == gen && sameMap(own.m, sub.ReturnedResources())
}

// adopt remembers next, go-control-plane's next version map for a
// wildcard watch of typeURL, when it holds exactly the versions of the
// snapshot served last.
func (r *streamRelay) adopt(typeURL string, next map[string]string) {
	cur := r.ahead.current()
	if cur.gen == 0 || next == nil {
		return
	}
	versions := cur.snap.GetVersionMap(typeURL)
	if len(versions) != len(next) {
		return
	}
	for name, v := range next {
		if w, ok := versions[name]; !ok || w != v {
			return
		}
	}
	r.owner.mu.Lock()
	r.owned[typeURL] = ownedVersions{m: next, gen: cur.gen}
	r.owner.mu.Unlock()
}

// setSnapshot serves snap (the wrapped cache's SetSnapshot), answering the
// parked watches first from changes when they describe how snap differs
// from the snapshot served now (else they are handed back to the wrapped
// cache). It returns snap's number, for the next changes' from.
func (c presetVersions) setSnapshot(ctx context.Context, snap cachev3.ResourceSnapshot, changes *aheadChanges) (uint64, error) {
	a := c.ahead
	a.mu.Lock()
	defer a.mu.Unlock()
	prev := a.current()
	next := servedSnapshot{gen: prev.gen + 1, snap: snap}
	known := changes != nil && prev.gen != 0 && changes.from == prev.gen
	// The streams whose clusters watch was just handed back: SetSnapshot
	// answers it, so their endpoints are handed back too (parked lists
	// each stream's clusters first).
	var handedBack map[*streamRelay]bool
	for _, p := range c.relays.parked() {
		var names []string
		var ok bool
		if known && !p.behind && !handedBack[p.r] {
			names, ok = changes.names[p.w.req.GetTypeUrl()]
		}
		if !ok || !c.answer(p.r, p.w, prev, next, names) {
			c.unpark(p.r, p.w)
			if p.w.req.GetTypeUrl() == resourcev3.ClusterType {
				if handedBack == nil {
					handedBack = map[*streamRelay]bool{}
				}
				handedBack[p.r] = true
			}
		}
	}
	// next is current before SetSnapshot answers the watches waiting in
	// the wrapped cache: their relays adopt the maps of its responses
	// against it (adopt), which they may do before SetSnapshot returns.
	a.cur.Store(&next)
	err := c.snapshots.SetSnapshot(ctx, nodeKey, snap)
	a.last = nil
	if known {
		a.last = changes
	}
	return next.gen, err
}

// createAhead handles a watch (req, sub) of r's stream, w, as
// CreateDeltaWatch opens it: it is parked when go-control-plane would
// find nothing to send (parkable), or answered at once from the last
// changes when its client map is the one remembered for the snapshot
// served before the current one (a client late to acknowledge: go-
// control-plane would answer at once too). It reports false when the
// watch is for go-control-plane. ahead.mu and r.owner.mu are held; the
// latter is released on return.
func (c presetVersions) createAhead(r *streamRelay, w *relayedWatch, req *cachev3.DeltaRequest, sub cachev3.Subscription) bool {
	cur := c.ahead.current()
	if r.parkable(req, sub, cur.gen) {
		w.parked = true
		r.owner.mu.Unlock()
		return true
	}
	last := c.ahead.last
	late := last != nil && cur.gen > 1 && last.from == cur.gen-1 && r.parkable(req, sub, cur.gen-1)
	r.owner.mu.Unlock()
	if !late {
		return false
	}
	names, ok := last.names[req.GetTypeUrl()]
	if !ok {
		return false
	}
	w.parked = true
	if !c.answer(r, w, servedSnapshot{gen: cur.gen - 1}, cur, names) {
		w.parked = false
		return false
	}
	return true
}

// parkedWatch is a parked watch and its stream's relay. behind: the
// stream has a watch of a type ADS answers before w's (clusters before
// endpoints) waiting in the wrapped cache, which SetSnapshot answers;
// answering w ahead would overtake it, so w is handed back too.
type parkedWatch struct {
	r      *streamRelay
	w      *relayedWatch
	behind bool
}

// parked returns the parked watches, each stream's in the ADS type order
// (clusters, then endpoints). ahead.mu is held.
func (rs *streamRelays) parked() []parkedWatch {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	clear(rs.idle) // the streams closed since the last snapshot
	var out []parkedWatch
	for _, r := range rs.m {
		first := len(out)
		waiting := false // a clusters watch waits in the wrapped cache
		for _, w := range r.watches {
			if w.closed {
				continue
			}
			switch {
			case w.parked:
				out = append(out, parkedWatch{r: r, w: w})
			case w.inner != nil && w.req.GetTypeUrl() == resourcev3.ClusterType:
				waiting = true
			}
		}
		mine := out[first:]
		slices.SortFunc(mine, func(x, y parkedWatch) int {
			return typeRank(x.w.req.GetTypeUrl()) - typeRank(y.w.req.GetTypeUrl())
		})
		for i := range mine {
			mine[i].behind = waiting && mine[i].w.req.GetTypeUrl() != resourcev3.ClusterType
		}
	}
	return out
}

// typeRank orders the types answered ahead as ADS does.
func typeRank(typeURL string) int {
	if typeURL == resourcev3.ClusterType {
		return 0
	}
	return 1
}

// unpark hands w back to the wrapped cache, which compares it with the
// snapshot served now (and finds nothing to send: w was parkable for it).
// ahead.mu is held.
func (c presetVersions) unpark(r *streamRelay, w *relayedWatch) {
	w.parked = false
	cancel, err := c.Cache.CreateDeltaWatch(w.req, w.sub, r.in)
	if err != nil {
		// Cannot happen with a snapshot cache; the stream then waits for
		// its next request, as with a failed watch.
		return
	}
	w.inner = cancel
}

// answer answers the parked watch w of r's stream for the snapshot next,
// served after prev, from the names that may differ between them. It
// reports false when it cannot (w is then to be handed back): w's client
// map is no longer the one remembered for prev, or next's versions do not
// index its resources. w stays parked when it has nothing to send.
// ahead.mu is held.
func (c presetVersions) answer(r *streamRelay, w *relayedWatch, prev, next servedSnapshot, names []string) bool {
	typeURL := w.req.GetTypeUrl()
	r.owner.mu.Lock()
	own, ok := r.owned[typeURL]
	r.owner.mu.Unlock()
	returned := w.sub.ReturnedResources()
	if !ok || own.gen != prev.gen || !sameMap(own.m, returned) {
		return false
	}
	versions := next.snap.GetVersionMap(typeURL)
	resources := next.snap.GetResources(typeURL)
	if len(versions) != len(resources) {
		return false
	}
	var sent []*discoveryv3.Resource
	var removed []string
	seen := make(map[string]struct{}, len(names))
	for _, name := range names {
		if _, dup := seen[name]; dup {
			continue
		}
		seen[name] = struct{}{}
		had, hasOld := returned[name]
		res, ok := resources[name]
		if !ok {
			if hasOld {
				removed = append(removed, name)
			}
			continue
		}
		version, ok := versions[name]
		if !ok {
			return false
		}
		if hasOld && had == version {
			continue
		}
		b, err := c.encode(res)
		if err != nil {
			return false // go-control-plane reports it
		}
		sent = append(sent, &discoveryv3.Resource{Name: name, Resource: &anypb.Any{TypeUrl: typeURL, Value: b}, Version: version})
	}
	if len(sent) == 0 && len(removed) == 0 {
		// Nothing differs for this client: its map is also next's.
		r.owner.mu.Lock()
		r.owned[typeURL] = ownedVersions{m: returned, gen: next.gen}
		r.owner.mu.Unlock()
		return true
	}
	// The client's next map: a copy of its own (the snapshot's is
	// shared, and go-control-plane changes the client's in place).
	nextMap := maps.Clone(versions)
	r.owner.mu.Lock()
	r.owned[typeURL] = ownedVersions{m: nextMap, gen: next.gen}
	r.owner.mu.Unlock()
	w.parked = false
	resp := &aheadResponse{req: w.req, next: nextMap, resp: &discoveryv3.DeltaDiscoveryResponse{
		Resources:         sent,
		RemovedResources:  removed,
		TypeUrl:           typeURL,
		SystemVersionInfo: next.snap.GetVersion(typeURL),
	}}
	// One response per watch and at most one watch per type and stream
	// in flight: in has room (see join).
	r.in <- resp
	return true
}

// encode returns res's encoding: the one Prepare kept, or a marshal.
func (c presetVersions) encode(res types.Resource) ([]byte, error) {
	if c.encoded != nil {
		if b := c.encoded(res); b != nil {
			return b, nil
		}
	}
	return cachev3.MarshalResource(res)
}

// aheadResponse is a delta response made by answer.
type aheadResponse struct {
	req  *cachev3.DeltaRequest
	resp *discoveryv3.DeltaDiscoveryResponse
	next map[string]string
}

// GetDeltaDiscoveryResponse implements cachev3.DeltaResponse.
func (a *aheadResponse) GetDeltaDiscoveryResponse() (*discoveryv3.DeltaDiscoveryResponse, error) {
	return a.resp, nil
}

// GetDeltaRequest implements cachev3.DeltaResponse.
func (a *aheadResponse) GetDeltaRequest() *cachev3.DeltaRequest { return a.req }

// GetSystemVersion implements cachev3.DeltaResponse.
func (a *aheadResponse) GetSystemVersion() (string, error) { return a.resp.SystemVersionInfo, nil }

// GetResponseVersion implements cachev3.DeltaResponse.
func (a *aheadResponse) GetResponseVersion() string { return a.resp.SystemVersionInfo }

// GetNextVersionMap implements cachev3.DeltaResponse.
func (a *aheadResponse) GetNextVersionMap() map[string]string { return a.next }

// GetReturnedResources implements cachev3.DeltaResponse.
func (a *aheadResponse) GetReturnedResources() map[string]string { return a.next }

// GetContext implements cachev3.DeltaResponse.
func (a *aheadResponse) GetContext() context.Context { return context.Background() }
