package xds

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
)

// TestAheadConverges runs delta ADS clients of clusters and endpoints
// (wildcard: answered ahead) over gRPC, through go-control-plane's delta
// server, while configurations are published one after the other and
// the drain timer serves in between (a short ClusterDrain); some clients
// reconnect with the versions they have, one is slow to acknowledge.
// Once the publishing is over and nothing drains, every client must hold
// exactly the served snapshot's clusters and endpoints, with its
// versions: an update missed, a removal not sent or a stale version
// shows there. Run with -race for the concurrency of streams, answers
// and serves.
func TestAheadConverges(t *testing.T) {
	s, conn, _ := startServerOptions(t, Options{ClusterDrain: 3 * time.Millisecond})
	s.log = discardLogger()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	const (
		m1, m2, m3 = `{address: "10.0.0.1:8080"}`, `{address: "10.0.0.2:8080"}`, `{address: "10.0.0.3:8080"}`
		b          = `      - {name: b, method: GET, path: /b, backend: {url: "http://10.0.0.9:80"}}`
		d          = `      - {name: d, method: GET, path: /d, backend: {url: "http://10.0.0.10:80"}}`
		f          = `      - {name: f, method: GET, path: /f, backend: {url: "http://10.0.0.11:80"}}`
		b19        = `      - {name: b, method: GET, path: /b, backend: {url: "http://10.0.0.19:80", timeout: 7s}}`
	)
	configs := []string{
		aheadConfig(m1+", "+m2, m3, b, d),
		aheadConfig(m1+", "+m2, m3, b, d, f),
		aheadConfig(m1, m3+", "+m2, b19, f),
		aheadConfig(m1, m2),
		aheadConfig(m2, m3+", "+m1, d),
		aheadConfig(m1+", "+m3, m2, b, f),
	}
	if err := s.Publish(ctx, loadYAML(t, "0", configs[0])); err != nil {
		t.Fatal(err)
	}
	types := []string{resourcev3.ClusterType, resourcev3.EndpointType}
	// client holds what one client has, by type and name.
	type client struct {
		mu    sync.Mutex
		state map[string]map[string]string
	}
	var wg sync.WaitGroup
	run := func(c *client, reconnectEvery int, slow bool) {
		defer wg.Done()
		for ctx.Err() == nil {
			sctx, cancel := context.WithCancel(ctx)
			stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(sctx)
			if err != nil {
				cancel()
				return
			}
			for _, typ := range types {
				c.mu.Lock()
				initial := maps.Clone(c.state[typ])
				c.mu.Unlock()
				if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{Node: testNode, TypeUrl: typ, InitialResourceVersions: initial}); err != nil {
					break
				}
			}
			for n := 0; reconnectEvery == 0 || n < reconnectEvery; n++ {
				resp, err := stream.Recv()
				if err != nil {
					break
				}
				c.mu.Lock()
				st := c.state[resp.GetTypeUrl()]
				for _, r := range resp.GetResources() {
					st[r.GetName()] = r.GetVersion()
				}
				for _, name := range resp.GetRemovedResources() {
					delete(st, name)
				}
				c.mu.Unlock()
				if slow {
					time.Sleep(time.Millisecond)
				}
				if err := stream.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()}); err != nil {
					break
				}
			}
			cancel()
		}
	}
	var clients []*client
	for _, mode := range []struct {
		reconnect int
		slow      bool
	}{{0, false}, {0, false}, {0, true}, {5, false}, {3, true}} {
		c := &client{state: map[string]map[string]string{}}
		for _, typ := range types {
			c.state[typ] = map[string]string{}
		}
		clients = append(clients, c)
		wg.Add(1)
		go run(c, mode.reconnect, mode.slow)
	}
	for i := 1; i <= 40; i++ {
		if err := s.Publish(ctx, loadYAML(t, fmt.Sprint(i), configs[i%len(configs)])); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			time.Sleep(4 * time.Millisecond) // let a drain timer serve
		}
	}
	// The last configuration once the drain is over: wait for it.
	deadline := time.Now().Add(30 * time.Second)
	var want map[string]map[string]string
	for want == nil {
		s.mu.Lock()
		if s.served == s.current {
			want = map[string]map[string]string{}
			for _, typ := range types {
				want[typ] = s.served.VersionMap[typ]
			}
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("the drain never ended")
		}
		time.Sleep(time.Millisecond)
	}
	for i, c := range clients {
		for {
			c.mu.Lock()
			same := true
			for _, typ := range types {
				same = same && maps.Equal(c.state[typ], want[typ])
			}
			got := fmt.Sprint(c.state)
			c.mu.Unlock()
			if same {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("client %d has %s, the server serves %v", i, got, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	stop()
	wg.Wait()
}
