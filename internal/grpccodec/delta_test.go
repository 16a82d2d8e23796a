package grpccodec

import (
	"bytes"
	"strings"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// value returns n bytes of a valid-looking encoding (a string field).
func value(n int, c byte) []byte {
	b := protowire.AppendTag(nil, 1, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(n))
	return append(b, bytes.Repeat([]byte{c}, n)...)
}

func res(name string, n int) *discoveryv3.Resource {
	return &discoveryv3.Resource{Name: name, Version: "v-" + name, Resource: &anypb.Any{TypeUrl: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration", Value: value(n, name[0])}}
}

// TestDeltaCodecBytes checks that a DeltaDiscoveryResponse is encoded with
// the bytes of proto.Marshal, and that the large resources' bytes are sent
// as they are (not copied).
func TestDeltaCodecBytes(t *testing.T) {
	withUnknown := res("unknown", aliasValue)
	withUnknown.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 7))
	anyUnknown := res("anyunknown", aliasValue)
	anyUnknown.Resource.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 7))
	full := res("full", 2*aliasValue)
	full.Aliases = []string{"a", "b"}
	full.Ttl = durationpb.New(5)
	top := &discoveryv3.DeltaDiscoveryResponse{
		SystemVersionInfo: "v1", TypeUrl: "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
		Nonce: "7", RemovedResources: []string{"gone", "old"},
	}
	top.ProtoReflect().SetUnknown(protowire.AppendVarint(protowire.AppendTag(nil, 99, protowire.VarintType), 1))
	tests := []struct {
		name    string
		resp    *discoveryv3.DeltaDiscoveryResponse
		aliased int // resources sent without a copy
	}{
		{"empty", &discoveryv3.DeltaDiscoveryResponse{}, 0},
		{"small only", &discoveryv3.DeltaDiscoveryResponse{Resources: []*discoveryv3.Resource{res("a", 10), res("b", 100)}, TypeUrl: "t", Nonce: "1"}, 0},
		{"one large", &discoveryv3.DeltaDiscoveryResponse{Resources: []*discoveryv3.Resource{res("routes", aliasValue)}, TypeUrl: "t", Nonce: "1", SystemVersionInfo: "abc"}, 1},
		{"just below", &discoveryv3.DeltaDiscoveryResponse{Resources: []*discoveryv3.Resource{res("routes", aliasValue-10)}}, 0},
		{"mixed", &discoveryv3.DeltaDiscoveryResponse{Resources: []*discoveryv3.Resource{res("a", 10), res("large", 3*aliasValue), res("b", 1000), res("c", aliasValue+1), res("d", 1)}, TypeUrl: "t", Nonce: "2", RemovedResources: []string{"x"}}, 2},
		{"resource unknown fields", &discoveryv3.DeltaDiscoveryResponse{Resources: []*discoveryv3.Resource{withUnknown}}, 1},
		{"any unknown fields", &discoveryv3.DeltaDiscoveryResponse{Resources: []*discoveryv3.Resource{anyUnknown, res("l", aliasValue)}}, 1},
		{"every field", &discoveryv3.DeltaDiscoveryResponse{Resources: []*discoveryv3.Resource{full, {Name: "empty"}, {Resource: &anypb.Any{}}}}, 1},
		{"top fields", func() *discoveryv3.DeltaDiscoveryResponse {
			r := proto.Clone(top).(*discoveryv3.DeltaDiscoveryResponse)
			r.Resources = []*discoveryv3.Resource{res("x", aliasValue)}
			return r
		}(), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := proto.Marshal(tt.resp)
			if err != nil {
				t.Fatal(err)
			}
			data, err := New().Marshal(tt.resp)
			if err != nil {
				t.Fatal(err)
			}
			if got := data.Materialize(); !bytes.Equal(got, want) {
				t.Fatalf("encoding differs from proto.Marshal: %d bytes, want %d", len(got), len(want))
			}
			aliased := 0
			for _, r := range tt.resp.Resources {
				v := r.GetResource().GetValue()
				for _, b := range data {
					if d := b.ReadOnlyData(); len(v) > 0 && len(d) == len(v) && &d[0] == &v[0] {
						aliased++
					}
				}
			}
			if aliased != tt.aliased {
				t.Errorf("%d resources sent without a copy, want %d", aliased, tt.aliased)
			}
			var back discoveryv3.DeltaDiscoveryResponse
			if err := New().Unmarshal(data, &back); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(&back, tt.resp) {
				t.Error("decodes to a different message")
			}
		})
	}
}

// FuzzDeltaCodec checks random responses against proto.Marshal.
func FuzzDeltaCodec(f *testing.F) {
	f.Add(uint32(aliasValue), uint32(3), "v", "n", true)
	f.Add(uint32(10), uint32(aliasValue+5), "", "", false)
	f.Fuzz(func(t *testing.T, a, b uint32, version, nonce string, removed bool) {
		r := &discoveryv3.DeltaDiscoveryResponse{SystemVersionInfo: version, Nonce: nonce, TypeUrl: "t"}
		for i, n := range []uint32{a % (2 * aliasValue), b % (2 * aliasValue)} {
			x := res(strings.Repeat("r", i+1), int(n))
			x.Version = version
			r.Resources = append(r.Resources, x)
		}
		if removed {
			r.RemovedResources = []string{nonce, version}
		}
		want, err := proto.Marshal(r)
		if err != nil {
			t.Skip() // invalid UTF-8: proto.Marshal refuses it, and so does the codec
		}
		data, err := New().Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data.Materialize(), want) {
			t.Fatal("encoding differs from proto.Marshal")
		}
	})
}
