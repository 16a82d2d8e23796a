package grpccodec

import (
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// aliasValue is the size from which a resource's encoding (its Any's
// value) in a DeltaDiscoveryResponse is sent as it is, without being
// copied into the message's encoding: the one route configuration of a
// large configuration is ~100 MB, and sent whole on any change.
const aliasValue = 256 << 10

// Field numbers of DeltaDiscoveryResponse.resources, Resource.resource and
// Any.value.
const (
	fieldDeltaResources  = 2
	fieldResourceMessage = 2
	fieldAnyValue        = 2
)

// marshalDelta encodes r as proto.Marshal does (the same bytes, in the
// same order: fields by number, unknown fields last), in several buffers
// of which the values of the large resources (aliasValue) are the
// resources' own bytes, which are not written to (they are read-only, as
// they are for proto.Marshal). It reports false, having done nothing, when
// no resource is large: the caller then encodes r the usual way.
func marshalDelta(r *discoveryv3.DeltaDiscoveryResponse) (mem.BufferSlice, bool, error) {
	large := false
	for _, res := range r.GetResources() {
		if aliasable(res) {
			large = true
			break
		}
	}
	if !large {
		return nil, false, nil
	}
	head, tail := split(r, fieldDeltaResources)
	cur, err := proto.MarshalOptions{}.MarshalAppend(nil, head)
	if err != nil {
		return nil, true, err
	}
	var out mem.BufferSlice
	for _, res := range r.GetResources() {
		if !aliasable(res) {
			size := proto.Size(res)
			cur = protowire.AppendTag(cur, fieldDeltaResources, protowire.BytesType)
			cur = protowire.AppendVarint(cur, uint64(size))
			if cur, err = (proto.MarshalOptions{UseCachedSize: true}).MarshalAppend(cur, res); err != nil {
				return nil, true, err
			}
			continue
		}
		val := res.GetResource().GetValue()
		anyHead, err := proto.Marshal(&anypb.Any{TypeUrl: res.GetResource().GetTypeUrl()})
		if err != nil {
			return nil, true, err
		}
		anySize := len(anyHead) + protowire.SizeTag(fieldAnyValue) + protowire.SizeBytes(len(val))
		before, after := split(res, fieldResourceMessage)
		resBefore, err := proto.Marshal(before)
		if err != nil {
			return nil, true, err
		}
		resAfter, err := proto.Marshal(after)
		if err != nil {
			return nil, true, err
		}
		resSize := len(resBefore) + protowire.SizeTag(fieldResourceMessage) + protowire.SizeBytes(anySize) + len(resAfter)
		cur = protowire.AppendTag(cur, fieldDeltaResources, protowire.BytesType)
		cur = protowire.AppendVarint(cur, uint64(resSize))
		cur = append(cur, resBefore...)
		cur = protowire.AppendTag(cur, fieldResourceMessage, protowire.BytesType)
		cur = protowire.AppendVarint(cur, uint64(anySize))
		cur = append(cur, anyHead...)
		cur = protowire.AppendTag(cur, fieldAnyValue, protowire.BytesType)
		cur = protowire.AppendVarint(cur, uint64(len(val)))
		out = append(out, mem.SliceBuffer(cur), mem.SliceBuffer(val))
		cur = resAfter
	}
	if cur, err = (proto.MarshalOptions{}).MarshalAppend(cur, tail); err != nil {
		return nil, true, err
	}
	if len(cur) > 0 {
		out = append(out, mem.SliceBuffer(cur))
	}
	return out, true, nil
}

// aliasable reports whether res's Any is large and has nothing but a type
// URL and a value (no unknown fields), which marshalDelta writes itself.
func aliasable(res *discoveryv3.Resource) bool {
	a := res.GetResource()
	return len(a.GetValue()) >= aliasValue && len(a.ProtoReflect().GetUnknown()) == 0
}

// split returns two shallow copies of m: one with the fields numbered
// below n, one with those above and m's unknown fields. Their encodings
// around field n's make m's (proto.Marshal writes fields by number, then
// the unknown fields).
func split(m proto.Message, n protoreflect.FieldNumber) (below, above proto.Message) {
	src := m.ProtoReflect()
	lo, hi := src.Type().New(), src.Type().New()
	src.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Number() < n:
			lo.Set(fd, v)
		case fd.Number() > n:
			hi.Set(fd, v)
		}
		return true
	})
	hi.SetUnknown(src.GetUnknown())
	return lo.Interface(), hi.Interface()
}
