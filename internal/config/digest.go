package config

// Digests and versions: how unchanged groups are recognised across reloads,
// and the version a snapshot is published under.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// groupDigests hashes what each group's model is resolved from: the
// group's own definition and everything defined outside the groups
// (settings, environments, channels, policies, apps; not the resolved
// secret values, which no group model holds). Two groups with equal
// digests resolve to equal models: Build reuses the model of an unchanged
// group, and the xDS translator its translation. shared is the hash of
// the definitions outside the groups.
func groupDigests(gw *configv1.Gateway) (shared []byte, groups []string) {
	shared, groups, _ = groupDigestsReusing(gw, nil)
	return shared, groups
}

// digestMemo is the digests of one configuration's groups, by parsed
// group message (a Parser's groups are the same messages while their text
// is unchanged), with the shared hash they were computed with.
type digestMemo struct {
	shared []byte
	groups map[*configv1.Group]string
}

// groupDigestsReusing is groupDigests taking the digest of a group from
// memo when it holds the very message and the shared hash is the same
// (a digest is a pure function of both), instead of marshalling the group
// again. It also returns the memo of gw's groups.
func groupDigestsReusing(gw *configv1.Gateway, memo *digestMemo) (shared []byte, groups []string, next *digestMemo) {
	opts := proto.MarshalOptions{Deterministic: true}
	// A shallow copy without the groups (the fields are shared, not copied).
	outside := &configv1.Gateway{}
	gw.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Number() != groupsField {
			outside.ProtoReflect().Set(fd, v)
		}
		return true
	})
	h := sha256.New()
	b, _ := opts.Marshal(outside)
	frame(h, b)
	shared = h.Sum(nil)
	if memo != nil && !bytes.Equal(memo.shared, shared) {
		memo = nil
	}
	next = &digestMemo{shared: shared, groups: make(map[*configv1.Group]string, len(gw.GetGroups()))}
	groups = make([]string, len(gw.GetGroups()))
	for i, g := range gw.GetGroups() {
		if d, ok := memo.lookup(g); ok {
			groups[i] = d
		} else {
			b, _ = opts.MarshalAppend(b[:0], g)
			h := sha256.New()
			h.Write(shared)
			frame(h, b)
			groups[i] = hex.EncodeToString(h.Sum(nil))
		}
		next.groups[g] = groups[i]
	}
	return shared, groups, next
}

func (m *digestMemo) lookup(g *configv1.Group) (string, bool) {
	if m == nil {
		return "", false
	}
	d, ok := m.groups[g]
	return d, ok
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

// groupsField is the number of Gateway.groups.
var groupsField = (&configv1.Gateway{}).ProtoReflect().Descriptor().Fields().ByName("groups").Number()

// frame writes b to h preceded by its length, so that no two sequences of
// parts hash alike.
func frame(h hash.Hash, b []byte) {
	var n [binary.MaxVarintLen64]byte
	h.Write(n[:binary.PutUvarint(n[:], uint64(len(b)))])
	h.Write(b)
}
