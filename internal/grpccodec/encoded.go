package grpccodec

import (
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/mem"
)

// Encoded is a CheckResponse encoded once, by this codec, for answers that
// repeat (Encode): the codec sends its bytes as they are, which are never
// written to, so one Encoded may answer any number of Checks at once.
type Encoded struct {
	buf mem.Buffer // a mem.SliceBuffer of the bytes, boxed once
}

// Encode encodes resp as the codec encodes it for the wire (Marshal); the
// Encoded holds only the bytes (resp is not read again).
func Encode(resp *authv3.CheckResponse) (*Encoded, error) {
	data, err := New().Marshal(resp)
	if err != nil {
		return nil, err
	}
	b := data.Materialize()
	data.Free()
	return &Encoded{buf: mem.SliceBuffer(b)}, nil
}

// Bytes are the encoded response (read-only).
func (e *Encoded) Bytes() []byte { return e.buf.ReadOnlyData() }
