package grpccodec

import (
	"slices"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The CheckRequest decoder. go-control-plane generates no UnmarshalVT, and
// protobuf-go's table-driven proto.Unmarshal spent ~16 % of apigw's CPU
// under load decoding CheckRequests, most of it in its generic map decoding
// (the request headers). This decoder reads the fields Envoy sends with
// protowire and fills the same generated types.
//
// It decodes only what it knows exactly and gives up on everything else:
// an unknown field number, a known field with another wire type, a
// non-empty Metadata, a Pipe or internal address, a SocketAddress field
// other than protocol, address and port_value, invalid UTF-8 in a string,
// or malformed input. UnmarshalCheckRequest then decodes the whole message
// again with proto.Unmarshal, so nothing is lost and every error is
// protobuf-go's. Where it decodes, it follows protobuf-go: strings are
// copied (the gRPC buffer is reused; common strings are shared
// constants), bytes too unless the caller keeps the buffer (the codec: a
// pooled Request holds it until released, a large *CheckRequest is given a
// buffer of its own; raw_body is then a slice of it), the last value of a
// scalar field wins, a message field seen twice is merged, a map key seen
// twice keeps its last value, a missing map key or value is "", and proto3
// strings (map keys and values too) must be valid UTF-8.
// FuzzDecodeCheckRequest and FuzzDecodeCheckRequestWire (authz) compare
// the two decoders on arbitrary bytes and on well-formed wire bytes.

// UnmarshalCheckRequest decodes b into m (reset first), as proto.Unmarshal
// does: with the hand-written decoder when it can decode b, else with
// proto.Unmarshal.
func UnmarshalCheckRequest(b []byte, m *authv3.CheckRequest) error {
	if DecodeCheckRequest(b, m) {
		return nil
	}
	return proto.Unmarshal(b, m)
}

// DecodeCheckRequest decodes b into m (reset first) with the hand-written
// decoder and reports whether it could; when it could not, m holds a
// partial decoding and must be decoded again (UnmarshalCheckRequest does).
func DecodeCheckRequest(b []byte, m *authv3.CheckRequest) bool {
	return decodeCheckRequest(b, m, false, nil)
}

// decodeCheckRequest is DecodeCheckRequest; with alias, raw_body and
// header_map raw values are slices of b instead of copies (b must then
// outlive their use, and nothing may write to it meanwhile). With s, nested messages and maps are
// taken from s (a Request's) instead of allocated.
func decodeCheckRequest(b []byte, m *authv3.CheckRequest, alias bool, s *spare) bool {
	proto.Reset(m)
	for len(b) > 0 {
		f, ok := next(&b)
		if !ok || f.num != 1 || f.typ != protowire.BytesType {
			return false
		}
		if m.Attributes == nil {
			m.Attributes = s.attributes()
		}
		if !decodeAttributes(f.val, m.Attributes, alias, s) {
			return false
		}
	}
	return true
}

// field is one field read by next: a varint's value in v, a
// length-delimited field's bytes in val.
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64
	val []byte
}

// next reads one varint or length-delimited field from *b and advances
// *b past it; false for malformed input and any other wire type.
func next(b *[]byte) (field, bool) {
	num, typ, n := protowire.ConsumeTag(*b)
	if n < 0 {
		return field{}, false
	}
	f := field{num: num, typ: typ}
	rest := (*b)[n:]
	switch typ {
	case protowire.VarintType:
		f.v, n = protowire.ConsumeVarint(rest)
	case protowire.BytesType:
		f.val, n = protowire.ConsumeBytes(rest)
	default:
		return field{}, false
	}
	if n < 0 {
		return field{}, false
	}
	*b = rest[n:]
	return f, true
}

// str is a length-delimited field as a proto3 string: a copy, valid UTF-8.
func (f field) str() (string, bool) {
	if f.typ != protowire.BytesType || !utf8.Valid(f.val) {
		return "", false
	}
	return string(f.val), true
}

// common are strings every request repeats — the header names Envoy and
// the signing SDKs send, methods, schemes, protocols, apigw's context
// extension keys — decoded without an allocation each time (a lookup with
// string(b) as the key does not allocate).
var common = func() map[string]string {
	m := map[string]string{}
	for _, s := range []string{
		":authority", ":method", ":path", ":scheme", "accept", "accept-encoding", "accept-language",
		"authorization", "cache-control", "connection", "content-length", "content-type", "cookie",
		"host", "origin", "referer", "user-agent", "x-auth-token", "x-forwarded-for", "x-forwarded-proto",
		"x-request-id", "x-sdk-date", "x-sdk-content-sha256", "x-sdk-nonce", "x-stage", "x-apig-appcode",
		"x-envoy-expected-rq-timeout-ms", "x-envoy-internal", "x-envoy-original-path",
		"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
		"http", "https", "HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/3",
		"apigw.api", "apigw.env", "apigw.dialect", "RELEASE", "application/json",
	} {
		m[s] = s
	}
	return m
}()

// name is str for a string that is often one of common (none is longer
// than 32 bytes).
func (f field) name() (string, bool) {
	if f.typ == protowire.BytesType && len(f.val) <= 32 {
		if s, ok := common[string(f.val)]; ok {
			return s, true
		}
	}
	return f.str()
}

// varint is a varint field's value.
func (f field) varint() (uint64, bool) {
	return f.v, f.typ == protowire.VarintType
}

// message is a length-delimited field's bytes (an embedded message).
func (f field) message() ([]byte, bool) {
	return f.val, f.typ == protowire.BytesType
}

// count is how many fields numbered num b holds (0 if b is malformed: the
// decoding that follows finds out).
func count(b []byte, num protowire.Number) int {
	c := 0
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return 0
		}
		b = b[l:]
		l = protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			return 0
		}
		b = b[l:]
		if n == num {
			c++
		}
	}
	return c
}

// decodeStringMap merges the map<string, string> entry b into m.
func decodeStringMap(b []byte, m map[string]string) bool {
	var k, v string
	for len(b) > 0 {
		f, ok := next(&b)
		if !ok {
			return false
		}
		switch f.num {
		case 1:
			k, ok = f.name()
		case 2:
			v, ok = f.name()
		default:
			return false
		}
		if !ok {
			return false
		}
	}
	m[k] = v
	return true
}

// stringMap returns *m; when it is nil, the spare map emptied or (no spare
// map) a new one with room for the fields numbered num of msg, the
// message being decoded (counted only then).
func stringMap(m, spare *map[string]string, msg []byte, num protowire.Number) map[string]string {
	if *m == nil {
		*m = reuseMap(spare, msg, num)
	}
	return *m
}

func decodeAttributes(b []byte, m *authv3.AttributeContext, alias bool, s *spare) bool {
	msg := b
	for len(b) > 0 {
		f, ok := next(&b)
		if !ok {
			return false
		}
		switch f.num {
		case 1, 2: // source, destination
			sub, ok := f.message()
			if !ok {
				return false
			}
			p, ps := &m.Source, s.peer(0)
			if f.num == 2 {
				p, ps = &m.Destination, s.peer(1)
			}
			if *p == nil {
				*p = ps.message()
			}
			if !decodePeer(sub, *p, ps) {
				return false
			}
		case 4: // request
			sub, ok := f.message()
			if !ok {
				return false
			}
			if m.Request == nil {
				m.Request = s.request()
			}
			if !decodeRequest(sub, m.Request, alias, s) {
				return false
			}
		case 10: // context_extensions
			sub, ok := f.message()
			if !ok || !decodeStringMap(sub, stringMap(&m.ContextExtensions, s.extensionMap(), msg, 10)) {
				return false
			}
		case 11, 13: // metadata_context, route_metadata_context: only empty
			sub, ok := f.message()
			if !ok || len(sub) > 0 {
				return false
			}
			p, i := &m.MetadataContext, 0
			if f.num == 13 {
				p, i = &m.RouteMetadataContext, 1
			}
			if *p == nil {
				*p = s.metadata(i)
			}
		case 12: // tls_session
			sub, ok := f.message()
			if !ok {
				return false
			}
			if m.TlsSession == nil {
				m.TlsSession = s.tlsSession()
			}
			for len(sub) > 0 {
				g, ok := next(&sub)
				if !ok || g.num != 1 {
					return false
				}
				if m.TlsSession.Sni, ok = g.str(); !ok {
					return false
				}
			}
		default:
			return false
		}
	}
	return true
}

func decodePeer(b []byte, m *authv3.AttributeContext_Peer, s *peerSpare) bool {
	msg := b
	for len(b) > 0 {
		f, ok := next(&b)
		if !ok {
			return false
		}
		switch f.num {
		case 1: // address
			sub, ok := f.message()
			if !ok {
				return false
			}
			if m.Address == nil {
				m.Address = s.address()
			}
			if !decodeAddress(sub, m.Address, s) {
				return false
			}
		case 2:
			if m.Service, ok = f.str(); !ok {
				return false
			}
		case 3: // labels
			sub, ok := f.message()
			if !ok || !decodeStringMap(sub, stringMap(&m.Labels, s.labelMap(), msg, 3)) {
				return false
			}
		case 4:
			if m.Principal, ok = f.str(); !ok {
				return false
			}
		case 5:
			if m.Certificate, ok = f.str(); !ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// decodeAddress decodes an Address holding a socket_address (field 1, of
// the address oneof).
func decodeAddress(b []byte, m *corev3.Address, s *peerSpare) bool {
	for len(b) > 0 {
		f, ok := next(&b)
		if !ok || f.num != 1 {
			return false
		}
		sub, ok := f.message()
		if !ok {
			return false
		}
		sa, _ := m.Address.(*corev3.Address_SocketAddress)
		if sa == nil {
			sa = s.socketAddressOneof()
			m.Address = sa
		}
		if sa.SocketAddress == nil {
			sa.SocketAddress = s.socketAddress()
		}
		if !decodeSocketAddress(sub, sa.SocketAddress, s) {
			return false
		}
	}
	return true
}

// decodeSocketAddress decodes protocol, address and port_value.
func decodeSocketAddress(b []byte, m *corev3.SocketAddress, s *peerSpare) bool {
	for len(b) > 0 {
		f, ok := next(&b)
		if !ok {
			return false
		}
		switch f.num {
		case 1:
			v, ok := f.varint()
			if !ok {
				return false
			}
			m.Protocol = corev3.SocketAddress_Protocol(int32(v))
		case 2:
			if m.Address, ok = f.str(); !ok {
				return false
			}
		case 3:
			v, ok := f.varint()
			if !ok {
				return false
			}
			m.PortSpecifier = s.portValue(uint32(v))
		default:
			return false
		}
	}
	return true
}

func decodeRequest(b []byte, m *authv3.AttributeContext_Request, alias bool, s *spare) bool {
	for len(b) > 0 {
		f, ok := next(&b)
		if !ok {
			return false
		}
		sub, ok := f.message()
		if !ok {
			return false
		}
		switch f.num {
		case 1: // time
			if m.Time == nil {
				m.Time = s.timestamp()
			}
			if !decodeTimestamp(sub, m.Time) {
				return false
			}
		case 2: // http
			if m.Http == nil {
				m.Http = s.http()
			}
			if !decodeHTTP(sub, m.Http, alias, s) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func decodeTimestamp(b []byte, m *timestamppb.Timestamp) bool {
	for len(b) > 0 {
		f, ok := next(&b)
		if !ok {
			return false
		}
		v, ok := f.varint()
		if !ok {
			return false
		}
		switch f.num {
		case 1:
			m.Seconds = int64(v)
		case 2:
			m.Nanos = int32(v)
		default:
			return false
		}
	}
	return true
}

func decodeHTTP(b []byte, m *authv3.AttributeContext_HttpRequest, alias bool, s *spare) bool {
	msg := b
	for len(b) > 0 {
		f, ok := next(&b)
		if !ok {
			return false
		}
		switch f.num {
		case 1:
			m.Id, ok = f.str()
		case 2:
			m.Method, ok = f.name()
		case 3: // headers
			var sub []byte
			if sub, ok = f.message(); ok {
				ok = decodeStringMap(sub, stringMap(&m.Headers, s.headerMap(), msg, 3))
			}
		case 4:
			m.Path, ok = f.str()
		case 5:
			m.Host, ok = f.str()
		case 6:
			m.Scheme, ok = f.name()
		case 7:
			m.Query, ok = f.str()
		case 8:
			m.Fragment, ok = f.str()
		case 9:
			var v uint64
			v, ok = f.varint()
			m.Size = int64(v)
		case 10:
			m.Protocol, ok = f.name()
		case 11:
			m.Body, ok = f.str()
		case 12: // raw_body: a copy or with alias a slice, never nil (as protobuf-go)
			if ok = f.typ == protowire.BytesType; ok {
				m.RawBody = bytesField(f.val, alias)
			}
		case 13: // header_map
			var sub []byte
			if sub, ok = f.message(); ok {
				if m.HeaderMap == nil {
					m.HeaderMap = &corev3.HeaderMap{}
				}
				ok = decodeHeaderMap(sub, m.HeaderMap, alias)
			}
		default:
			return false
		}
		if !ok {
			return false
		}
	}
	return true
}

// bytesField is a bytes field's value: with alias a slice of the buffer
// (capacity clipped: an append copies), else a copy; never nil, as
// protobuf-go decodes a present bytes field.
func bytesField(val []byte, alias bool) []byte {
	if alias {
		return val[:len(val):len(val)]
	}
	return append([]byte{}, val...)
}

// decodeHeaderMap appends the HeaderValues of b to m's, allocated
// together; with alias, raw values are slices of b.
func decodeHeaderMap(b []byte, m *corev3.HeaderMap, alias bool) bool {
	values := make([]corev3.HeaderValue, count(b, 1))
	m.Headers = slices.Grow(m.Headers, len(values))
	for len(b) > 0 {
		f, ok := next(&b)
		if !ok || f.num != 1 || len(values) == 0 {
			return false
		}
		sub, ok := f.message()
		if !ok {
			return false
		}
		h := &values[0]
		values = values[1:]
		m.Headers = append(m.Headers, h)
		for len(sub) > 0 {
			g, ok := next(&sub)
			if !ok {
				return false
			}
			switch g.num {
			case 1:
				h.Key, ok = g.name()
			case 2:
				h.Value, ok = g.str()
			case 3:
				if ok = g.typ == protowire.BytesType; ok {
					h.RawValue = bytesField(g.val, alias)
				}
			default:
				return false
			}
			if !ok {
				return false
			}
		}
	}
	return true
}
