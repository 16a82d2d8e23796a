package xds

// Per-list (not per-resource) bookkeeping of the resources other than
// route configurations: at 100,000 APIs a one-API change leaves ~110,000
// of the ~110,000 clusters the very messages of the last translation (an
// unchanged group's clusters are reused), so the validation finds what
// changed by walking the new list beside the last one, comparing
// pointers, and patches a copy of the last version map instead of
// building one of 110,000 names again.

import (
	"fmt"
	"maps"
	"sync/atomic"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
)

// resourceList is what a validation learnt of the resources of one type
// (listeners, clusters or endpoints): the messages in resource order,
// their hashes, and the version of each by name (the map served as the
// snapshot's version map for the type). Read-only once made.
type resourceList struct {
	msgs   []proto.Message
	hashes []msgHash
	// versions maps each resource's name to its version (the hex of its
	// hash).
	versions map[string]string
	// sorted: msgs are strictly sorted by name (so each name is there
	// once); only such a list is diffed with the next one.
	sorted bool
	// items is the snapshot's index of the resources by name, once the
	// snapshot is made (Resources.snapshot; shared with it, read-only),
	// and refs (clusters) counts the clusters that name each EDS
	// assignment: the next snapshot patches copies of both.
	items map[string]types.ResourceWithTTL
	refs  map[string]int
	// plain is items without TTLs, what go-control-plane's delta server
	// asks for on every change (see indexedSnapshot), made with items.
	plain map[string]types.Resource
	// id identifies the list (never 0); a list diffed with the last one
	// has that one's id in from (else 0), the names gone from it in
	// goneNames (the server's drain check reads them, see serveLocked)
	// and the names of its fresh messages (new names, or a new message
	// for a name) in freshNames: every name whose version may differ
	// from the last list's is in one of them (the delta answers read
	// them, see deltaahead.go). An id, not a pointer: a list does not
	// keep the last one alive.
	id, from   uint64
	goneNames  []string
	freshNames []string
}

// listIDs numbers the resource lists (resourceList.id).
var listIDs atomic.Uint64

// newListID returns a new resourceList.id.
func newListID() uint64 { return listIDs.Add(1) }

// listChanges is how the resources of one type of a snapshot (those of
// the list numbered to) differ from those of the list numbered from: the
// names gone, and the fresh ones (see resourceList.freshNames). known is
// false when that is not known (the list was not diffed).
type listChanges struct {
	from, to    uint64
	gone, fresh []string
	known       bool
}

// settled is how l's list differs from itself (nothing gone, nothing
// fresh), for serving the same list again; unknown when l's list is.
func (l listChanges) settled() listChanges {
	if l.to == 0 {
		return listChanges{}
	}
	return listChanges{from: l.to, to: l.to, known: true}
}

// clusterChanges returns how v's clusters differ from the last
// validation's (see listChanges).
func clusterChanges(v *validation) listChanges {
	return changesOf(v, resourcev3.ClusterType)
}

// changesOf returns how v's resources of type typeURL differ from the
// last validation's (see listChanges).
func changesOf(v *validation, typeURL string) listChanges {
	rl := v.lists[typeURL]
	if rl == nil {
		return listChanges{}
	}
	return listChanges{from: rl.from, to: rl.id, gone: rl.goneNames, fresh: rl.freshNames, known: rl.from != 0}
}

// listChange is how a diffed list differs from the last validation's.
type listChange struct {
	prev *resourceList
	diff listDiff
}

// patchItems returns a copy of the last snapshot's index (c.prev.items)
// without the names gone and with list's fresh messages.
func (c listChange) patchItems(list []proto.Message) map[string]types.ResourceWithTTL {
	return patchIndex(c.prev.items, c.diff, list, func(m proto.Message) types.ResourceWithTTL { return types.ResourceWithTTL{Resource: m} })
}

// patchPlain is patchItems for the index without TTLs (c.prev.plain).
func (c listChange) patchPlain(list []proto.Message) map[string]types.Resource {
	return patchIndex(c.prev.plain, c.diff, list, func(m proto.Message) types.Resource { return m })
}

// patchIndex returns a copy of prev, an index by name of the list d was
// diffed from, without d's names gone and with list's fresh messages (as
// entry makes them).
func patchIndex[V any](prev map[string]V, d listDiff, list []proto.Message, entry func(proto.Message) V) map[string]V {
	index := maps.Clone(prev)
	for _, name := range d.goneNames {
		delete(index, name)
	}
	for i, j := range d.kept {
		if j < 0 {
			index[cachev3.GetResourceName(list[i])] = entry(list[i])
		}
	}
	return index
}

// indexedSnapshot is a snapshot whose resources without TTLs
// (GetResources) are, for the types of plain, a map made once with the
// snapshot (shared: go-control-plane v0.14.0 only reads it) instead of a
// copy of the index made on each call: the delta server makes one per
// watch on every change (cache/v3 respondDelta), 110,001 clusters at
// 100,000 APIs.
type indexedSnapshot struct {
	*cachev3.Snapshot
	plain map[string]map[string]types.Resource
}

// GetResources implements cachev3.ResourceSnapshot.
func (s *indexedSnapshot) GetResources(typeURL string) map[string]types.Resource {
	if m, ok := s.plain[typeURL]; ok {
		return m
	}
	return s.Snapshot.GetResources(typeURL)
}

// plainIndexes returns the index without TTLs of each list of v that has
// one (by type URL), for an indexedSnapshot of v's snapshot.
func plainIndexes(v *validation) map[string]map[string]types.Resource {
	if v == nil {
		return nil
	}
	out := map[string]map[string]types.Resource{}
	for typeURL, rl := range v.lists {
		if rl.plain != nil {
			out[typeURL] = rl.plain
		}
	}
	return out
}

// edsName is the name of the EDS assignment that m, a cluster, uses
// (false: none), as go-control-plane's consistency check finds it (cache
// v3 getClusterReferences): an EDS cluster's service name, or its own
// name without one.
func edsName(m proto.Message) (string, bool) {
	c, ok := m.(*clusterv3.Cluster)
	if !ok {
		return "", false
	}
	if t, ok := c.GetClusterDiscoveryType().(*clusterv3.Cluster_Type); !ok || t.Type != clusterv3.Cluster_EDS {
		return "", false
	}
	if name := c.GetEdsClusterConfig().GetServiceName(); name != "" {
		return name, true
	}
	return c.GetName(), true
}

// consistent checks s as go-control-plane's Snapshot.Consistent does
// (every EDS assignment and route configuration is named by a cluster or
// a listener, and every one named exists), without walking every cluster
// when the cluster list was diffed (changes) and the last one's
// references are known: the last counts are patched with the clusters
// gone and the fresh ones. Without v it is Snapshot.Consistent. It
// records the cluster references in v's cluster list for the next one.
func consistent(s *cachev3.Snapshot, v *validation, changes map[string]listChange) error {
	if v == nil {
		return s.Consistent()
	}
	var refs map[string]int
	if ch, ok := changes[resourcev3.ClusterType]; ok && ch.prev.refs != nil {
		refs = maps.Clone(ch.prev.refs)
		for _, m := range ch.diff.gone {
			if name, ok := edsName(m); ok {
				if refs[name]--; refs[name] <= 0 {
					delete(refs, name)
				}
			}
		}
		list := v.lists[resourcev3.ClusterType].msgs
		for i, j := range ch.diff.kept {
			if j < 0 {
				if name, ok := edsName(list[i]); ok {
					refs[name]++
				}
			}
		}
	} else {
		refs = map[string]int{}
		for _, r := range s.Resources[types.Cluster].Items {
			if name, ok := edsName(r.Resource); ok {
				refs[name]++
			}
		}
	}
	if rl := v.lists[resourcev3.ClusterType]; rl != nil {
		rl.refs = refs
	}
	if err := sameNames(resourcev3.EndpointType, refs, s.Resources[types.Endpoint].Items); err != nil {
		return err
	}
	routes := map[string]int{}
	for name := range cachev3.GetResourceReferences(s.Resources[types.Listener].Items)[resourcev3.RouteType] {
		routes[name] = 1
	}
	return sameNames(resourcev3.RouteType, routes, s.Resources[types.Route].Items)
}

// sameNames checks that the names referenced (refs) are exactly those of
// items, with go-control-plane's messages.
func sameNames(typeURL string, refs map[string]int, items map[string]types.ResourceWithTTL) error {
	if len(refs) != len(items) {
		return fmt.Errorf("mismatched %q reference and resource lengths: len(%v) != %d", typeURL, refs, len(items))
	}
	for name := range refs {
		if _, ok := items[name]; !ok {
			return fmt.Errorf("inconsistent %q reference: %q not listed", typeURL, name)
		}
	}
	return nil
}

// listDiff is how a list of resources differs from an earlier one, both
// strictly sorted by name: which of the new list's messages are not the
// earlier list's message of the same place (new names, or a new message
// for a name), and which of the earlier list's messages are gone
// (replaced or removed), with the names that are gone altogether.
type listDiff struct {
	// kept[i] is the index in the earlier list of the new list's message
	// i when it is the very same message, -1 otherwise (fresh).
	kept []int
	// gone are the earlier messages not in the new list (removed or
	// replaced); goneNames the names not in the new list.
	gone      []proto.Message
	goneNames []string
}

// diffLists compares next with prev (strictly sorted by name). It
// returns false when next is not strictly sorted by name, or a name is
// empty: the diff is then not known (the caller does the whole work).
// A message found at its place in prev is taken as the same resource
// without reading its name: messages are read-only, so its name (and
// order among prev's) is unchanged. Only the names of the other messages
// and of their neighbours are read.
func diffLists(prev, next []proto.Message) (listDiff, bool) {
	d := listDiff{kept: make([]int, len(next))}
	i, j := 0, 0
	for i < len(next) && j < len(prev) {
		if next[i] == prev[j] {
			d.kept[i] = j
			i++
			j++
			continue
		}
		nn, pn := cachev3.GetResourceName(next[i]), cachev3.GetResourceName(prev[j])
		switch {
		case nn == pn:
			d.kept[i] = -1
			d.gone = append(d.gone, prev[j])
			i++
			j++
		case nn < pn:
			d.kept[i] = -1
			i++
		default:
			d.gone = append(d.gone, prev[j])
			d.goneNames = append(d.goneNames, pn)
			j++
		}
	}
	for ; i < len(next); i++ {
		d.kept[i] = -1
	}
	for ; j < len(prev); j++ {
		d.gone = append(d.gone, prev[j])
		d.goneNames = append(d.goneNames, cachev3.GetResourceName(prev[j]))
	}
	// next is strictly sorted if each pair of neighbours is: two kept
	// messages are (they are in prev's order, which is strict), so only
	// the pairs with a fresh message are compared.
	for i := range next {
		if d.kept[i] >= 0 {
			continue
		}
		name := cachev3.GetResourceName(next[i])
		if name == "" {
			return listDiff{}, false
		}
		if i > 0 && !(cachev3.GetResourceName(next[i-1]) < name) {
			return listDiff{}, false
		}
		if i+1 < len(next) && !(name < cachev3.GetResourceName(next[i+1])) {
			return listDiff{}, false
		}
	}
	// A name gone and fresh again (moved in an unsorted prev) cannot be:
	// prev is strictly sorted.
	return d, true
}
