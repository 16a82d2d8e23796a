package xds

import (
	"bytes"
	"context"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
)

// servedRoutes returns the route configuration the server serves.
func servedRoutes(t *testing.T, s *Server) proto.Message {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.served.Resources[types.Route].Items[RouteConfigName]
	if !ok {
		t.Fatal("no route configuration served")
	}
	return r.Resource
}

// TestServedEncoding: the delta responses send the route configuration
// as the encoding Prepare kept (no marshalling), which must be the served
// message's encoding — after a change too: the new configuration's, with
// the change, and never the previous one's; and the client receives
// exactly those bytes (through the server's codec, which sends them
// without a copy).
func TestServedEncoding(t *testing.T) {
	s, conn, _ := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in := recvCh(t, stream.Recv)
	var prev []byte
	for i, variant := range []int{0, 1, 2} {
		// 1,500 APIs: a route configuration of more than a megabyte,
		// which the codec sends without a copy.
		if err := s.Publish(ctx, syntheticSnapshot(t, 1500, variant)); err != nil {
			t.Fatal(err)
		}
		m := servedRoutes(t, s)
		want, err := cachev3.MarshalResource(m)
		if err != nil {
			t.Fatal(err)
		}
		enc := s.encoded(m)
		if !bytes.Equal(enc, want) {
			t.Fatalf("variant %d: the kept encoding (%d bytes) is not the served message's (%d bytes)", variant, len(enc), len(want))
		}
		if bytes.Equal(enc, prev) {
			t.Fatalf("variant %d: the encoding did not change with the configuration", variant)
		}
		prev = enc
		if i == 0 {
			if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: testNode, TypeUrl: resourcev3.RouteType, ResourceNamesSubscribe: []string{RouteConfigName}}); err != nil {
				t.Fatal(err)
			}
		}
		resp := next(t, in, "route configuration")
		if len(resp.GetResources()) != 1 {
			t.Fatalf("variant %d: %d resources, want the route configuration", variant, len(resp.GetResources()))
		}
		if got := resp.GetResources()[0].GetResource().GetValue(); !bytes.Equal(got, want) {
			t.Fatalf("variant %d: the client received %d bytes, not the served message's encoding", variant, len(got))
		}
		if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.RouteType, ResponseNonce: resp.GetNonce()}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEncodedReplaced: the encodings looked up are those of the
// configuration last served; a message of an earlier one has none (it is
// then marshalled, never given another message's bytes).
func TestEncodedReplaced(t *testing.T) {
	s := NewServer(discardLogger(), Options{})
	ctx := context.Background()
	if err := s.Publish(ctx, syntheticSnapshot(t, 20, 0)); err != nil {
		t.Fatal(err)
	}
	old := servedRoutes(t, s)
	if s.encoded(old) == nil {
		t.Fatal("no encoding kept for the served route configuration")
	}
	if err := s.Publish(ctx, syntheticSnapshot(t, 20, 1)); err != nil {
		t.Fatal(err)
	}
	if s.encoded(old) != nil {
		t.Error("an encoding is kept for a route configuration no longer served")
	}
	cur := servedRoutes(t, s)
	want, err := cachev3.MarshalResource(cur)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.encoded(cur), want) {
		t.Error("the kept encoding is not the served message's")
	}
}
