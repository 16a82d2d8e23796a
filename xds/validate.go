package xds

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/apigwio/apigw/internal/parallel"
)

// validator is implemented by every generated Envoy message (protoc-gen-validate).
type validator interface{ ValidateAll() error }

// Validate checks every resource the way Envoy's own proto validation would,
// without an Envoy binary: ValidateAll on each resource and on every message
// packed in an Any anywhere inside it (typed_config, typed_per_filter_config,
// ...), recursively, since ValidateAll does not look inside an Any. It also
// rejects duplicate resource names. The error names the resource and field;
// with several defects, it is always the first in resource order.
//
// The work is spread over the CPUs: each resource is a task, and so is each
// virtual host and each route of a route configuration (the largest
// resource by far).
func (r *Resources) Validate() error {
	_, err := r.validate(nil, nil, nil)
	return err
}

// validation is what an incremental validation (validate with hashing)
// learnt: the hash of every message it checked, the encoding of every
// virtual host, and a version of each resource for delta xDS.
type validation struct {
	// valid holds the hashes of the messages found valid (those of this
	// configuration, and maybe some of earlier ones): a later validation
	// need not check them again.
	valid *validSet
	// vhosts holds the hashes and encoding of each virtual host: a later
	// validation given the same (read-only) virtual host reuses them.
	vhosts map[*routev3.VirtualHost]*vhostWire
	// versions maps type URL and resource name to a version: a hash of the
	// resource's deterministic encoding (a hash of its parts' hashes for a
	// route configuration), equal for equal resources.
	versions map[string]map[string]string
	// raws holds, for a route configuration, the encodings of its virtual
	// hosts in order, in one buffer of which each vhosts field is a part.
	raws map[*routev3.RouteConfiguration][]byte
	// encodings holds, for a route configuration of raws, the encoding
	// of its served message (see wire): its own fields, then raw, in one
	// buffer of which raw is the end. Read-only.
	encodings map[*routev3.RouteConfiguration][]byte
	// served maps each served message made by wire to its encoding (from
	// encodings), for the delta responses (presetVersions).
	served map[proto.Message][]byte
	// hashes are the part hashes in resource order (for a version of the
	// whole set).
	hashes []msgHash
	// resources holds the hash and version of each resource other than a
	// route configuration (listeners, clusters, endpoints): a later
	// validation given the same (read-only) message, as a reused group's
	// clusters are, takes them without marshalling it again. It may also
	// hold messages of earlier configurations (see resourceHashes).
	resources *resourceHashes
	// lists are the resources other than route configurations, by type
	// URL, in order, with their hashes and versions: a later validation
	// finds what changed by comparing its lists with these (reslist.go).
	lists map[string]*resourceList
	// changes are how each diffed list differs from the last validation's
	// (its list, the diff), until snapshot uses them (then nil: the last
	// lists are not kept alive).
	changes map[string]listChange
}

// reused returns what a validation building on v reuses: the hashes
// found valid, the virtual hosts' encodings and the resources' hashes (a
// new valid set and nothing else when v is nil).
func (v *validation) reused() (*validSet, map[*routev3.VirtualHost]*vhostWire, *resourceHashes) {
	if v == nil {
		return &validSet{}, nil, nil
	}
	return v.valid, v.vhosts, v.resources
}

// resourceHash is a resource's hash and its version (the hash in hex).
type resourceHash struct {
	hash    msgHash
	version string
}

// vhostWire is what validation learns of one virtual host.
type vhostWire struct {
	// parts are the hashes of the virtual host's own fields, then of each
	// route.
	parts []msgHash
	// field is the virtual host encoded as a RouteConfiguration
	// virtual_hosts field (tag, length, deterministic encoding).
	field []byte
}

// msgHash is the SHA-256 of a message's full type name and deterministic
// encoding: equal hashes mean equal messages, so equal validation results.
type msgHash [sha256.Size]byte

// virtualHostsField is the number of RouteConfiguration.virtual_hosts,
// routesField of VirtualHost.routes.
var (
	virtualHostsField = (&routev3.RouteConfiguration{}).ProtoReflect().Descriptor().Fields().ByName("virtual_hosts").Number()
	routesField       = (&routev3.VirtualHost{}).ProtoReflect().Descriptor().Fields().ByName("routes").Number()
)

// validate validates r. With known non-nil, it also hashes every task's
// message (deterministic encoding) and skips the ones whose hash is in
// known, which a previous validation found valid: validation is a pure
// function of the message, so a message with the same bytes is valid
// again. Every other message is validated in full. A virtual host found
// in done (the vhosts of a previous validation: the translation reused
// the very message) is neither hashed nor validated again, nor is another
// resource found in hashed (the resources of a previous validation). It
// returns what it learnt (nil without known).
func (r *Resources) validate(known *validSet, done map[*routev3.VirtualHost]*vhostWire, hashed *resourceHashes) (*validation, error) {
	return r.validatePlans(known, done, hashed, nil, nil)
}

// validatePlans is validate for the resources of an incremental
// translation: a virtual host with a plan in plans is made of its own
// fields and the plan's segments (see vhostPlan). A segment encoded in a
// virtual host of done (an API reused by the translation) is neither
// hashed nor validated again: its hashes and encoding are taken from
// there. Each segment of the plans is then placed in the new virtual
// host's encoding (the plans' apiOutputs are the new translation's, not
// shared with an earlier one).
//
// lists are the previous validation's lists (validation.lists; nil:
// none), with hashed its resources: a type whose list is strictly sorted
// by name, as the translation's are, is then compared with the new list
// (diffLists) and only the messages not at their place in it are looked
// at; the others keep their hash and version, and the version map is a
// patched copy of the last one.
func (r *Resources) validatePlans(known *validSet, done map[*routev3.VirtualHost]*vhostWire, hashed *resourceHashes, plans map[*routev3.VirtualHost]*vhostPlan, lists map[string]*resourceList) (*validation, error) {
	hashing := known != nil
	if !hashing {
		done, hashed, lists = nil, nil, nil
	}
	// A segment of a virtual host's routes: a range of tasks, or routes
	// reused from an encoded virtual host.
	type segment struct {
		from, to int // task indexes
		out      *apiOutput
		wire     *vhostWire // reused: the encoding holding the routes
	}
	// placed stands for the place of a segment of the group's own
	// routes (not kept).
	var placed apiOutput
	// A part of a resource: a range of tasks, a reused virtual host, or
	// the hash of a reused resource.
	type part struct {
		from, to int // task indexes
		vh       *routev3.VirtualHost
		reused   *vhostWire
		hashed   resourceHash  // of a reused resource (version set)
		msg      proto.Message // a resource other than a route configuration
		segs     []segment     // of a new virtual host (from is its own fields)
	}
	// fresh is a message of a diffed list that is not the last list's:
	// its index in the list, and its task (-1: hashed).
	type fresh struct{ i, task int }
	// block is a whole list of a type diffed with the last one.
	type block struct {
		prev   *resourceList
		list   []proto.Message
		diff   listDiff
		hashes []msgHash
		fresh  []fresh
	}
	type span struct {
		typeURL, name string
		parts         []part
		rc            *routev3.RouteConfiguration // a route configuration
		block         *block
	}
	var tasks []validateTask
	groups := r.groups()
	// The lists diffed with the last ones, by type URL.
	diffed := map[string]*block{}
	for _, g := range groups {
		if pl := lists[g.typeURL]; pl != nil && pl.sorted && len(g.list) > 0 && g.typeURL != resourcev3.RouteType {
			if d, ok := diffLists(pl.msgs, g.list); ok {
				diffed[g.typeURL] = &block{prev: pl, list: g.list, diff: d, hashes: make([]msgHash, len(g.list))}
			}
		}
	}
	n := 0
	perType := make(map[string]int, len(groups))
	for _, g := range groups {
		if diffed[g.typeURL] != nil {
			n++
			continue
		}
		n += len(g.list)
		perType[g.typeURL] = len(g.list)
	}
	spans := make([]span, 0, n)
	singles := make([]part, n) // the parts of single-part resources
	for _, g := range groups {
		if b := diffed[g.typeURL]; b != nil {
			// Only the messages not at their place in the last list.
			pl, d := b.prev, b.diff
			for i, m := range g.list {
				if j := d.kept[i]; j >= 0 {
					b.hashes[i] = pl.hashes[j]
					continue
				}
				if h, found := hashed.get(m); found {
					b.hashes[i] = h.hash
					b.fresh = append(b.fresh, fresh{i: i, task: -1})
					continue
				}
				b.fresh = append(b.fresh, fresh{i: i, task: len(tasks)})
				tasks = append(tasks, validateTask{path: g.kind + "[" + cachev3.GetResourceName(m) + "]", msg: m})
			}
			spans = append(spans, span{typeURL: g.typeURL, block: b})
			continue
		}
		names := make(map[string]bool, len(g.list))
		for _, m := range g.list {
			name := cachev3.GetResourceName(m)
			if names[name] {
				return nil, fmt.Errorf("xds: invalid resource: %s %q is defined twice", g.kind, name)
			}
			names[name] = true
			sp := span{typeURL: g.typeURL, name: name}
			one := singles[len(spans) : len(spans)+1 : len(spans)+1]
			rc, ok := m.(*routev3.RouteConfiguration)
			if !ok {
				if h, found := hashed.get(m); found {
					one[0] = part{hashed: h, msg: m}
					sp.parts = one
					spans = append(spans, sp)
					continue
				}
			}
			path := g.kind + "[" + name + "]"
			if !ok || len(rc.GetVirtualHosts()) == 0 {
				one[0] = part{from: len(tasks), to: len(tasks) + 1}
				if !ok {
					one[0].msg = m
				}
				sp.parts = one
				tasks = append(tasks, validateTask{path: path, msg: m})
				spans = append(spans, sp)
				continue
			}
			// A route configuration: one task for its own fields, and for
			// each virtual host one for its own fields and one per route.
			// Per-field validation rules do not span virtual hosts or
			// routes, so this checks exactly what ValidateAll on the whole
			// would. (Smaller tasks also let an incremental validation skip
			// more.)
			sp.parts = []part{{from: len(tasks), to: len(tasks) + 1}}
			sp.rc = rc
			tasks = append(tasks, validateTask{path: path, msg: without(rc, "virtual_hosts")})
			for i, vh := range rc.GetVirtualHosts() {
				if w := done[vh]; w != nil {
					sp.parts = append(sp.parts, part{vh: vh, reused: w})
					continue
				}
				vpath := path + ".virtual_hosts[" + strconv.Itoa(i) + "]"
				p := part{from: len(tasks), vh: vh}
				tasks = append(tasks, validateTask{path: vpath, msg: without(vh, "routes"), keep: hashing})
				plan := plans[vh]
				if plan == nil {
					plan = &vhostPlan{segs: []planSeg{{routes: vh.GetRoutes()}}}
				}
				j := 0 // route index in the virtual host
				for _, ps := range plan.segs {
					o := ps.out
					if o == nil {
						o = &placed
					}
					if ps.routes == nil && o.from != nil {
						w := done[o.from]
						if w == nil || !hashing {
							return nil, fmt.Errorf("xds: invalid resource: virtual host %q: the encoding of reused routes is missing", vh.GetName())
						}
						p.segs = append(p.segs, segment{out: o, wire: w})
						j += int(o.count)
						continue
					}
					sg := segment{from: len(tasks), out: o}
					for _, rt := range ps.routes {
						tasks = append(tasks, validateTask{path: vpath + ".routes[" + strconv.Itoa(j) + "]", msg: rt, keep: hashing, route: true})
						j++
					}
					sg.to = len(tasks)
					p.segs = append(p.segs, sg)
				}
				p.to = len(tasks)
				sp.parts = append(sp.parts, p)
			}
			spans = append(spans, sp)
		}
	}
	errs := make([]error, len(tasks))
	var hashes []msgHash
	// enc holds the encoding of the tasks that keep it: a virtual host's
	// own fields, and each route as a VirtualHost.routes field.
	var enc [][]byte
	if hashing {
		hashes = make([]msgHash, len(tasks))
		enc = make([][]byte, len(tasks))
	}
	parallel.For(len(tasks), parallel.Workers(), func() func(int) {
		w := &anyWalker{seen: map[*anypb.Any]bool{}}
		var buf []byte
		return func(i int) {
			if hashing {
				var err error
				if buf, err = (proto.MarshalOptions{Deterministic: true}).MarshalAppend(buf[:0], tasks[i].msg); err != nil {
					errs[i] = fmt.Errorf("%s: cannot marshal: %w", tasks[i].path, err)
					return
				}
				h := sha256.New()
				h.Write([]byte(tasks[i].msg.ProtoReflect().Descriptor().FullName()))
				h.Write([]byte{0})
				h.Write(buf)
				h.Sum(hashes[i][:0])
				switch {
				case tasks[i].route:
					e := make([]byte, 0, len(buf)+protowire.SizeTag(routesField)+protowire.SizeVarint(uint64(len(buf))))
					e = protowire.AppendTag(e, routesField, protowire.BytesType)
					enc[i] = protowire.AppendBytes(e, buf)
				case tasks[i].keep:
					enc[i] = slices.Clone(buf)
				}
				if known.has(hashes[i]) {
					return
				}
			}
			errs[i] = w.check(tasks[i].path, tasks[i].msg)
		}
	})
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("xds: invalid resource: %w", err)
		}
	}
	if !hashing {
		return nil, nil
	}
	segs := func(p part) segmentFunc {
		return func(k int) (*apiOutput, []msgHash, [][]byte, []byte) {
			sg := p.segs[k]
			if sg.wire != nil {
				o := sg.out
				return o, sg.wire.parts[1+o.first : 1+o.first+o.count], nil, sg.wire.field[o.off : o.off+o.size]
			}
			return sg.out, hashes[sg.from:sg.to], enc[sg.from:sg.to], nil
		}
	}
	// The part hashes of every resource, in order, in one slice (the
	// virtual hosts' are parts of it).
	nparts := 0
	for _, sp := range spans {
		if sp.block != nil {
			nparts += len(sp.block.list)
			continue
		}
		if sp.rc == nil {
			nparts++
			continue
		}
		for _, p := range sp.parts {
			switch {
			case p.reused != nil:
				nparts += len(p.reused.parts)
			case p.vh != nil:
				_, routes := assembledSize(enc[p.from], len(p.segs), segs(p))
				nparts += 1 + routes
			default:
				nparts += p.to - p.from
			}
		}
	}
	v := &validation{vhosts: map[*routev3.VirtualHost]*vhostWire{}, versions: map[string]map[string]string{}, raws: map[*routev3.RouteConfiguration][]byte{},
		encodings: map[*routev3.RouteConfiguration][]byte{}, served: map[proto.Message][]byte{},
		hashes: make([]msgHash, 0, nparts), lists: map[string]*resourceList{}}
	if len(diffed) == 0 {
		v.resources = newResourceHashes(len(spans))
	} else {
		// The last resources (hashed is the last validation's, the union
		// of its lists), under a layer of this one's fresh messages; the
		// lists not diffed are added again below.
		v.resources = hashed.layer()
	}
	// firstHash is where the hashes of a list made whole start in
	// v.hashes (its resources' spans are consecutive, one hash each).
	firstHash := map[string]int{}
	for k, sp := range spans {
		if b := sp.block; b != nil {
			// A list diffed with the last one: only its fresh messages
			// are new to the version map and the resources.
			versions := maps.Clone(b.prev.versions)
			for _, name := range b.diff.goneNames {
				delete(versions, name)
			}
			freshNames := make([]string, 0, len(b.fresh))
			for _, f := range b.fresh {
				if f.task >= 0 {
					b.hashes[f.i] = hashes[f.task]
				}
				rh := resourceHash{hash: b.hashes[f.i], version: hashOf(b.hashes[f.i : f.i+1])}
				m := b.list[f.i]
				v.resources.set(m, rh)
				name := cachev3.GetResourceName(m)
				versions[name] = rh.version
				freshNames = append(freshNames, name)
			}
			start := len(v.hashes)
			v.hashes = append(v.hashes, b.hashes...)
			v.versions[sp.typeURL] = versions
			// The list's hashes are its part of v.hashes (not a copy).
			hs := v.hashes[start:len(v.hashes):len(v.hashes)]
			v.lists[sp.typeURL] = &resourceList{msgs: b.list, hashes: hs, versions: versions, sorted: true,
				id: newListID(), from: b.prev.id, goneNames: b.diff.goneNames, freshNames: freshNames}
			if v.changes == nil {
				v.changes = map[string]listChange{}
			}
			v.changes[sp.typeURL] = listChange{prev: b.prev, diff: b.diff}
			continue
		}
		if v.versions[sp.typeURL] == nil {
			v.versions[sp.typeURL] = make(map[string]string, perType[sp.typeURL])
		}
		if p := sp.parts[0]; p.msg != nil {
			// A resource other than a route configuration: one part.
			rh := p.hashed
			if rh.version == "" {
				rh = resourceHash{hash: hashes[p.from], version: hashOf(hashes[p.from : p.from+1])}
			}
			v.resources.set(p.msg, rh)
			v.hashes = append(v.hashes, rh.hash)
			v.versions[sp.typeURL][sp.name] = rh.version
			rl := v.lists[sp.typeURL]
			if rl == nil {
				rl = &resourceList{versions: v.versions[sp.typeURL], sorted: true, id: newListID()}
				v.lists[sp.typeURL] = rl
				firstHash[sp.typeURL] = len(v.hashes) - 1
			} else if !(spans[k-1].name < sp.name) {
				rl.sorted = false
			}
			rl.msgs = append(rl.msgs, p.msg)
			continue
		}
		// The virtual hosts' encodings are made in one buffer, in order:
		// what the route configuration on the wire carries (see wire).
		total := 0
		for _, p := range sp.parts {
			switch {
			case p.reused != nil:
				total += len(p.reused.field)
			case p.vh != nil:
				n, _ := assembledSize(enc[p.from], len(p.segs), segs(p))
				total += n
			}
		}
		// The route configuration's own fields (its name) go first, in
		// the same buffer: with them the buffer is the whole served
		// message's encoding (see wire), which the delta responses send
		// without a copy.
		var own []byte
		ownOK := false
		if sp.rc != nil {
			var err error
			own, err = cachev3.MarshalResource(without(sp.rc, "virtual_hosts"))
			ownOK = err == nil
		}
		buf := append(make([]byte, 0, len(own)+total), own...)
		raw := buf[len(own):len(own)]
		start := len(v.hashes)
		for _, p := range sp.parts {
			switch {
			case p.reused != nil:
				h, off := len(v.hashes), len(raw)
				v.hashes = append(v.hashes, p.reused.parts...)
				raw = append(raw, p.reused.field...)
				v.vhosts[p.vh] = &vhostWire{parts: v.hashes[h:len(v.hashes):len(v.hashes)], field: raw[off:len(raw):len(raw)]}
			case p.vh != nil:
				var w *vhostWire
				var err error
				if raw, v.hashes, w, err = assemble(raw, v.hashes, p.vh, hashes[p.from], enc[p.from], len(p.segs), segs(p)); err != nil {
					return nil, err
				}
				v.vhosts[p.vh] = w
			default:
				v.hashes = append(v.hashes, hashes[p.from:p.to]...)
			}
		}
		if sp.rc != nil && len(raw) == total {
			v.raws[sp.rc] = raw
			// raw is still in buf (assemble found room) when it is
			// buf's last total bytes.
			if full := buf[:len(own)+total]; ownOK && total > 0 && &full[len(own)] == &raw[0] {
				v.encodings[sp.rc] = full
			}
		}
		v.versions[sp.typeURL][sp.name] = hashOf(v.hashes[start:])
	}
	for typeURL, first := range firstHash {
		rl := v.lists[typeURL]
		end := first + len(rl.msgs)
		rl.hashes = v.hashes[first:end:end]
	}
	v.resources = v.resources.flatten(v.lists)
	// Every part is either hashed now (a task) or reused from the last
	// validation, whose set has its hash.
	v.valid = known.extend(hashes, v.hashes)
	return v, nil
}

// validSet is a set of message hashes found valid: its own and, read-only,
// those of an earlier set (the last validation's), so that a validation
// that hashed a few messages adds those instead of copying every hash of
// the configuration. A hash of an earlier configuration may stay in it
// (still valid: validity is a pure function of the bytes) until the set
// is flattened to the hashes of one configuration, which bounds its size.
//
// The set keeps the first 16 bytes of each hash (validKey), half the
// memory of whole hashes (it holds one per route: ~500,000 at 100,000
// APIs). A message is then taken as valid without a check only if the
// first 128 bits of its SHA-256 equal those of a message found valid.
// By accident that has a probability below n·m/2^128 (n hashes in the
// set, m looked up: under 10^-25 for a million of each). On purpose, it
// takes a second preimage of a 128-bit truncated SHA-256 (~2^128 work);
// a birthday collision (~2^64) needs the author of both messages, that
// is the operator writing the configuration, who can write an invalid one
// anyway, and Envoy validates what it receives again.
type validSet struct {
	own  map[validKey]struct{}
	base *validSet
	// depth is the number of sets from this one down; total the number
	// of hashes they hold.
	depth, total int
}

// validKey is the part of a message hash a validSet keeps: its first 16
// bytes (see validSet).
type validKey [16]byte

// keyOf is h's validKey.
func keyOf(h msgHash) validKey { return validKey(h[:16]) }

// maxValidDepth bounds the sets a lookup goes through.
const maxValidDepth = 8

// has reports whether h is in s (nil: empty).
func (s *validSet) has(h msgHash) bool {
	k := keyOf(h)
	for ; s != nil; s = s.base {
		if _, ok := s.own[k]; ok {
			return true
		}
	}
	return false
}

// extend returns s with fresh added, or, when that would be too deep or
// hold more than twice the hashes of the configuration (all), a flat set
// of all. all must be in s or fresh.
func (s *validSet) extend(fresh, all []msgHash) *validSet {
	own := map[validKey]struct{}{}
	for _, h := range fresh {
		if !s.has(h) {
			own[keyOf(h)] = struct{}{}
		}
	}
	n := &validSet{own: own, base: s, depth: 1, total: len(own)}
	if s != nil {
		n.depth, n.total = s.depth+1, s.total+len(own)
	}
	if n.depth <= maxValidDepth && n.total <= 2*len(all) {
		return n
	}
	flat := make(map[validKey]struct{}, len(all))
	for _, h := range all {
		flat[keyOf(h)] = struct{}{}
	}
	return &validSet{own: flat, depth: 1, total: len(flat)}
}

// segmentFunc gives segment k of a virtual host's routes: its output,
// its routes' hashes, and their encodings as VirtualHost.routes fields,
// either one per route or (reused) all in one.
type segmentFunc func(k int) (*apiOutput, []msgHash, [][]byte, []byte)

// assembledSize returns the length of the encoding assemble makes of a
// virtual host (as a RouteConfiguration.virtual_hosts field), and its
// number of routes.
func assembledSize(ownEnc []byte, n int, seg segmentFunc) (field, routes int) {
	size := len(ownEnc)
	for k := range n {
		_, hs, encs, whole := seg(k)
		routes += len(hs)
		size += len(whole)
		for _, e := range encs {
			size += len(e)
		}
	}
	return protowire.SizeTag(virtualHostsField) + protowire.SizeVarint(uint64(size)) + size, routes
}

// assemble appends to dst the encoding of a virtual host as a
// RouteConfiguration.virtual_hosts field, made from its own fields (their
// hash and deterministic encoding) and its n segments of routes in order,
// and its part hashes to hashes, and returns both with the virtual host's
// hashes and encoding (parts of them; dst must have room for the
// encoding: see assembledSize). A deterministic
// encoding orders fields by number, so the routes go between the own
// fields numbered below VirtualHost.routes and those above: the result is
// the bytes of a deterministic encoding of the whole virtual host
// (TestAssembledVirtualHosts). Each segment's output is placed in it
// (apiOutput.from and the positions).
func assemble(dst []byte, hashes []msgHash, vh *routev3.VirtualHost, own msgHash, ownEnc []byte, n int, seg segmentFunc) ([]byte, []msgHash, *vhostWire, error) {
	split, ok := fieldsBelow(ownEnc, routesField)
	if !ok {
		return nil, nil, nil, fmt.Errorf("xds: invalid resource: virtual host %q cannot be marshalled", vh.GetName())
	}
	fieldSize, routes := assembledSize(ownEnc, n, seg)
	if cap(dst)-len(dst) < fieldSize {
		dst = slices.Grow(dst, fieldSize)
	}
	start := len(dst)
	size := fieldSize - protowire.SizeTag(virtualHostsField)
	size -= protowire.SizeVarint(uint64(size))
	field := dst[start:start]
	field = protowire.AppendTag(field, virtualHostsField, protowire.BytesType)
	field = protowire.AppendVarint(field, uint64(size))
	field = append(field, ownEnc[:split]...)
	hstart := len(hashes)
	hashes = append(slices.Grow(hashes, 1+routes), own)
	for k := range n {
		o, hs, encs, whole := seg(k)
		first, off := len(hashes)-hstart-1, len(field)
		hashes = append(hashes, hs...)
		field = append(field, whole...)
		for _, e := range encs {
			field = append(field, e...)
		}
		o.from, o.first, o.count, o.off, o.size = vh, int32(first), int32(len(hs)), int32(off), int32(len(field)-off)
	}
	field = append(field, ownEnc[split:]...)
	field = field[:len(field):len(field)]
	parts := hashes[hstart:len(hashes):len(hashes)]
	return dst[:start+len(field)], hashes, &vhostWire{parts: parts, field: field}, nil
}

// fieldsBelow returns the length of the leading fields of b (a message's
// encoding) numbered below n, and whether every later field is numbered
// above n (as in a deterministic encoding).
func fieldsBelow(b []byte, n protowire.Number) (int, bool) {
	split := -1
	for off := 0; off < len(b); {
		num, typ, l := protowire.ConsumeTag(b[off:])
		if l < 0 {
			return 0, false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[off+l:])
		if m < 0 || num == n || (split >= 0 && num < n) {
			return 0, false
		}
		if num > n && split < 0 {
			split = off
		}
		off += l + m
	}
	if split < 0 {
		split = len(b)
	}
	return split, true
}

// hashOf is the hex version of a sequence of part hashes: the hash itself
// for one part, a hash of the sequence for several (the parts of a route
// configuration, which split in one way only: each virtual host's own
// fields precede its routes).
func hashOf(hs []msgHash) string {
	if len(hs) == 1 {
		return hex.EncodeToString(hs[0][:])
	}
	h := sha256.New()
	for _, x := range hs {
		h.Write(x[:])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// version is a version of the whole set of resources, for snapshots
// without one: a hash of every part hash.
func (v *validation) version() string {
	return "h" + hashOf(append([]msgHash{{}}, v.hashes...))[:16]
}

// validateTask is one message to check, located by path.
type validateTask struct {
	path string
	msg  proto.Message
	// keep: the encoding is kept (a virtual host's own fields); route:
	// kept as a VirtualHost.routes field.
	keep, route bool
}

// without returns a shallow copy of m without the named field (the other
// fields are shared, not copied, and only read).
func without(m proto.Message, field protoreflect.Name) proto.Message {
	src := m.ProtoReflect()
	out := src.Type().New()
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Name() != field {
			out.Set(fd, v)
		}
		return true
	})
	return out.Interface()
}

type resourceGroup struct {
	kind    string
	typeURL string
	list    []proto.Message
}

// listOf is an empty list with room for n messages (nil for none).
func listOf(n int) []proto.Message {
	if n == 0 {
		return nil
	}
	return make([]proto.Message, 0, n)
}

func (r *Resources) groups() []resourceGroup {
	// Each list made at its size: appended to from empty, a list of
	// 110,000 clusters (100,000 APIs) allocated ~5 times its size
	// (append grows large slices by a quarter).
	g := []resourceGroup{
		{kind: "listener", typeURL: resourcev3.ListenerType, list: listOf(len(r.Listeners))},
		{kind: "route_configuration", typeURL: resourcev3.RouteType, list: listOf(len(r.Routes))},
		{kind: "cluster", typeURL: resourcev3.ClusterType, list: listOf(len(r.Clusters))},
		{kind: "cluster_load_assignment", typeURL: resourcev3.EndpointType, list: listOf(len(r.Endpoints))},
	}
	for _, m := range r.Listeners {
		g[0].list = append(g[0].list, m)
	}
	for _, m := range r.Routes {
		g[1].list = append(g[1].list, m)
	}
	for _, m := range r.Clusters {
		g[2].list = append(g[2].list, m)
	}
	for _, m := range r.Endpoints {
		g[3].list = append(g[3].list, m)
	}
	return g
}

// Snapshot returns the resources as a go-control-plane snapshot with the
// given version, after checking that it is consistent (every EDS and RDS
// name referenced exists, and nothing else of those types).
func (r *Resources) Snapshot(version string) (*cachev3.Snapshot, error) {
	return r.snapshot(version, nil)
}

// snapshot is Snapshot; with v, each route configuration whose virtual
// hosts v encoded is served in its wire form (see validation.wire).
func (r *Resources) snapshot(version string, v *validation) (*cachev3.Snapshot, error) {
	var changes map[string]listChange
	if v != nil {
		changes, v.changes = v.changes, nil
	}
	s := &cachev3.Snapshot{}
	for _, g := range r.groups() {
		typ := cachev3.GetResponseType(g.typeURL)
		if ch, ok := changes[g.typeURL]; ok && ch.prev.items != nil {
			// A list diffed with the last one: the last snapshot's
			// index, patched.
			s.Resources[typ] = cachev3.Resources{Version: version, Items: ch.patchItems(g.list)}
		} else {
			list := make([]types.Resource, len(g.list))
			for i, m := range g.list {
				if rc, ok := m.(*routev3.RouteConfiguration); ok && v != nil {
					m = v.wire(rc)
				}
				list[i] = m
			}
			s.Resources[typ] = cachev3.NewResources(version, list)
		}
		if v != nil {
			if rl := v.lists[g.typeURL]; rl != nil {
				rl.items = s.Resources[typ].Items
				if ch, ok := changes[g.typeURL]; ok && ch.prev.plain != nil {
					rl.plain = ch.patchPlain(g.list)
				} else {
					rl.plain = s.GetResources(g.typeURL)
				}
			}
		}
	}
	if err := consistent(s, v, changes); err != nil {
		return nil, fmt.Errorf("xds: inconsistent snapshot: %w", err)
	}
	return s, nil
}

// wire returns rc in the form the xDS server sends: its own fields, with
// its virtual hosts as their stored encodings (unknown fields, which
// protobuf marshals back verbatim, in order). Its encoding is a valid
// encoding of rc, so Envoy decodes exactly rc; but it costs a copy instead
// of marshalling every virtual host again, which matters since the one
// route configuration holds every route and is sent whole on any change.
// rc itself is returned when a virtual host has no encoding. It makes v's
// encodings parts of the returned message.
func (v *validation) wire(rc *routev3.RouteConfiguration) proto.Message {
	if raw, ok := v.raws[rc]; ok {
		// Validation made the encodings in one buffer, in order.
		out := without(rc, "virtual_hosts")
		out.ProtoReflect().SetUnknown(raw)
		if full, ok := v.encodings[rc]; ok {
			v.served[out] = full
		}
		return out
	}
	n := 0
	for _, vh := range rc.GetVirtualHosts() {
		w := v.vhosts[vh]
		if w == nil {
			return rc
		}
		n += len(w.field)
	}
	raw := make([]byte, 0, n)
	for _, vh := range rc.GetVirtualHosts() {
		raw = append(raw, v.vhosts[vh].field...)
	}
	// From now on each virtual host's encoding is its part of raw (which
	// the served message keeps): one copy of the encodings stays alive,
	// not two.
	off := 0
	for _, vh := range rc.GetVirtualHosts() {
		w := v.vhosts[vh]
		end := off + len(w.field)
		v.vhosts[vh] = &vhostWire{parts: w.parts, field: raw[off:end:end]}
		off = end
	}
	out := without(rc, "virtual_hosts")
	out.ProtoReflect().SetUnknown(raw)
	return out
}

func validateOne(m proto.Message) error {
	if v, ok := m.(validator); ok {
		return v.ValidateAll()
	}
	return nil
}

// anyWalker finds, unpacks and validates every Any in a message tree.
type anyWalker struct {
	// seen holds Anys already checked: the translator shares one packed
	// per-route configuration between routes.
	seen map[*anypb.Any]bool
	// path is the stack of fields from the resource to the current message,
	// rendered only for an error (building strings for every element of a
	// large configuration would cost more than the walk).
	path []pathSeg
}

type pathSeg struct {
	name  string // field name, or "<type>" on entering an Any
	index int    // list index, or -1
	key   string // map key, if any
}

var anyName = (&anypb.Any{}).ProtoReflect().Descriptor().FullName()

func (w *anyWalker) where() string {
	var b strings.Builder
	for i, p := range w.path {
		if i > 0 && !strings.HasPrefix(p.name, "<") {
			b.WriteByte('.')
		}
		b.WriteString(p.name)
		if p.index >= 0 {
			b.WriteString("[" + strconv.Itoa(p.index) + "]")
		}
		if p.key != "" {
			b.WriteString("[" + p.key + "]")
		}
	}
	return b.String()
}

func (w *anyWalker) push(name string, index int, key string) {
	w.path = append(w.path, pathSeg{name, index, key})
}

func (w *anyWalker) pop() { w.path = w.path[:len(w.path)-1] }

// typedPerFilterConfig is implemented by routes, virtual hosts and route
// configurations: their per-filter Anys are read from the Go map directly,
// since ranging a map by reflection dominates the walk of a large
// configuration.
type typedPerFilterConfig interface {
	GetTypedPerFilterConfig() map[string]*anypb.Any
}

const typedPerFilterConfigField = "typed_per_filter_config"

// walk visits the fields of m that can hold an Any.
func (w *anyWalker) walk(m protoreflect.Message) error {
	var err error
	fast, _ := m.Interface().(typedPerFilterConfig)
	if fast != nil {
		for k, a := range fast.GetTypedPerFilterConfig() {
			w.push(typedPerFilterConfigField, -1, k)
			err = w.value(a.ProtoReflect())
			w.pop()
			if err != nil {
				return err
			}
		}
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fast != nil && fd.Name() == typedPerFilterConfigField {
			return true
		}
		elem := fd
		if fd.IsMap() {
			elem = fd.MapValue()
		}
		md := elem.Message()
		if md == nil || !mayHoldAny(md) {
			return true
		}
		name := string(fd.Name())
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				w.push(name, i, "")
				err = w.value(l.Get(i).Message())
				w.pop()
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				w.push(name, -1, k.String())
				err = w.value(mv.Message())
				w.pop()
				return err == nil
			})
		default:
			w.push(name, -1, "")
			err = w.value(v.Message())
			w.pop()
		}
		return err == nil
	})
	return err
}

// value validates m if it is an Any, then walks into it.
func (w *anyWalker) value(m protoreflect.Message) error {
	if m.Descriptor().FullName() != anyName {
		return w.walk(m)
	}
	a, ok := m.Interface().(*anypb.Any)
	if !ok {
		return fmt.Errorf("%s: unexpected Any implementation %T", w.where(), m.Interface())
	}
	if w.seen[a] {
		return nil
	}
	w.seen[a] = true
	inner, err := anypb.UnmarshalNew(a, proto.UnmarshalOptions{})
	if err != nil {
		return fmt.Errorf("%s: cannot unpack %s: %w", w.where(), a.GetTypeUrl(), err)
	}
	if err := validateOne(inner); err != nil {
		return fmt.Errorf("%s (%s): %w", w.where(), strings.TrimPrefix(a.GetTypeUrl(), "type.googleapis.com/"), err)
	}
	w.push("<"+string(inner.ProtoReflect().Descriptor().FullName())+">", -1, "")
	defer w.pop()
	return w.walk(inner.ProtoReflect())
}

// check validates one resource and every Any inside it.
func (w *anyWalker) check(name string, m proto.Message) error {
	w.path = append(w.path[:0], pathSeg{name: name, index: -1})
	if err := validateOne(m); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return w.walk(m.ProtoReflect())
}

// anyReach caches, per message type, whether an Any can occur anywhere
// below it, so that the walk skips the bulk of a large configuration
// (matchers, addresses, durations).
var anyReach sync.Map // protoreflect.MessageDescriptor -> bool

func mayHoldAny(md protoreflect.MessageDescriptor) bool {
	if v, ok := anyReach.Load(md); ok {
		return v.(bool)
	}
	r := reachAny(md, map[protoreflect.FullName]bool{})
	anyReach.Store(md, r)
	return r
}

func reachAny(md protoreflect.MessageDescriptor, visiting map[protoreflect.FullName]bool) bool {
	if md.FullName() == anyName {
		return true
	}
	if visiting[md.FullName()] {
		return false // a cycle adds nothing new
	}
	visiting[md.FullName()] = true
	fields := md.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.IsMap() {
			fd = fd.MapValue()
		}
		if fd.Message() != nil && reachAny(fd.Message(), visiting) {
			return true
		}
	}
	return false
}

// routes counts the routes of rc, from v's hashes where it has them (a
// virtual host of the memo has no routes left: see groupMemo.lean).
func (v *validation) routes(rc *routev3.RouteConfiguration) int {
	n := 0
	for _, vh := range rc.GetVirtualHosts() {
		if w := v.vhosts[vh]; w != nil {
			n += len(w.parts) - 1 // its own fields, then each route
		} else {
			n += len(vh.GetRoutes())
		}
	}
	return n
}
