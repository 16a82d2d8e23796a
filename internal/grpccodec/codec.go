// Package grpccodec is the gRPC codec of apigw's server.
package grpccodec

import (
	"fmt"
	"slices"
	"unicode/utf8"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/proto" // registers the "proto" codec this one falls back to
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	vtstructpb "github.com/planetscale/vtprotobuf/types/known/structpb"
)

// vtMarshaler is what go-control-plane's vtprotobuf code adds to its
// messages when built with the vtprotobuf build tag (the Makefile's
// GOFLAGS): a size and a marshaller that write without protobuf's
// reflection.
type vtMarshaler interface {
	SizeVT() int
	MarshalToSizedBufferVTStrict([]byte) (int, error)
}

// checkCodec is the gRPC codec of the service: a DeltaDiscoveryResponse
// holding a large resource is encoded by marshalDelta (the resource's bytes
// are sent without a copy); CheckResponses are encoded
// with go-control-plane's vtprotobuf marshaller when the binary has it
// (built with -tags vtprotobuf), everything else — requests, xDS, health,
// rate limit — by grpc-go's proto codec. The vtprotobuf encoding writes the
// same bytes as proto.Marshal (fields in number order, unknown fields
// last; map entries in Go's random map order, as proto.Marshal does):
// TestCheckCodecBytes compares them for a table of real responses.
// CheckRequests are decoded by UnmarshalCheckRequest, a hand-written
// decoder that falls back to proto.Unmarshal (go-control-plane generates
// no UnmarshalVT); everything else by grpc-go's proto codec.
type checkCodec struct {
	proto encoding.CodecV2
}

// New returns the codec (for grpc.ForceServerCodecV2).
func New() encoding.CodecV2 {
	return checkCodec{proto: encoding.GetCodecV2("proto")}
}

// Name is "proto": the codec is the proto codec for every peer.
func (checkCodec) Name() string { return "proto" }

func (c checkCodec) Marshal(v any) (mem.BufferSlice, error) {
	if e, ok := v.(*Encoded); ok {
		return mem.BufferSlice{e.buf}, nil
	}
	if d, ok := v.(*discoveryv3.DeltaDiscoveryResponse); ok {
		if out, done, err := marshalDelta(d); done {
			return out, err
		}
	}
	resp, ok := v.(*authv3.CheckResponse)
	if !ok || !VT() {
		return c.proto.Marshal(v)
	}
	sz := responseSize(resp)
	size := sz.total
	if mem.IsBelowBufferPoolingThreshold(size) {
		buf := make([]byte, 0, size)
		buf, err := appendResponse(buf, resp, sz)
		if err != nil {
			return nil, err
		}
		return mem.BufferSlice{mem.SliceBuffer(buf)}, nil
	}
	pool := mem.DefaultBufferPool()
	buf := pool.Get(size)
	out, err := appendResponse((*buf)[:0], resp, sz)
	if err != nil {
		pool.Put(buf)
		return nil, err
	}
	*buf = out
	return mem.BufferSlice{mem.NewBuffer(buf, pool)}, nil
}

// The CheckResponse itself is written here, in proto.Marshal's order —
// status (1), dynamic_metadata (4), then the http_response oneof (2, 3 or
// 5), then unknown fields — because protobuf-go writes oneof fields after
// the others while vtprotobuf writes every field in number order. The
// messages inside have no oneof of several set fields, and vtprotobuf
// writes them as proto.Marshal does. status (google.rpc.Status, genproto)
// has no vtprotobuf code: written here when it has only a code and a
// message (every status Check answers with), else by proto.Marshal.

const (
	fieldStatus   = 1
	fieldDenied   = 2
	fieldOK       = 3
	fieldMetadata = 4
	fieldError    = 5
)

// oneof returns the http_response's field number and message (0, nil: unset).
func oneof(resp *authv3.CheckResponse) (protowire.Number, vtMarshaler) {
	switch r := resp.HttpResponse.(type) {
	case *authv3.CheckResponse_DeniedResponse:
		return fieldDenied, asVT(r.DeniedResponse)
	case *authv3.CheckResponse_OkResponse:
		return fieldOK, asVT(r.OkResponse)
	case *authv3.CheckResponse_ErrorResponse:
		return fieldError, asVT(r.ErrorResponse)
	}
	return 0, nil
}

// asVT is m's vtprotobuf marshaller: VT() checked the binary has them; a
// nil message is written as an empty one, as proto.Marshal writes a set
// oneof holding a nil message.
func asVT(m any) vtMarshaler { return m.(vtMarshaler) }

func fieldSize(n protowire.Number, size int) int {
	return protowire.SizeTag(n) + protowire.SizeBytes(size)
}

// sizes are the sizes of a CheckResponse's fields (without tag and
// length) and of the whole (responseSize), computed once per encoding.
type sizes struct {
	status, metadata, oneof, total int
	simpleStatus                   bool // status written by appendStatus
}

func responseSize(resp *authv3.CheckResponse) sizes {
	var s sizes
	if resp.Status != nil {
		if s.simpleStatus = simpleStatus(resp.Status); s.simpleStatus {
			s.status = statusSize(resp.Status)
		} else {
			s.status = proto.Size(resp.Status)
		}
		s.total += fieldSize(fieldStatus, s.status)
	}
	if resp.DynamicMetadata != nil {
		s.metadata = (*vtstructpb.Struct)(resp.DynamicMetadata).SizeVT()
		s.total += fieldSize(fieldMetadata, s.metadata)
	}
	if num, m := oneof(resp); m != nil {
		s.oneof = m.SizeVT()
		s.total += fieldSize(num, s.oneof)
	}
	s.total += len(resp.ProtoReflect().GetUnknown())
	return s
}

// appendResponse appends resp to b, sized by responseSize.
func appendResponse(b []byte, resp *authv3.CheckResponse, s sizes) ([]byte, error) {
	start := len(b)
	if resp.Status != nil {
		b = protowire.AppendTag(b, fieldStatus, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(s.status))
		if s.simpleStatus {
			b = appendStatus(b, resp.Status)
		} else {
			var err error
			if b, err = (proto.MarshalOptions{UseCachedSize: true}).MarshalAppend(b, resp.Status); err != nil {
				return nil, err
			}
		}
	}
	var err error
	if resp.DynamicMetadata != nil {
		b, err = appendVT(b, fieldMetadata, (*vtstructpb.Struct)(resp.DynamicMetadata), s.metadata)
		if err != nil {
			return nil, err
		}
	}
	if num, m := oneof(resp); m != nil {
		if b, err = appendVT(b, num, m, s.oneof); err != nil {
			return nil, err
		}
	}
	b = append(b, resp.ProtoReflect().GetUnknown()...)
	if len(b)-start != s.total {
		return nil, fmt.Errorf("CheckResponse encoded in %d bytes, sized %d (modified while encoded?)", len(b)-start, s.total)
	}
	return b, nil
}

// google.rpc.Status fields.
const (
	fieldStatusCode    = 1
	fieldStatusMessage = 2
)

// simpleStatus reports whether st has only a code and a valid UTF-8
// message — no details, no unknown fields —, which appendStatus writes as
// proto.Marshal does (an invalid message is left to proto.Marshal, which
// refuses it).
func simpleStatus(st *status.Status) bool {
	return len(st.Details) == 0 && len(st.ProtoReflect().GetUnknown()) == 0 && utf8.ValidString(st.Message)
}

// statusSize is the encoded size of a simpleStatus.
func statusSize(st *status.Status) int {
	n := 0
	if st.Code != 0 {
		n += protowire.SizeTag(fieldStatusCode) + protowire.SizeVarint(uint64(int64(st.Code)))
	}
	if st.Message != "" {
		n += fieldSize(fieldStatusMessage, len(st.Message))
	}
	return n
}

// appendStatus appends a simpleStatus: proto3 fields in number order,
// zero values omitted, an int32 sign-extended.
func appendStatus(b []byte, st *status.Status) []byte {
	if st.Code != 0 {
		b = protowire.AppendTag(b, fieldStatusCode, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(st.Code)))
	}
	if st.Message != "" {
		b = protowire.AppendTag(b, fieldStatusMessage, protowire.BytesType)
		b = protowire.AppendString(b, st.Message)
	}
	return b
}

// appendVT appends m, n bytes (its SizeVT), as field num.
func appendVT(b []byte, num protowire.Number, m vtMarshaler, n int) ([]byte, error) {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	b = slices.Grow(b, n)
	if _, err := m.MarshalToSizedBufferVTStrict(b[len(b) : len(b)+n]); err != nil {
		return nil, err
	}
	return b[:len(b)+n], nil
}

// Unmarshal decodes CheckRequests with UnmarshalCheckRequest (decode.go),
// everything else with grpc-go's proto codec.
// A *Request (RegisterAuthorization's Check handler) is decoded as its
// CheckRequest, into the nested messages and maps it keeps, and keeps the
// buffer it was decoded from until it is released: its raw_body is a
// slice of that buffer instead of a copy (Request.attach).
func (c checkCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*Request); ok {
		return r.decode(data)
	}
	req, ok := v.(*authv3.CheckRequest)
	if !ok {
		return c.proto.Unmarshal(data, v)
	}
	if len(data) > 1 && data.Len() >= aliasSize {
		// A large request (a forwarded body) comes in several buffers,
		// which grpc-go's codec copies into one pooled buffer and
		// protobuf-go then copies the body out of: copied once instead,
		// into a buffer of the request's own that raw_body is a slice of.
		// Strings are still copied: none aliases the buffer.
		b := data.Materialize()
		if decodeCheckRequest(b, req, true, nil) {
			return nil
		}
		return proto.Unmarshal(b, req)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	if decodeCheckRequest(buf.ReadOnlyData(), req, false, nil) {
		return nil
	}
	return proto.Unmarshal(buf.ReadOnlyData(), req)
}

// aliasSize is the size from which a request in several buffers decoded
// into a *CheckRequest is copied into a buffer of its own instead of one
// of gRPC's pool (Unmarshal).
const aliasSize = 16 << 10

// VT reports whether CheckResponses are encoded by
// vtprotobuf (the binary was built with the vtprotobuf tag).
func VT() bool {
	return vtBuilt
}

var vtBuilt = func() bool {
	_, ok := any(&authv3.CheckResponse{}).(vtMarshaler)
	return ok
}()

func init() {
	if vtBuilt { // every message the encoder writes with vtprotobuf has it
		for _, m := range []any{&authv3.DeniedHttpResponse{}, &authv3.OkHttpResponse{}} {
			if _, ok := m.(vtMarshaler); !ok {
				panic(fmt.Sprintf("grpccodec: %T has no vtprotobuf marshaller", m))
			}
		}
	}
}
