package xds

import "google.golang.org/protobuf/proto"

// maxHashLayers is how many validations' layers a resourceHashes keeps
// before it is flattened.
const maxHashLayers = 8

// resourceHashes maps the resources other than route configurations that
// validations hashed (listeners, clusters, endpoints: the very messages,
// which are read-only) to their hash and version. A validation diffed
// with the last one adds the few messages it hashed in a layer of its own
// over the last validation's map, which it does not change (it may still
// be in use), instead of copying every entry (110,001 at 100,000 APIs:
// 11 MB per one-API change). After maxHashLayers layers the map is
// flattened to the entries of the resources in use (flatten), which drops
// the messages gone since: until then a message that left the
// configuration keeps its entry, which is still right (its hash is that of
// its bytes, which never change) and merely keeps it alive; so the map is
// flattened as well when its layers hold more than twice the entries in
// use (changes that replace most resources, such as a setting every
// cluster carries: else up to maxHashLayers generations of them stay
// alive).
type resourceHashes struct {
	own  map[proto.Message]resourceHash
	base *resourceHashes // read-only; nil for a flat map
	// depth counts the layers, this one included; total their entries,
	// set by flatten (0 before: the layers below only).
	depth, total int
}

// newResourceHashes returns a flat map with room for n entries.
func newResourceHashes(n int) *resourceHashes {
	return &resourceHashes{own: make(map[proto.Message]resourceHash, n), depth: 1}
}

// layer returns an empty layer over r (a flat map when r is nil), to which
// set adds without changing r.
func (r *resourceHashes) layer() *resourceHashes {
	if r == nil {
		return newResourceHashes(0)
	}
	return &resourceHashes{own: map[proto.Message]resourceHash{}, base: r, depth: r.depth + 1}
}

// get returns m's hash and version, if a layer has them (r may be nil).
func (r *resourceHashes) get(m proto.Message) (resourceHash, bool) {
	for x := r; x != nil; x = x.base {
		if h, ok := x.own[m]; ok {
			return h, true
		}
	}
	return resourceHash{}, false
}

// set records m's hash and version in r's own layer.
func (r *resourceHashes) set(m proto.Message, h resourceHash) { r.own[m] = h }

// flatten returns r itself while it has at most maxHashLayers layers
// holding at most twice the entries of lists, else a flat map of the
// messages of lists (every resource in use, each found in r). r is
// read-only afterwards.
func (r *resourceHashes) flatten(lists map[string]*resourceList) *resourceHashes {
	n := 0
	for _, rl := range lists {
		n += len(rl.msgs)
	}
	r.total = len(r.own)
	if r.base != nil {
		r.total += r.base.total
	}
	if r.depth <= maxHashLayers && r.total <= 2*n {
		return r
	}
	flat := newResourceHashes(n)
	for _, rl := range lists {
		for _, m := range rl.msgs {
			if h, ok := r.get(m); ok {
				flat.own[m] = h
			}
		}
	}
	flat.total = len(flat.own)
	return flat
}
