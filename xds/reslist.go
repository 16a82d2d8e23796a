package xds

// Per-list (not per-resource) bookkeeping of the resources other than
// route configurations: at 100,000 APIs a one-API change leaves ~110,000
// of the ~110,000 clusters the very messages of the last translation (an
// unchanged group's clusters are reused), so the validation finds what
// changed by walking the new list beside the last one, comparing
// pointers, and patches a copy of the last version map instead of
// building one of 110,000 names again.

import (
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
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
