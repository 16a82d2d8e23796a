package xds

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"testing"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// backendSnapshot is a configuration of n APIs, one backend each, where
// API i's backend is on port ports[i] (8080 when not given).
func backendSnapshot(t *testing.T, n int, ports map[int]int) *model.Snapshot {
	t.Helper()
	g := &configv1.Group{Name: "g", Domains: []string{"g.example.com"}}
	for i := range n {
		port := 8080
		if p, ok := ports[i]; ok {
			port = p
		}
		g.Apis = append(g.Apis, &configv1.Api{
			Name: fmt.Sprintf("api%d", i), Method: "GET", Path: fmt.Sprintf("/a%d", i), Auth: "none",
			Backend: &configv1.Backend{Url: fmt.Sprintf("http://svc%d.internal:%d", i, port)},
		})
	}
	snap, err := config.Build("backends", &configv1.Gateway{Groups: []*configv1.Group{g}}, config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// checkServedAsFresh checks that s serves what a new server given want
// alone serves: the same resource versions, and the same resource hashes
// for the resources in use.
func checkServedAsFresh(t *testing.T, what string, s *Server, want *model.Snapshot) {
	t.Helper()
	fresh := NewServer(discardLogger(), Options{})
	if err := fresh.Publish(context.Background(), want); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !maps.EqualFunc(s.current.VersionMap, fresh.current.VersionMap, maps.Equal) {
		t.Errorf("%s: the versions served are not those of a new server", what)
	}
	if got, want := inUseByName(s.last), inUseByName(fresh.last); !maps.Equal(got, want) {
		t.Errorf("%s: the resource hashes in use are not those of a new server (%d, want %d)", what, len(got), len(want))
	}
}

// inUseByName is inUse(v) by type URL and resource name.
func inUseByName(v *validation) map[string]resourceHash {
	out := map[string]resourceHash{}
	for typeURL, rl := range v.lists {
		for _, m := range rl.msgs {
			if h, ok := v.resources.get(m); ok {
				out[typeURL+" "+cachev3.GetResourceName(m)] = h
			}
		}
	}
	return out
}

// TestResourceHashesAfterRefusedPrepare: a Prepare that is not committed
// (another sink refused its configuration) leaves nothing the next one
// builds on; nor do Prepares that run at the same time from the same
// last validation, whichever commits last.
func TestResourceHashesAfterRefusedPrepare(t *testing.T) {
	ctx := context.Background()
	const n = 30
	s := NewServer(discardLogger(), Options{})
	a := backendSnapshot(t, n, nil)
	if err := s.Publish(ctx, a); err != nil {
		t.Fatal(err)
	}
	// API 3's backend changes in a configuration that is refused, then
	// API 5's in one that is served: API 3's cluster is A's again.
	if _, err := s.Prepare(ctx, backendSnapshot(t, n, map[int]int{3: 9003})); err != nil {
		t.Fatal(err)
	}
	c := backendSnapshot(t, n, map[int]int{5: 9005})
	if err := s.Publish(ctx, c); err != nil {
		t.Fatal(err)
	}
	checkServedAsFresh(t, "after a refused Prepare", s, c)
	// Enough refused and served changes for the layers to be flattened.
	for step := range 2 * maxHashLayers {
		if _, err := s.Prepare(ctx, backendSnapshot(t, n, map[int]int{step % n: 7000 + step})); err != nil {
			t.Fatal(err)
		}
		last := backendSnapshot(t, n, map[int]int{(step + 1) % n: 8000 + step})
		if err := s.Publish(ctx, last); err != nil {
			t.Fatal(err)
		}
		checkServedAsFresh(t, fmt.Sprintf("step %d", step), s, last)
	}

	// Prepares at the same time, committed in either order.
	for _, order := range []string{"first-prepared", "second-prepared"} {
		snaps := []*model.Snapshot{
			backendSnapshot(t, n, map[int]int{7: 9107}),
			backendSnapshot(t, n, map[int]int{8: 9108, 9: 9109}),
		}
		commits := make([]func() error, len(snaps))
		var wg sync.WaitGroup
		for i, snap := range snaps {
			wg.Go(func() {
				commit, err := s.Prepare(ctx, snap)
				if err != nil {
					t.Error(err)
				}
				commits[i] = commit
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		first, second := 0, 1
		if order == "second-prepared" {
			first, second = 1, 0
		}
		for _, i := range []int{first, second} {
			if err := commits[i](); err != nil {
				t.Fatal(err)
			}
		}
		checkServedAsFresh(t, order+" committed last", s, snaps[second])
		// And the next change builds on that.
		next := backendSnapshot(t, n, map[int]int{1: 9201})
		if err := s.Publish(ctx, next); err != nil {
			t.Fatal(err)
		}
		checkServedAsFresh(t, order+", then one more change", s, next)
	}
}
