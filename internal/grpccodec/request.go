package grpccodec

import (
	"sync"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Request is a CheckRequest that the codec decodes into the nested
// messages and maps of the request decoded into it before (reset), instead
// of allocating them: about 20 allocations fewer per Check from Envoy,
// among them the header map and its growth. Requests are pooled:
// GetRequest takes one, Release gives it back once nothing uses the
// message any more (RegisterAuthorization's Check handler releases it when
// Check has returned).
//
// The request's raw_body (and the raw_value of its header_map entries)
// is a slice of the buffer the request was decoded from — gRPC's, or for a
// request in several buffers one of the server's pool (buffers) —, which the Request holds
// until Release and which is then reused: raw_body is not copied on
// decoding (a copy of the whole body per Check), and must not be kept, nor
// written to, past Release; whoever keeps it copies it. Strings are never
// reused (each decoding allocates its own; strings are immutable), so a
// string that outlives the Check is safe; a nested message, a map, a bytes
// field or the CheckRequest itself must not outlive it.
type Request struct {
	msg   authv3.CheckRequest
	spare spare
	buf   mem.Buffer // what msg was decoded from, when raw_body is a slice of it
}

// requests are the pooled Requests.
var requests = sync.Pool{New: func() any { return new(Request) }}

// GetRequest returns an empty Request from the pool (release it with
// Release).
func GetRequest() *Request { return requests.Get().(*Request) }

// Message is the CheckRequest r was decoded into. It is valid until
// r.Release.
func (r *Request) Message() *authv3.CheckRequest { return &r.msg }

// decode decodes data, a CheckRequest, into r's message, as Unmarshal
// decodes a *CheckRequest, except that bytes fields are slices of the
// buffer data is in (materialized into one of the server's pool, buffers,
// when it is in several), which r keeps until Release. proto.Unmarshal (a request the decoder gives up on) copies
// what it keeps: the buffer is then freed at once.
func (r *Request) decode(data mem.BufferSlice) error {
	r.free()
	buf := data.MaterializeToBuffer(buffers)
	if decodeCheckRequest(buf.ReadOnlyData(), &r.msg, true, &r.spare) {
		r.buf = buf
		return nil
	}
	err := proto.Unmarshal(buf.ReadOnlyData(), &r.msg)
	buf.Free()
	return err
}

// free gives back the buffer r's message was decoded from (its bytes
// fields are slices of it: reset the message first).
func (r *Request) free() {
	if r.buf != nil {
		r.buf.Free()
		r.buf = nil
	}
}

// Release resets r — its message, nested messages and maps, so that the
// pool keeps no string or body of the request alive —, gives back the
// buffer it was decoded from, and gives r back to the pool. Nothing may
// use r or anything of its message but strings afterwards.
func (r *Request) Release() {
	r.msg.Reset()
	r.spare.reset()
	r.free()
	requests.Put(r)
}

// maxReusedMap is the most entries a reused map may have held: a larger
// one (a request with many headers) is dropped, so that pooled requests do
// not keep large maps.
const maxReusedMap = 64

// spare holds a Request's nested messages and maps between decodings. The
// decoder takes them from here (reset) when it needs one; a nil *spare
// allocates new ones (UnmarshalCheckRequest, DecodeCheckRequest). Each slot
// is linked into the request at most once per decoding: the decoder takes a
// message only where its parent's field is nil, and every parent is itself
// taken once.
type spare struct {
	attrs   *authv3.AttributeContext
	peers   [2]peerSpare // source, destination
	req     *authv3.AttributeContext_Request
	httpReq *authv3.AttributeContext_HttpRequest
	time    *timestamppb.Timestamp
	tls     *authv3.AttributeContext_TLSSession
	meta    [2]*corev3.Metadata // metadata_context, route_metadata_context (only empty ones are decoded)
	headers map[string]string
	exts    map[string]string
}

// peerSpare holds a Peer's nested messages and labels.
type peerSpare struct {
	peer   *authv3.AttributeContext_Peer
	addr   *corev3.Address
	oneof  *corev3.Address_SocketAddress
	sock   *corev3.SocketAddress
	port   *corev3.SocketAddress_PortValue
	labels map[string]string
}

// resetter is a generated message (Reset clears every field and unknown
// fields).
type resetter[T any] interface {
	*T
	Reset()
}

// reuse returns *slot reset, or a new message kept in *slot.
func reuse[T any, P resetter[T]](slot *P) P {
	if *slot == nil {
		*slot = new(T)
	} else {
		(*slot).Reset()
	}
	return *slot
}

// reuseMap returns *slot emptied, or a new map kept in *slot (with a nil
// slot, not kept) with room for the fields numbered num of msg.
func reuseMap(slot *map[string]string, msg []byte, num protowire.Number) map[string]string {
	if slot != nil && *slot != nil && len(*slot) <= maxReusedMap {
		clear(*slot)
		return *slot
	}
	m := make(map[string]string, count(msg, num))
	if slot != nil {
		*slot = m
	}
	return m
}

// reset drops every reference the spare messages and maps hold (strings,
// bodies), keeping the messages and maps.
func (s *spare) reset() {
	resetMsg(s.attrs)
	resetMsg(s.req)
	resetMsg(s.httpReq)
	resetMsg(s.time)
	resetMsg(s.tls)
	resetMsg(s.meta[0])
	resetMsg(s.meta[1])
	if len(s.headers) > maxReusedMap {
		s.headers = nil
	}
	if len(s.exts) > maxReusedMap {
		s.exts = nil
	}
	clear(s.headers)
	clear(s.exts)
	for i := range s.peers {
		p := &s.peers[i]
		resetMsg(p.peer)
		resetMsg(p.addr)
		resetMsg(p.sock)
		if p.oneof != nil {
			p.oneof.SocketAddress = nil
		}
		if p.port != nil {
			p.port.PortValue = 0
		}
		if len(p.labels) > maxReusedMap {
			p.labels = nil
		}
		clear(p.labels)
	}
}

// resetMsg resets m unless it is nil.
func resetMsg[T any, P resetter[T]](m P) {
	if m != nil {
		m.Reset()
	}
}

// The takers: a message or map from s, or a new one when s is nil.

func (s *spare) attributes() *authv3.AttributeContext {
	if s == nil {
		return &authv3.AttributeContext{}
	}
	return reuse(&s.attrs)
}

func (s *spare) peer(i int) *peerSpare {
	if s == nil {
		return nil
	}
	return &s.peers[i]
}

func (s *spare) request() *authv3.AttributeContext_Request {
	if s == nil {
		return &authv3.AttributeContext_Request{}
	}
	return reuse(&s.req)
}

func (s *spare) http() *authv3.AttributeContext_HttpRequest {
	if s == nil {
		return &authv3.AttributeContext_HttpRequest{}
	}
	return reuse(&s.httpReq)
}

func (s *spare) timestamp() *timestamppb.Timestamp {
	if s == nil {
		return &timestamppb.Timestamp{}
	}
	return reuse(&s.time)
}

func (s *spare) tlsSession() *authv3.AttributeContext_TLSSession {
	if s == nil {
		return &authv3.AttributeContext_TLSSession{}
	}
	return reuse(&s.tls)
}

// metadata is an empty Metadata: i 0 for metadata_context, 1 for
// route_metadata_context.
func (s *spare) metadata(i int) *corev3.Metadata {
	if s == nil {
		return &corev3.Metadata{}
	}
	return reuse(&s.meta[i])
}

func (s *spare) headerMap() *map[string]string {
	if s == nil {
		return nil
	}
	return &s.headers
}

func (s *spare) extensionMap() *map[string]string {
	if s == nil {
		return nil
	}
	return &s.exts
}

func (s *peerSpare) message() *authv3.AttributeContext_Peer {
	if s == nil {
		return &authv3.AttributeContext_Peer{}
	}
	return reuse(&s.peer)
}

func (s *peerSpare) address() *corev3.Address {
	if s == nil {
		return &corev3.Address{}
	}
	return reuse(&s.addr)
}

func (s *peerSpare) socketAddressOneof() *corev3.Address_SocketAddress {
	if s == nil {
		return &corev3.Address_SocketAddress{}
	}
	if s.oneof == nil {
		s.oneof = &corev3.Address_SocketAddress{}
	}
	s.oneof.SocketAddress = nil
	return s.oneof
}

func (s *peerSpare) socketAddress() *corev3.SocketAddress {
	if s == nil {
		return &corev3.SocketAddress{}
	}
	return reuse(&s.sock)
}

func (s *peerSpare) portValue(v uint32) *corev3.SocketAddress_PortValue {
	if s == nil {
		return &corev3.SocketAddress_PortValue{PortValue: v}
	}
	if s.port == nil {
		s.port = &corev3.SocketAddress_PortValue{}
	}
	s.port.PortValue = v
	return s.port
}

func (s *peerSpare) labelMap() *map[string]string {
	if s == nil {
		return nil
	}
	return &s.labels
}
