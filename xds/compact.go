package xds

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/proto"
)

// compactClusters replaces the clusters the APIs translated in plan made
// (not those of the APIs it reused) with copies made one after another.
// Each cluster was made in the middle of its API's route messages, which
// are garbage once encoded: the cluster's small messages then kept alive
// memory spans otherwise empty. The copies are packed together, and the
// originals go with the routes. Nothing else holds the clusters yet: they
// are in t.clusters and the new API outputs only. The new outputs'
// extras (apiExtra, made among the routes too) are moved into one block.
func (t *translator) compactClusters(plan *vhostPlan) {
	reused := map[*clusterv3.Cluster]bool{}
	fresh := 0
	for _, sg := range plan.segs {
		if sg.out == nil {
			continue
		}
		if sg.routes == nil {
			for _, c := range sg.out.clusters {
				reused[c] = true
			}
		} else {
			fresh++
		}
	}
	if fresh == 0 {
		return
	}
	copies := map[*clusterv3.Cluster]*clusterv3.Cluster{}
	for name, c := range t.clusters {
		if reused[c] {
			continue
		}
		n := proto.Clone(c).(*clusterv3.Cluster)
		copies[c] = n
		t.clusters[name] = n
	}
	extras := 0
	for _, sg := range plan.segs {
		if sg.out == nil || sg.routes == nil {
			continue
		}
		for i, c := range sg.out.clusters {
			if n := copies[c]; n != nil {
				sg.out.clusters[i] = n
			}
		}
		if sg.out.extra != nil {
			extras++
		}
	}
	// The new outputs' extras likewise, in one block (read-only and held
	// by their output only; what they point to is shared as before).
	if extras == 0 {
		return
	}
	block := make([]apiExtra, 0, extras)
	for _, sg := range plan.segs {
		if sg.out == nil || sg.routes == nil || sg.out.extra == nil {
			continue
		}
		block = append(block, *sg.out.extra)
		sg.out.extra = &block[len(block)-1]
	}
}
