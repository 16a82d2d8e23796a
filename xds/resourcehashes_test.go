package xds

import (
	"maps"
	"slices"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// allEntries is every entry of r's layers, the upper layer's first.
func allEntries(r *resourceHashes) map[proto.Message]resourceHash {
	out := map[proto.Message]resourceHash{}
	for x := r; x != nil; x = x.base {
		for m, h := range x.own {
			if _, ok := out[m]; !ok {
				out[m] = h
			}
		}
	}
	return out
}

// inUse is the entries of v.resources for the resources of v's lists,
// with an entry missing for any of them left out.
func inUse(v *validation) map[proto.Message]resourceHash {
	out := map[proto.Message]resourceHash{}
	for _, rl := range v.lists {
		for _, m := range rl.msgs {
			if h, ok := v.resources.get(m); ok {
				out[m] = h
			}
		}
	}
	return out
}

// TestResourceHashesFollowChanges: over more one-cluster changes than
// maxHashLayers, each validation's resources give every resource in use
// the hash and version of a validation from scratch, stay within
// maxHashLayers layers, leave the last validation's entries unchanged, and
// once flattened hold the resources in use only (the replaced clusters'
// entries dropped).
func TestResourceHashesFollowChanges(t *testing.T) {
	base := translate(t, syntheticSnapshot(t, 40, 0))
	cl := slices.Clone(base.Clusters)
	slices.SortFunc(cl, func(a, b *clusterv3.Cluster) int {
		switch {
		case a.GetName() < b.GetName():
			return -1
		case a.GetName() > b.GetName():
			return 1
		}
		return 0
	})
	retimed := func(c *clusterv3.Cluster, d time.Duration) *clusterv3.Cluster {
		c = proto.Clone(c).(*clusterv3.Cluster)
		c.ConnectTimeout = durationpb.New(d)
		return c
	}
	with := func(cs []*clusterv3.Cluster) *Resources {
		r := *base
		r.Clusters = cs
		return &r
	}
	last, err := with(cl).validatePlans(&validSet{}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	flattened := 0
	for step := range 3 * maxHashLayers {
		// One cluster replaced by a new message (its timeout changed,
		// then back: the same bytes as an earlier message).
		i := (step * 7) % len(cl)
		cl = slices.Clone(cl)
		cl[i] = retimed(cl[i], time.Duration(1+step%2)*time.Second)
		lastEntries := allEntries(last.resources)
		v, scratch := validateOverAndFromScratch(t, with(cl), last)
		if got, want := inUse(v), allEntries(scratch.resources); !maps.Equal(got, want) {
			t.Fatalf("step %d: the resources in use are not those of a validation from scratch (%d, want %d)", step, len(got), len(want))
		}
		if !maps.EqualFunc(v.versions, scratch.versions, maps.Equal) {
			t.Fatalf("step %d: the versions are not those of a validation from scratch", step)
		}
		if v.resources.depth > maxHashLayers {
			t.Errorf("step %d: %d layers, more than %d", step, v.resources.depth, maxHashLayers)
		}
		if !maps.Equal(lastEntries, allEntries(last.resources)) {
			t.Errorf("step %d: the last validation's resources changed", step)
		}
		if v.resources.base == nil && step > 0 {
			flattened++
			if got, want := allEntries(v.resources), allEntries(scratch.resources); !maps.Equal(got, want) {
				t.Errorf("step %d: flattened to %d entries, want the %d in use", step, len(got), len(want))
			}
		} else if v.resources.base != nil && len(v.resources.own) > 2 {
			t.Errorf("step %d: the layer of a one-cluster change has %d entries", step, len(v.resources.own))
		}
		last = v
	}
	if flattened == 0 {
		t.Errorf("never flattened in %d steps", 3*maxHashLayers)
	}
}

// TestResourceHashesBoundedByWholeChanges: changes that replace every
// cluster (a setting all clusters carry) do not keep one generation of
// clusters alive per layer until the maxHashLayers-th: the layers hold at
// most twice the entries in use, and every resource in use still has the
// hash of a validation from scratch.
func TestResourceHashesBoundedByWholeChanges(t *testing.T) {
	base := translate(t, syntheticSnapshot(t, 40, 0))
	with := func(cs []*clusterv3.Cluster) *Resources {
		r := *base
		r.Clusters = cs
		return &r
	}
	cl := base.Clusters
	last, err := with(cl).validatePlans(&validSet{}, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for step := range maxHashLayers + 2 {
		next := make([]*clusterv3.Cluster, len(cl))
		for i, c := range cl {
			c = proto.Clone(c).(*clusterv3.Cluster)
			c.ConnectTimeout = durationpb.New(time.Duration(step+2) * time.Second)
			next[i] = c
		}
		cl = next
		v, scratch := validateOverAndFromScratch(t, with(cl), last)
		want := allEntries(scratch.resources)
		if got := inUse(v); !maps.Equal(got, want) {
			t.Fatalf("step %d: the resources in use are not those of a validation from scratch (%d, want %d)", step, len(got), len(want))
		}
		held := 0
		for x := v.resources; x != nil; x = x.base {
			held += len(x.own)
		}
		if held > 2*len(want) {
			t.Errorf("step %d: %d layers hold %d entries for %d resources in use (more than twice)", step, v.resources.depth, held, len(want))
		}
		last = v
	}
}

// validateOverAndFromScratch validates r over last (as a Prepare after
// last does) and from scratch, for comparison.
func validateOverAndFromScratch(t *testing.T, r *Resources, last *validation) (over, scratch *validation) {
	t.Helper()
	over, err := r.validatePlans(last.valid, last.vhosts, last.resources, nil, last.lists)
	if err != nil {
		t.Fatal(err)
	}
	if scratch, err = r.validatePlans(&validSet{}, nil, nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	return over, scratch
}
