package xds

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/apigwio/apigw/internal/grpccodec"
	"github.com/apigwio/apigw/internal/model"
)

// serverConfig has every resource type: a channel of IPs gives EDS.
const serverConfig = `
channels:
  - name: pool
    members: [{address: "10.0.0.1:8080"}, {address: "10.0.0.2:8080"}]
groups:
  - name: g
    apis:
      - {name: a, method: GET, path: /a, backend: {channel: pool}}
      - {name: b, method: GET, path: /b, backend: {url: "http://10.0.0.9:80"}}
  - name: h
    domains: [h.example.com]
    apis:
      - {name: c, method: GET, path: /c, backend: {mock: {status: 200}}}
`

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Reset empties the buffer.
func (s *syncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

// envoyWindow is Envoy's default HTTP/2 initial stream and connection
// window (256 MiB).
const envoyWindow = 256 << 20

// startServer runs a Server on a loopback gRPC port and returns a client
// connection to it.
func startServer(t testing.TB) (*Server, *grpc.ClientConn, *syncBuffer) {
	t.Helper()
	return startServerOptions(t, Options{})
}

func startServerOptions(t testing.TB, opts Options) (*Server, *grpc.ClientConn, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	s := NewServer(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), opts)
	// The codec of apigw's server (internal/server), which encodes the
	// delta responses of a large route configuration itself.
	g := grpc.NewServer(grpc.ForceServerCodecV2(grpccodec.New()))
	s.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(lis) }()
	t.Cleanup(g.Stop)
	// Like Envoy, accept large messages: a big route configuration is
	// one resource (grpc-go clients default to 4 MB); and like Envoy, open
	// large HTTP/2 flow-control windows (Envoy's default is 256 MiB per
	// stream and connection; grpc-go's starts at 64 KiB).
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30)),
		grpc.WithInitialWindowSize(envoyWindow), grpc.WithInitialConnWindowSize(envoyWindow))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return s, conn, logs
}

var testNode = &corev3.Node{Id: "envoy-1", Cluster: "edge"}

// recvCh delivers the messages of a stream on a channel.
func recvCh[T any](t testing.TB, recv func() (T, error)) <-chan T {
	ch := make(chan T, 16)
	go func() {
		defer close(ch)
		for {
			m, err := recv()
			if err != nil {
				return
			}
			ch <- m
		}
	}()
	return ch
}

func next[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatalf("stream closed waiting for %s", what)
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}

func nothing[T any](t testing.TB, ch <-chan T, what string) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected %s: %v", what, m)
	case <-time.After(300 * time.Millisecond):
	}
}

// badSnapshot is a snapshot Translate refuses.
func badSnapshot(snap *model.Snapshot) *model.Snapshot {
	bad := *snap
	bad.Version = "bad"
	bad.Server.AdvertiseAddress = "no port"
	return &bad
}

// sameRouteConfig checks that a received route configuration decodes to
// exactly the translation of snap (the server sends it assembled from
// stored virtual-host encodings).
func sameRouteConfig(t testing.TB, got *anypb.Any, snap *model.Snapshot) {
	t.Helper()
	rc := &routev3.RouteConfiguration{}
	if err := got.UnmarshalTo(rc); err != nil {
		t.Fatal(err)
	}
	want := translate(t, snap).Routes[0]
	if !proto.Equal(rc, want) {
		t.Errorf("received route configuration differs from the translation:\n%s", firstDiff(string(marshalJSON(t, want)), string(marshalJSON(t, rc))))
	}
}

func routeNames(t testing.TB, resources []*anypb.Any) []string {
	t.Helper()
	var names []string
	for _, a := range resources {
		rc := &routev3.RouteConfiguration{}
		if err := a.UnmarshalTo(rc); err != nil {
			t.Fatal(err)
		}
		for _, vh := range rc.GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				names = append(names, r.GetName())
			}
		}
	}
	return names
}

func TestADSStateOfTheWorld(t *testing.T) {
	s, conn, logs := startServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	snapA := loadYAML(t, "a", serverConfig)
	if err := s.Publish(ctx, snapA); err != nil {
		t.Fatal(err)
	}
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in := recvCh(t, stream.Recv)
	send := func(r *discoveryv3.DiscoveryRequest) {
		t.Helper()
		if err := stream.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	// Subscribe to every type, the way Envoy does, and ACK each response.
	last := map[string]*discoveryv3.DiscoveryResponse{}
	subscribe := func(typeURL string, names ...string) {
		t.Helper()
		send(&discoveryv3.DiscoveryRequest{Node: testNode, TypeUrl: typeURL, ResourceNames: names})
		resp := next(t, in, typeURL)
		if resp.GetTypeUrl() != typeURL || resp.GetVersionInfo() != snapA.Version || len(resp.GetResources()) == 0 {
			t.Fatalf("response %s version %s with %d resources, want %s version %s", resp.GetTypeUrl(), resp.GetVersionInfo(), len(resp.GetResources()), typeURL, snapA.Version)
		}
		last[typeURL] = resp
		send(&discoveryv3.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: names, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()})
	}
	subscribe(resourcev3.ClusterType)
	subscribe(resourcev3.EndpointType, "channel.pool")
	subscribe(resourcev3.ListenerType)
	subscribe(resourcev3.RouteType, RouteConfigName)
	if got := len(last[resourcev3.ClusterType].GetResources()); got != 3 {
		t.Errorf("%d clusters, want 3 (authz, channel, url)", got)
	}

	// A new configuration reaches the stream.
	snapB := loadYAML(t, "b", strings.Replace(serverConfig, "path: /b", "path: /b2", 1))
	if err := s.Publish(ctx, snapB); err != nil {
		t.Fatal(err)
	}
	// Every type gets the new version (the version is global); routes are
	// left un-ACKed for the NACK below.
	updated := map[string]bool{}
	for len(updated) < 4 {
		resp := next(t, in, "update to "+snapB.Version)
		if resp.GetVersionInfo() != snapB.Version {
			t.Fatalf("update has version %s, want %s", resp.GetVersionInfo(), snapB.Version)
		}
		updated[resp.GetTypeUrl()] = true
		last[resp.GetTypeUrl()] = resp
		if resp.GetTypeUrl() != resourcev3.RouteType {
			send(&discoveryv3.DiscoveryRequest{TypeUrl: resp.GetTypeUrl(), VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()})
		}
	}
	if names := routeNames(t, last[resourcev3.RouteType].GetResources()); !strings.Contains(strings.Join(names, ","), "g/b|RELEASE") {
		t.Fatalf("routes %v", names)
	}
	sameRouteConfig(t, last[resourcev3.RouteType].GetResources()[0], snapB)

	// An invalid configuration is refused and nothing is sent.
	if err := s.Publish(ctx, badSnapshot(snapB)); err == nil || !strings.Contains(err.Error(), "advertise address") {
		t.Fatalf("Publish(bad) = %v, want the translation error", err)
	}
	nothing(t, in, "response after a refused Publish")
	if st := s.Status(); st.Version != snapB.Version {
		t.Errorf("status version %s after a refused Publish, want %s", st.Version, snapB.Version)
	}

	// Envoy rejects the routes: the NACK is logged and shown in Status.
	rds := last[resourcev3.RouteType]
	send(&discoveryv3.DiscoveryRequest{
		TypeUrl: resourcev3.RouteType, ResourceNames: []string{RouteConfigName},
		VersionInfo: snapA.Version, ResponseNonce: rds.GetNonce(),
		ErrorDetail: &status.Status{Code: 3, Message: "Proto constraint validation failed (route: bad)"},
	})
	waitFor(t, "the NACK in Status", func() bool {
		n := nodeStatus(s.Status(), "envoy-1")
		return n != nil && n.LastNACK != nil
	})
	n := nodeStatus(s.Status(), "envoy-1")
	if n.LastNACK.Version != snapB.Version || n.LastNACK.Type != "route" || !strings.Contains(n.LastNACK.Message, "route: bad") {
		t.Errorf("last NACK = %+v", n.LastNACK)
	}
	if n.Cluster != "edge" || !n.Connected || n.Acked["cluster"] != snapB.Version || n.Acked["route"] != snapA.Version {
		t.Errorf("node status = %+v", n)
	}
	if st := s.Status(); st.NACKs != 1 || st.ACKs == 0 {
		t.Errorf("ACK/NACK counts = %d/%d, want some ACKs and 1 NACK", st.ACKs, st.NACKs)
	}
	if !strings.Contains(logs.String(), "NACK") || !strings.Contains(logs.String(), "route: bad") {
		t.Errorf("the NACK is not logged:\n%s", logs.String())
	}
	js, err := json.Marshal(s.Status())
	if err != nil || !bytes.Contains(js, []byte(`"last_nack":{"version":"`+snapB.Version+`","type":"route"`)) {
		t.Errorf("status JSON %s (%v)", js, err)
	}

	// Closing the stream disconnects the node.
	cancel()
	waitFor(t, "the node to disconnect", func() bool {
		n := nodeStatus(s.Status(), "envoy-1")
		return n != nil && !n.Connected
	})
}

func TestADSDelta(t *testing.T) {
	const drain = time.Second
	s, conn, _ := startServerOptions(t, Options{ClusterDrain: drain})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	snapA := loadYAML(t, "a", serverConfig)
	if err := s.Publish(ctx, snapA); err != nil {
		t.Fatal(err)
	}
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	in := recvCh(t, stream.Recv)
	send := func(r *discoveryv3.DeltaDiscoveryRequest) {
		t.Helper()
		if err := stream.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	subscribe := func(typeURL string, names ...string) *discoveryv3.DeltaDiscoveryResponse {
		t.Helper()
		send(&discoveryv3.DeltaDiscoveryRequest{Node: testNode, TypeUrl: typeURL, ResourceNamesSubscribe: names})
		resp := next(t, in, typeURL)
		if resp.GetTypeUrl() != typeURL || len(resp.GetResources()) == 0 || resp.GetSystemVersionInfo() != snapA.Version {
			t.Fatalf("delta response %s (%s) with %d resources", resp.GetTypeUrl(), resp.GetSystemVersionInfo(), len(resp.GetResources()))
		}
		hasPresetVersions(t, s, resp)
		send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: typeURL, ResponseNonce: resp.GetNonce()})
		return resp
	}
	clusters := subscribe(resourcev3.ClusterType)
	subscribe(resourcev3.EndpointType, "channel.pool")
	subscribe(resourcev3.ListenerType)
	sameRouteConfig(t, subscribe(resourcev3.RouteType, RouteConfigName).GetResources()[0].GetResource(), snapA)
	if len(clusters.GetResources()) != 3 {
		t.Errorf("%d clusters", len(clusters.GetResources()))
	}

	// Only what changed is sent: the route configuration and the new
	// cluster. The cluster no longer used is removed only after the drain
	// (make before break: Envoy may apply a removal before the route
	// update).
	snapB := loadYAML(t, "b", strings.Replace(serverConfig, `url: "http://10.0.0.9:80"`, `url: "http://10.0.0.8:80"`, 1))
	published := time.Now()
	if err := s.Publish(ctx, snapB); err != nil {
		t.Fatal(err)
	}
	got := map[string]*discoveryv3.DeltaDiscoveryResponse{}
	for len(got) < 2 {
		resp := next(t, in, "delta update")
		got[resp.GetTypeUrl()] = resp
		send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()})
	}
	cds := got[resourcev3.ClusterType]
	if cds == nil || len(cds.GetResources()) != 1 || cds.GetResources()[0].GetName() != "url.http.10.0.0.8.80" ||
		len(cds.GetRemovedResources()) != 0 {
		t.Errorf("cluster delta = %v", cds)
	}
	if rds := got[resourcev3.RouteType]; rds == nil || len(rds.GetResources()) != 1 {
		t.Errorf("route delta = %v", rds)
	} else {
		sameRouteConfig(t, rds.GetResources()[0].GetResource(), snapB)
		hasPresetVersions(t, s, rds)
		// The route configuration's version is a hash of its parts, not
		// go-control-plane's hash of its 10 MB (at 10,000 APIs) encoding.
		if r := rds.GetResources()[0]; r.GetVersion() == cachev3.HashResource(r.GetResource().GetValue()) {
			t.Errorf("route configuration version %s is go-control-plane's hash of the encoding", r.GetVersion())
		}
	}
	hasPresetVersions(t, s, cds)
	nothing(t, in, "delta update for an unchanged type")

	waitFor(t, "ACKs in Status", func() bool {
		n := nodeStatus(s.Status(), "envoy-1")
		return n != nil && n.Acked["cluster"] == snapB.Version && n.Acked["route"] == snapB.Version && n.Acked["listener"] == snapA.Version
	})

	// After the drain, the removal alone.
	removal := next(t, in, "the drained cluster's removal")
	if d := time.Since(published); d < drain {
		t.Errorf("cluster removed after %v, before the %v drain", d, drain)
	}
	if removal.GetTypeUrl() != resourcev3.ClusterType || len(removal.GetResources()) != 0 ||
		strings.Join(removal.GetRemovedResources(), ",") != "url.http.10.0.0.9.80" {
		t.Errorf("removal = %v", removal)
	}
	send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: removal.GetTypeUrl(), ResponseNonce: removal.GetNonce()})
	cds = removal
	nothing(t, in, "delta update after the drain")

	// A NACK on the delta stream.
	send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: cds.GetNonce(),
		ErrorDetail: &status.Status{Code: 3, Message: "cluster rejected"}})
	waitFor(t, "the delta NACK in Status", func() bool {
		n := nodeStatus(s.Status(), "envoy-1")
		return n != nil && n.LastNACK != nil && n.LastNACK.Version == snapB.Version && n.LastNACK.Type == "cluster"
	})
}

// hasPresetVersions checks that every resource of resp carries the version
// Publish computed (the served snapshot's VersionMap).
func hasPresetVersions(t testing.TB, s *Server, resp *discoveryv3.DeltaDiscoveryResponse) {
	t.Helper()
	s.mu.Lock()
	versions := s.served.VersionMap[resp.GetTypeUrl()]
	s.mu.Unlock()
	for _, r := range resp.GetResources() {
		if want := versions[r.GetName()]; r.GetVersion() != want || want == "" {
			t.Errorf("%s %s: version %q, want the snapshot's %q", resp.GetTypeUrl(), r.GetName(), r.GetVersion(), want)
		}
	}
}

// TestPublish covers Publish without a client: unchanged configurations
// are not republished, refused ones change nothing, late nodes get the
// current snapshot.
func TestPublish(t *testing.T) {
	s, conn, _ := startServer(t)
	ctx := context.Background()
	if err := s.Publish(ctx, nil); err == nil {
		t.Error("Publish(nil) succeeded")
	}
	if st := s.Status(); st.Version != "" || len(st.Nodes) != 0 {
		t.Errorf("initial status %+v", st)
	}
	snap := loadYAML(t, "a", serverConfig)
	if err := s.Publish(ctx, snap); err != nil {
		t.Fatal(err)
	}
	first := s.Status().PublishedAt
	if err := s.Publish(ctx, snap); err != nil {
		t.Fatal(err)
	}
	if s.Status().PublishedAt != first {
		t.Error("republishing the same version replaced the snapshot")
	}
	if err := s.Publish(ctx, badSnapshot(snap)); err == nil {
		t.Error("bad snapshot published")
	}
	// A snapshot without version gets a content hash.
	noVersion := *snap
	noVersion.Version = ""
	if err := s.Publish(ctx, &noVersion); err != nil {
		t.Fatal(err)
	}
	v := s.Status().Version
	if !strings.HasPrefix(v, "h") || len(v) != 17 {
		t.Errorf("hash version %q", v)
	}
	// A node connecting now (any id) gets the current snapshot.
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.CloseSend()
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "late"}, TypeUrl: resourcev3.ListenerType}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil || resp.GetVersionInfo() != v {
		t.Fatalf("late node got %v (%v), want version %s", resp.GetVersionInfo(), err, v)
	}
}

func nodeStatus(st Status, id string) *NodeStatus {
	for i := range st.Nodes {
		if st.Nodes[i].ID == id {
			return &st.Nodes[i]
		}
	}
	return nil
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClusterDrain: a channel the configuration stops using keeps its
// cluster and endpoints (a consistent snapshot) for the drain, then both go.
func TestClusterDrain(t *testing.T) {
	const drain = 300 * time.Millisecond
	s, _, _ := startServerOptions(t, Options{ClusterDrain: drain})
	ctx := context.Background()
	if err := s.Publish(ctx, loadYAML(t, "a", serverConfig)); err != nil {
		t.Fatal(err)
	}
	served := func() *cachev3.Snapshot {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.served
	}
	has := func(snap *cachev3.Snapshot) (cluster, endpoint bool) {
		_, cluster = snap.Resources[types.Cluster].Items["channel.pool"]
		_, endpoint = snap.Resources[types.Endpoint].Items["channel.pool"]
		return
	}
	without := strings.Replace(serverConfig, "backend: {channel: pool}", `backend: {url: "http://10.0.0.7:80"}`, 1)
	if err := s.Publish(ctx, loadYAML(t, "b", without)); err != nil {
		t.Fatal(err)
	}
	snap := served()
	if c, e := has(snap); !c || !e {
		t.Fatalf("right after the change: channel cluster %v, endpoints %v; want both kept", c, e)
	}
	if err := snap.Consistent(); err != nil {
		t.Errorf("draining snapshot inconsistent: %v", err)
	}
	if _, ok := snap.Resources[types.Cluster].Items["url.http.10.0.0.7.80"]; !ok {
		t.Error("the new cluster is not served")
	}
	waitFor(t, "the drained channel to go", func() bool {
		c, e := has(served())
		return !c && !e
	})
	if err := served().Consistent(); err != nil {
		t.Errorf("snapshot after the drain inconsistent: %v", err)
	}
}

// TestPublishedIsTranslation: after Publishes that reuse the memo (whose
// virtual hosts are stubs standing for their encodings), what the server
// serves decodes to the translation of the configuration published.
func TestPublishedIsTranslation(t *testing.T) {
	s := NewServer(nil, Options{})
	for _, variant := range []int{0, 1, 2, 0, 0} {
		snap := syntheticSnapshot(t, 1000, variant)
		if err := s.Publish(context.Background(), snap); err != nil {
			t.Fatal(err)
		}
		want, err := Translate(snap, Options{})
		if err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		cs := s.current
		memo := s.memo
		s.mu.Unlock()
		for _, o := range memo.groups {
			if !o.stub || len(o.vh.GetRoutes()) != 0 {
				t.Fatal("the memo keeps route messages")
			}
		}
		served := cs.Resources[types.Route].Items[RouteConfigName].Resource
		b, err := proto.Marshal(served)
		if err != nil {
			t.Fatal(err)
		}
		got := &routev3.RouteConfiguration{}
		if err := proto.Unmarshal(b, got); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, want.Routes[0]) {
			t.Fatalf("variant %d: the served route configuration is not the translation", variant)
		}
		if n := len(cs.Resources[types.Cluster].Items); n != len(want.Clusters) {
			t.Fatalf("variant %d: %d clusters served, want %d", variant, n, len(want.Clusters))
		}
		for _, c := range want.Clusters {
			if !proto.Equal(cs.Resources[types.Cluster].Items[c.GetName()].Resource, c) {
				t.Fatalf("variant %d: cluster %s is not the translation", variant, c.GetName())
			}
		}
	}
}

// TestStatusDoesNotWaitForPublish: Status and CertificateStatus (the
// admin port's /debug/xds and /debug/reload) answer while a Publish holds
// the server's lock (its commit serves the snapshot under it).
func TestStatusDoesNotWaitForPublish(t *testing.T) {
	s, _, _ := startServer(t)
	snap := loadYAML(t, "a", serverConfig)
	if err := s.Publish(context.Background(), snap); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock() // a Publish in progress
	defer s.mu.Unlock()
	got := make(chan Status, 1)
	go func() {
		st := s.Status()
		st.Certificates = s.CertificateStatus()
		got <- st
	}()
	select {
	case st := <-got:
		if st.Version != snap.Version || st.PublishedAt.IsZero() {
			t.Errorf("status during a publish: version %q at %v, want %q", st.Version, st.PublishedAt, snap.Version)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Status waited for the Publish in progress")
	}
}
