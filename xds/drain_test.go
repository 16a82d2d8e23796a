package xds

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
)

// TestDrainFollowsChanges publishes a chain of configurations with a
// drain that does not end during the test (nothing expires unless the
// test ages it), and checks after each that the clusters served are those
// of the configuration plus every one served before and since left out
// (a cluster gone, one gone while another drains, one coming back, then
// the drained ones aged past the drain), and that the drain check took
// the names gone from the last list (not every cluster): it keeps no
// stale or missing entry.
func TestDrainFollowsChanges(t *testing.T) {
	s := NewServer(slog.New(slog.NewTextHandler(io.Discard, nil)), Options{ClusterDrain: time.Hour})
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.drainTimer != nil {
			s.drainTimer.Stop()
		}
	})
	ctx := context.Background()
	toURL := func(s string) string {
		return strings.Replace(s, "backend: {channel: pool}", `backend: {url: "http://10.0.0.7:80"}`, 1)
	}
	steps := []struct {
		name   string
		config string
		age    bool // age the draining clusters past the drain first
	}{
		{"base", serverConfig, false},
		{"the channel left out", toURL(serverConfig), false},
		{"another cluster left out while it drains", strings.Replace(toURL(serverConfig), "10.0.0.9:80", "10.0.0.8:80", 1), false},
		{"the channel back", strings.Replace(serverConfig, "10.0.0.9:80", "10.0.0.8:80", 1), false},
		{"unchanged clusters, the drained aged", strings.Replace(strings.Replace(serverConfig, "10.0.0.9:80", "10.0.0.8:80", 1), "status: 200", "status: 201", 1), true},
		{"a change after the drain", serverConfig, false},
	}
	var want map[string]bool // the clusters that must be served
	var lastID uint64
	for i, st := range steps {
		if st.age {
			s.mu.Lock()
			for name := range s.retired {
				s.retired[name] = time.Now().Add(-2 * time.Hour)
				delete(want, name)
			}
			s.mu.Unlock()
		}
		if err := s.Publish(ctx, loadYAML(t, st.name, st.config)); err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		served := slices.Sorted(maps.Keys(s.served.Resources[types.Cluster].Items))
		current := s.current.Resources[types.Cluster].Items
		retired := slices.Sorted(maps.Keys(s.retired))
		ch := clusterChanges(s.last)
		s.mu.Unlock()
		if want == nil {
			want = map[string]bool{}
		}
		for name := range current {
			want[name] = true
		}
		if got := slices.Sorted(maps.Keys(want)); !slices.Equal(served, got) {
			t.Errorf("%s: clusters served %v, want %v", st.name, served, got)
		}
		var left []string
		for name := range want {
			if _, ok := current[name]; !ok {
				left = append(left, name)
			}
		}
		slices.Sort(left)
		if !slices.Equal(retired, left) {
			t.Errorf("%s: draining %v, want %v", st.name, retired, left)
		}
		if i > 0 && (!ch.known || ch.from != lastID) {
			t.Errorf("%s: the drain check did not know the names gone (changes %+v, last list %d)", st.name, ch, lastID)
		}
		lastID = ch.to
	}
}
