package xds

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/envoyproxy/go-control-plane/pkg/server/stream/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
)

// aheadConfig is a configuration with a cluster per URL backend and per
// channel (an EDS cluster and its endpoints); extra are more API lines
// of group g.
func aheadConfig(pool, pool2 string, extra ...string) string {
	return `
channels:
  - name: pool
    members: [` + pool + `]
  - name: pool2
    members: [` + pool2 + `]
groups:
  - name: g
    apis:
      - {name: a, method: GET, path: /a, backend: {channel: pool}}
      - {name: e, method: GET, path: /e, backend: {channel: pool2}}
` + strings.Join(extra, "\n") + `
  - name: h
    domains: [h.example.com]
    apis:
      - {name: c, method: GET, path: /c, backend: {mock: {status: 200}}}
`
}

// aheadSide is one client as one cache sees it: go-control-plane's delta
// server's part (the subscription, the open watch) played by the test.
type aheadSide struct {
	cache  cachev3.Cache
	sub    stream.Subscription
	out    chan cachev3.DeltaResponse
	cancel func()
	opened bool
}

// request does what the delta server does with req: cancel the open
// watch, update the subscription (or make it, on the first request) and
// open the next watch.
func (s *aheadSide) request(t *testing.T, req *discoveryv3.DeltaDiscoveryRequest, legacy bool) {
	t.Helper()
	if !s.opened {
		s.sub = stream.NewDeltaSubscription(req.GetResourceNamesSubscribe(), req.GetResourceNamesUnsubscribe(), maps.Clone(req.GetInitialResourceVersions()), legacy)
		s.opened = true
	} else {
		if s.cancel != nil {
			s.cancel()
		}
		s.sub.UpdateResourceSubscriptions(req.GetResourceNamesSubscribe(), req.GetResourceNamesUnsubscribe())
	}
	cancel, err := s.cache.CreateDeltaWatch(req, s.sub, s.out)
	if err != nil {
		t.Fatal(err)
	}
	s.cancel = cancel
}

// deltaView is what a delta response tells the client, in a form to
// compare: the resources (version and bytes) by name, the names removed,
// the system version, and the versions the client then has.
type deltaView struct {
	resources map[string]string
	removed   []string
	system    string
	next      map[string]string
}

// viewOf returns r's view; versions are the preset versions (the
// relay's responses carry them; go-control-plane's own response hashes,
// so its resources' versions are taken from its next map).
func viewOf(t *testing.T, r cachev3.DeltaResponse) deltaView {
	t.Helper()
	v := deltaView{resources: map[string]string{}, next: r.GetReturnedResources()}
	if raw, ok := r.(*cachev3.RawDeltaResponse); ok {
		for _, res := range raw.GetRawResources() {
			name := cachev3.GetResourceName(res.Resource)
			b, err := cachev3.MarshalResource(res.Resource)
			if err != nil {
				t.Fatal(err)
			}
			v.resources[name] = raw.GetReturnedResources()[name] + "|" + string(b)
		}
		resp, err := raw.GetDeltaDiscoveryResponse()
		if err != nil {
			t.Fatal(err)
		}
		v.removed, v.system = slices.Sorted(slices.Values(resp.GetRemovedResources())), resp.GetSystemVersionInfo()
		return v
	}
	resp, err := r.GetDeltaDiscoveryResponse()
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range resp.GetResources() {
		v.resources[res.GetName()] = res.GetVersion() + "|" + string(res.GetResource().GetValue())
	}
	v.removed, v.system = slices.Sorted(slices.Values(resp.GetRemovedResources())), resp.GetSystemVersionInfo()
	return v
}

// TestAheadAsCache drives delta clients of clusters and endpoints through
// a sequence of configurations (clusters added, removed and draining,
// renamed, changed; endpoints changed; every cluster gone and back), with
// clients that subscribe and unsubscribe names mid-way, reconnect with
// initial versions, subscribe by name only, and are late to acknowledge,
// once through the server's cache (answering ahead where it can) and once
// through go-control-plane's snapshot cache alone, fed the snapshots the
// server serves; every response must tell the client the same: the same
// resources with the same versions and bytes, the same removals, the same
// system version, the same versions known afterwards. It also checks that
// answers were made ahead, so that the comparison is not vacuous.
func TestAheadAsCache(t *testing.T) {
	s := NewServer(discardLogger(), Options{ClusterDrain: time.Hour})
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.drainTimer != nil {
			s.drainTimer.Stop()
		}
	})
	ref := cachev3.NewSnapshotCache(true, oneNode{}, nil)
	ctx := context.Background()
	const (
		m1, m2, m3 = `{address: "10.0.0.1:8080"}`, `{address: "10.0.0.2:8080"}`, `{address: "10.0.0.3:8080"}`
		b          = `      - {name: b, method: GET, path: /b, backend: {url: "http://10.0.0.9:80"}}`
		d          = `      - {name: d, method: GET, path: /d, backend: {url: "http://10.0.0.10:80"}}`
		f          = `      - {name: f, method: GET, path: /f, backend: {url: "http://10.0.0.11:80"}}`
		b19        = `      - {name: b, method: GET, path: /b, backend: {url: "http://10.0.0.19:80"}}`
		bTimeout   = `      - {name: b, method: GET, path: /b, backend: {url: "http://10.0.0.19:80", timeout: 7s}}`
		g1         = `      - {name: g1, method: GET, path: /g1, backend: {url: "http://10.0.0.21:80"}}`
	)
	steps := []struct {
		name   string
		config string
		age    bool // the draining clusters aged past the drain first
		drain  bool // no configuration: the drain timer's serve
	}{
		{name: "base", config: aheadConfig(m1+", "+m2, m3, b, d)},
		{name: "a cluster added", config: aheadConfig(m1+", "+m2, m3, b, d, f)},
		{name: "a cluster removed (draining)", config: aheadConfig(m1+", "+m2, m3, b, f)},
		{name: "renamed", config: aheadConfig(m1+", "+m2, m3, b19, f)},
		{name: "a cluster changed", config: aheadConfig(m1+", "+m2, m3, bTimeout, f)},
		{name: "endpoints changed", config: aheadConfig(m1, m3+", "+m2, bTimeout, f)},
		{name: "routes only, the drained aged", config: aheadConfig(m1, m3+", "+m2, bTimeout, f, g1), age: true},
		{name: "a cluster removed again", config: aheadConfig(m1, m3+", "+m2, bTimeout, g1)},
		{name: "the drain timer", drain: true},
		{name: "d back", config: aheadConfig(m1, m3+", "+m2, bTimeout, f, g1, d)},
		{name: "unchanged clusters", config: strings.Replace(aheadConfig(m1, m3+", "+m2, bTimeout, f, g1, d), "/c,", "/c2,", 1)},
		{name: "most clusters gone", config: aheadConfig(m1, m2)},
		{name: "back", config: aheadConfig(m1+", "+m2, m3, b, d)},
		{name: "one more", config: aheadConfig(m1+", "+m2, m3, b, d, f)},
	}
	type client struct {
		name     string
		typeURL  string
		legacy   bool     // legacy wildcard (no names on the first request)
		first    []string // names subscribed on the first request
		joinAt   int
		initial  string           // joins with the versions client initial has
		sub      map[int][]string // step -> names subscribed after it
		unsub    map[int][]string // step -> names unsubscribed after it
		lateAt   map[int]bool     // step -> acknowledges only after the next publish
		noNonce  map[int]bool     // step -> asks again, without a nonce, after it
		drops    map[int]bool     // step -> its response is lost (a cancelled watch's)
		nacks    map[int]bool     // step -> rejects it (error_detail)
		again    map[int]bool     // step -> sends its request twice (the same nonce)
		dropping bool
		sides    [2]*aheadSide // the server's, go-control-plane's
		lateReqs bool
	}
	clients := []*client{
		{name: "clusters, wildcard", typeURL: resourcev3.ClusterType, legacy: true},
		{name: "endpoints, wildcard", typeURL: resourcev3.EndpointType, legacy: true},
		{name: "clusters, explicit wildcard, subscribes and unsubscribes", typeURL: resourcev3.ClusterType, first: []string{"*"},
			sub: map[int][]string{2: {"zz-none"}}, unsub: map[int][]string{3: {"zz-none"}, 5: {"*"}}},
		{name: "clusters, wildcard, unsubscribes a cluster it has", typeURL: resourcev3.ClusterType, first: []string{"*"},
			unsub: map[int][]string{3: {"__placeholder__"}}},
		{name: "clusters, by name", typeURL: resourcev3.ClusterType, first: []string{"zz-none"}},
		{name: "clusters, reconnects with its versions", typeURL: resourcev3.ClusterType, legacy: true, joinAt: 4, initial: "clusters, wildcard"},
		{name: "endpoints, late to acknowledge", typeURL: resourcev3.EndpointType, legacy: true, lateAt: map[int]bool{1: true, 4: true, 5: true}},
		{name: "clusters, late to acknowledge", typeURL: resourcev3.ClusterType, legacy: true, lateAt: map[int]bool{2: true, 3: true, 8: true}},
		{name: "clusters, asks again without a nonce", typeURL: resourcev3.ClusterType, legacy: true, noNonce: map[int]bool{5: true, 8: true, 10: true}},
		{name: "clusters, a response lost", typeURL: resourcev3.ClusterType, legacy: true, drops: map[int]bool{1: true, 4: true, 11: true}},
		{name: "endpoints, a response lost", typeURL: resourcev3.EndpointType, legacy: true, drops: map[int]bool{5: true}},
		{name: "clusters, rejects some", typeURL: resourcev3.ClusterType, legacy: true, nacks: map[int]bool{1: true, 2: true, 7: true, 12: true}},
		{name: "endpoints, rejects some", typeURL: resourcev3.EndpointType, legacy: true, nacks: map[int]bool{4: true, 5: true}},
		{name: "clusters, acknowledges twice", typeURL: resourcev3.ClusterType, first: []string{"*"}, again: map[int]bool{1: true, 3: true, 8: true, 9: true}},
	}
	byName := map[string]*client{}
	for _, c := range clients {
		byName[c.name] = c
		c.sides = [2]*aheadSide{{cache: s.delta, out: make(chan cachev3.DeltaResponse, 16)}, {cache: ref, out: make(chan cachev3.DeltaResponse, 16)}}
	}
	ahead, nonce := 0, 0
	// exchange reads one response of each side, if go-control-plane's
	// has one, and compares them; the server's, made by its relay, is
	// awaited only then (a response it should not have sent shows at the
	// next exchange, or at the end). It returns whether there was one.
	exchange := func(at string, c *client) bool {
		t.Helper()
		var want cachev3.DeltaResponse
		select {
		case want = <-c.sides[1].out:
		default:
			return false
		}
		var got cachev3.DeltaResponse
		select {
		case got = <-c.sides[0].out:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s, %s: go-control-plane answered, the server did not", at, c.name)
		}
		if _, ok := got.(*aheadResponse); ok {
			ahead++
		}
		g, w := viewOf(t, got), viewOf(t, want)
		if !maps.Equal(g.resources, w.resources) {
			t.Errorf("%s, %s: sent %v, go-control-plane %v", at, c.name, slices.Sorted(maps.Keys(g.resources)), slices.Sorted(maps.Keys(w.resources)))
		}
		if !slices.Equal(g.removed, w.removed) {
			t.Errorf("%s, %s: removed %v, go-control-plane %v", at, c.name, g.removed, w.removed)
		}
		if g.system != w.system {
			t.Errorf("%s, %s: system version %q, go-control-plane %q", at, c.name, g.system, w.system)
		}
		if !maps.Equal(g.next, w.next) {
			t.Errorf("%s, %s: the client then has %d versions, go-control-plane's %d (or others)", at, c.name, len(g.next), len(w.next))
		}
		if c.dropping {
			// As if the watch was cancelled first: the client keeps
			// the versions it had.
			c.dropping = false
			return true
		}
		c.sides[0].sub.SetReturnedResources(got.GetReturnedResources())
		c.sides[1].sub.SetReturnedResources(want.GetReturnedResources())
		return true
	}
	// ack sends the client's next request on both sides, and answers
	// what it brings, until nothing more.
	var ack func(at string, c *client, step int)
	ack = func(at string, c *client, step int) {
		t.Helper()
		nonce++
		req := &discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "n"}, TypeUrl: c.typeURL, ResponseNonce: fmt.Sprint(nonce),
			ResourceNamesSubscribe: c.sub[step], ResourceNamesUnsubscribe: c.unsub[step]}
		if slices.Contains(req.ResourceNamesUnsubscribe, "__placeholder__") {
			// A cluster the client has.
			req.ResourceNamesUnsubscribe = []string{slices.Sorted(maps.Keys(c.sides[1].sub.ReturnedResources()))[0]}
		}
		if c.noNonce[step] {
			req.ResponseNonce = ""
		}
		if c.nacks[step] {
			req.ErrorDetail = &rpcstatus.Status{Code: 3, Message: "rejected"}
		}
		for _, side := range c.sides {
			side.request(t, proto.Clone(req).(*discoveryv3.DeltaDiscoveryRequest), c.legacy)
		}
		if c.again[step] {
			if exchange(at+" (after its first request)", c) {
				ack(at, c, -1)
				return
			}
			for _, side := range c.sides {
				side.request(t, proto.Clone(req).(*discoveryv3.DeltaDiscoveryRequest), c.legacy)
			}
		}
		if exchange(at+" (after its request)", c) {
			ack(at, c, -1)
		}
	}
	for i, st := range steps {
		if st.age {
			s.mu.Lock()
			for name := range s.retired {
				s.retired[name] = time.Now().Add(-2 * time.Hour)
			}
			s.mu.Unlock()
		}
		if st.drain {
			// What the drain timer does once the drain is over: serve
			// the current snapshot alone.
			s.mu.Lock()
			if s.served == s.current {
				s.mu.Unlock()
				t.Fatalf("%s: no cluster draining", st.name)
			}
			for name := range s.retired {
				s.retired[name] = time.Now().Add(-2 * time.Hour)
			}
			same := func(id uint64) listChanges { return listChanges{from: id, to: id, known: true} }
			err := s.serveLocked(ctx, s.current, plainIndexes(s.last), same(s.currentClusters), same(s.currentEndpoints))
			s.mu.Unlock()
			if err != nil {
				t.Fatal(err)
			}
		} else if err := s.Publish(ctx, loadYAML(t, st.name, st.config)); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		s.mu.Lock()
		served := s.served
		s.mu.Unlock()
		if err := ref.SetSnapshot(ctx, nodeKey, served); err != nil {
			t.Fatal(err)
		}
		at := fmt.Sprintf("step %d (%s)", i, st.name)
		for _, c := range clients {
			if i < c.joinAt {
				continue
			}
			if i == c.joinAt {
				nonce++
				req := &discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "n"}, TypeUrl: c.typeURL, ResourceNamesSubscribe: c.first}
				if c.initial != "" {
					req.InitialResourceVersions = maps.Clone(byName[c.initial].sides[1].sub.ReturnedResources())
				}
				for _, side := range c.sides {
					side.request(t, proto.Clone(req).(*discoveryv3.DeltaDiscoveryRequest), c.legacy && len(c.first) == 0)
				}
				if exchange(at+" (joining)", c) {
					ack(at, c, -1)
				}
				continue
			}
			c.dropping = c.drops[i]
			if exchange(at, c) || c.lateReqs {
				if c.lateAt[i] {
					c.lateReqs = true
					continue
				}
				c.lateReqs = false
				ack(at, c, i)
			} else if c.sub[i] != nil || c.unsub[i] != nil || c.noNonce[i] {
				ack(at, c, i)
			}
		}
	}
	for _, c := range clients {
		select {
		case r := <-c.sides[0].out:
			t.Errorf("%s: the server sent a response go-control-plane did not (%d resources)", c.name, len(viewOf(t, r).resources))
		case <-time.After(50 * time.Millisecond):
		}
		for _, side := range c.sides {
			if side.cancel != nil {
				side.cancel()
			}
		}
	}
	if ahead == 0 {
		t.Error("no response answered ahead: the comparison tested go-control-plane against itself")
	}
	t.Logf("%d responses answered ahead", ahead)
}

// TestAheadKeepsTypeOrder: on one stream, a parked endpoints watch is not
// answered ahead of a clusters watch that waits in go-control-plane (the
// clusters of a change must reach Envoy before their endpoints); with
// both parked, both are answered ahead, clusters first.
func TestAheadKeepsTypeOrder(t *testing.T) {
	s := NewServer(discardLogger(), Options{ClusterDrain: time.Hour})
	ctx := context.Background()
	const m1, m2, m3 = `{address: "10.0.0.1:8080"}`, `{address: "10.0.0.2:8080"}`, `{address: "10.0.0.3:8080"}`
	out := make(chan cachev3.DeltaResponse, 16)
	clusters := &aheadSide{cache: s.delta, out: out}
	endpoints := &aheadSide{cache: s.delta, out: out}
	request := func(side *aheadSide, typeURL, nonce string, subscribe ...string) {
		side.request(t, &discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "n"}, TypeUrl: typeURL, ResponseNonce: nonce, ResourceNamesSubscribe: subscribe}, true)
	}
	// recv reads the next response and applies it to its side.
	recv := func(step string) (string, bool) {
		t.Helper()
		select {
		case r := <-out:
			side := clusters
			if r.GetDeltaRequest().GetTypeUrl() == resourcev3.EndpointType {
				side = endpoints
			}
			side.sub.SetReturnedResources(r.GetReturnedResources())
			_, ahead := r.(*aheadResponse)
			return r.GetDeltaRequest().GetTypeUrl(), ahead
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no response", step)
		}
		return "", false
	}
	if err := s.Publish(ctx, loadYAML(t, "base", aheadConfig(m1, m2))); err != nil {
		t.Fatal(err)
	}
	request(clusters, resourcev3.ClusterType, "")
	request(endpoints, resourcev3.EndpointType, "")
	recv("first")
	recv("first")
	request(clusters, resourcev3.ClusterType, "1")
	request(endpoints, resourcev3.EndpointType, "2")
	for i, st := range []struct {
		name   string
		config string
		// subscribe: the clusters watch asks for a name first, so it
		// waits in go-control-plane.
		subscribe bool
	}{
		{"both parked", aheadConfig(m1+", "+m3, m2), false},
		{"clusters in go-control-plane", aheadConfig(m1, m2+", "+m3), true},
		{"both parked again", aheadConfig(m1+", "+m3, m2+", "+m3), false},
	} {
		if st.subscribe {
			request(clusters, resourcev3.ClusterType, "3", "zz-none")
		}
		// Each change adds a cluster and its endpoints (a channel).
		if err := s.Publish(ctx, loadYAML(t, st.name, strings.ReplaceAll(st.config, "pool2", fmt.Sprintf("pool%d", 10+i)))); err != nil {
			t.Fatal(err)
		}
		first, firstAhead := recv(st.name)
		second, secondAhead := recv(st.name)
		if first != resourcev3.ClusterType || second != resourcev3.EndpointType {
			t.Errorf("%s: %s before %s", st.name, first, second)
		}
		if ahead := !st.subscribe; firstAhead != ahead || secondAhead != ahead {
			t.Errorf("%s: answered ahead %v, %v; want %v", st.name, firstAhead, secondAhead, ahead)
		}
		request(clusters, resourcev3.ClusterType, "4")
		request(endpoints, resourcev3.EndpointType, "5")
	}
	clusters.cancel()
	endpoints.cancel()
}
