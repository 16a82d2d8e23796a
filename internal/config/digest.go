package config

// Digests and versions: how unchanged groups and APIs are recognised
// across reloads, and the version a snapshot is published under.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// digests are what a build recognises unchanged definitions by: the hash
// of the definitions outside the groups (shared), a digest per group and
// a digest per API of each group (apis[i][j] of groups[i].apis[j]).
type digests struct {
	shared []byte
	groups []string
	apis   [][]model.Digest
}

// groupDigests hashes what each group's model is resolved from: the
// group's own definition and everything defined outside the groups
// (settings, environments, channels, policies, apps; not the resolved
// secret values, which no group model holds). Two groups with equal
// digests resolve to equal models: Build reuses the model of an unchanged
// group, and the xDS translator its translation. It also hashes what each
// API's model is resolved from (see apiDigest).
func groupDigests(gw *configv1.Gateway) digests {
	d, _ := groupDigestsReusing(gw, nil)
	return d
}

// digestMemo is the digests of one configuration's groups, by parsed
// group message (a Parser's groups are the same messages while their text
// is unchanged), with the shared hash they were computed with.
type digestMemo struct {
	shared []byte
	groups map[*configv1.Group]*groupEntry
	// byName finds the group of a name, for the hashes of the APIs of a
	// changed group that are the same messages as before.
	byName map[string]*configv1.Group
}

// groupEntry is what digestMemo holds of one group.
type groupEntry struct {
	digest string
	// apis are the API digests, sums the hashes of the APIs' own
	// definitions (which do not depend on the shared hash), both in the
	// order of the group's apis.
	apis []model.Digest
	sums []apiSum
}

// apiSum is the SHA-256 of an API's deterministic encoding.
type apiSum [sha256.Size]byte

// groupDigestsReusing is groupDigests taking the digests of a group from
// memo when it holds the very message and the shared hash is the same
// (a digest is a pure function of both), instead of marshalling the group
// again; the hash of an API's definition is taken from memo when its
// group (by name) had the very API message. It also returns the memo of
// gw's groups.
func groupDigestsReusing(gw *configv1.Gateway, memo *digestMemo) (d digests, next *digestMemo) {
	opts := proto.MarshalOptions{Deterministic: true}
	h := sha256.New()
	b, _ := opts.Marshal(without(gw, groupsField))
	frame(h, b)
	d.shared = h.Sum(nil)
	sameShared := memo != nil && bytes.Equal(memo.shared, d.shared)
	next = &digestMemo{shared: d.shared, groups: make(map[*configv1.Group]*groupEntry, len(gw.GetGroups())),
		byName: make(map[string]*configv1.Group, len(gw.GetGroups()))}
	d.groups = make([]string, len(gw.GetGroups()))
	d.apis = make([][]model.Digest, len(gw.GetGroups()))
	for i, g := range gw.GetGroups() {
		e := memo.lookup(g)
		if e == nil || !sameShared {
			e = &groupEntry{}
			b, _ = opts.MarshalAppend(b[:0], g)
			h := sha256.New()
			h.Write(d.shared)
			frame(h, b)
			e.digest = hex.EncodeToString(h.Sum(nil))
			e.apis, e.sums = apiDigests(d.shared, g, memo.apiSums(g), opts)
		}
		d.groups[i], d.apis[i] = e.digest, e.apis
		next.groups[g] = e
		next.byName[g.GetName()] = g
	}
	return d, next
}

// apiDigests returns the digest of each API of g and the hash of its
// definition (taken from known when the API is a message hashed before).
// An API's digest hashes what its model is resolved from: the shared
// hash, the group's own fields (its definition without the APIs), the
// API's definition, and whether an earlier API of the group has its name
// (a later definition is a variant; see model.API.Variant). Two APIs with
// equal digests resolve to equal models, but for what the definitions
// outside the groups bind to their deployments.
func apiDigests(shared []byte, g *configv1.Group, known map[*configv1.Api]apiSum, opts proto.MarshalOptions) ([]model.Digest, []apiSum) {
	b, _ := opts.Marshal(without(g, apisField))
	h := sha256.New()
	frame(h, shared)
	frame(h, b)
	own := h.Sum(nil)
	apis := g.GetApis()
	sums := make([]apiSum, len(apis))
	seen := make(map[string]bool, len(apis))
	var buf [2*sha256.Size + 1]byte
	digests := make([]model.Digest, len(apis))
	for j, a := range apis {
		s, ok := known[a]
		if !ok {
			b, _ = opts.MarshalAppend(b[:0], a)
			s = sha256.Sum256(b)
		}
		sums[j] = s
		m := append(append(buf[:0], own...), s[:]...)
		if seen[a.GetName()] {
			m = append(m, 1)
		} else {
			m = append(m, 0)
		}
		seen[a.GetName()] = true
		digests[j] = sha256.Sum256(m)
	}
	return digests, sums
}

func (m *digestMemo) lookup(g *configv1.Group) *groupEntry {
	if m == nil {
		return nil
	}
	return m.groups[g]
}

// apiSums returns the hashes of the APIs of the group that had g's name,
// by API message (nil if none).
func (m *digestMemo) apiSums(g *configv1.Group) map[*configv1.Api]apiSum {
	if m == nil {
		return nil
	}
	old := m.byName[g.GetName()]
	e := m.groups[old]
	if e == nil {
		return nil
	}
	out := make(map[*configv1.Api]apiSum, len(e.sums))
	for j, a := range old.GetApis() {
		out[a] = e.sums[j]
	}
	return out
}

// without returns a shallow copy of m without the field numbered n (the
// other fields are shared, not copied).
func without(m proto.Message, n protoreflect.FieldNumber) proto.Message {
	src := m.ProtoReflect()
	out := src.Type().New()
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Number() != n {
			out.Set(fd, v)
		}
		return true
	})
	return out.Interface()
}

// version is the snapshot version: a hash of the whole definition (the
// shared and group digests) and of the resolved secrets, so that a secret
// changed in its file or variable yields a new version.
func version(shared []byte, groups []string, secrets [][]byte) string {
	h := sha256.New()
	frame(h, shared)
	for _, g := range groups {
		frame(h, []byte(g))
	}
	for _, s := range secrets {
		frame(h, s)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// groupsField is the number of Gateway.groups, apisField of Group.apis.
var (
	groupsField = (&configv1.Gateway{}).ProtoReflect().Descriptor().Fields().ByName("groups").Number()
	apisField   = (&configv1.Group{}).ProtoReflect().Descriptor().Fields().ByName("apis").Number()
)

// frame writes b to h preceded by its length, so that no two sequences of
// parts hash alike.
func frame(h hash.Hash, b []byte) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
	h.Write(b)
}
