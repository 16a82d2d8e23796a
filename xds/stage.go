package xds

import (
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/internal/parallel"
)

// defaultStageAPIs is how many APIs a first publish translates at a time
// (Server.stageAPIs; see stageFirstLoad).
const defaultStageAPIs = 20000

// stageFirstLoad prepares the first publish of a large configuration in
// stages, so that the route messages of only one stage are alive at a
// time: it translates and validates ever longer prefixes of snap's groups
// (a stage adds groups holding about perStage APIs, and at least as many
// groups as there are translation workers), each stage reusing the last
// one's translation and encodings as a reload does, and returns the
// validation and memo of the longest prefix short of the whole. Prepare
// then translates the whole configuration reusing them: only the groups
// of the last stage are translated again, and the result is the one a
// single translation gives (a group's translation depends on its digest
// and the options alone, which is what lets a reload reuse it;
// TestStagedFirstLoadIsTranslation).
//
// Without a memo, route messages are encoded only once every group is
// translated: at 100,000 APIs, 587 MB of them were alive together, and
// the first publish's peak heap was twice the steady one (docs/performance.md,
// sessions 12 and 13). It returns nil, nil when staging would not help
// (fewer APIs than two stages, or a single group) or when a stage
// fails: the whole translation then reports the configuration's first
// error as it always does.
func stageFirstLoad(snap *model.Snapshot, opts Options, perStage int) (*validation, *groupMemo) {
	bounds := stageBounds(snap.Groups, perStage, parallel.Workers())
	var v *validation
	var memo *groupMemo
	for _, n := range bounds {
		part := *snap
		part.Groups = snap.Groups[:n]
		res, m, err := translateReusing(&part, opts, 0, memo)
		if err != nil {
			return nil, nil
		}
		known, done, hashed := &validSet{}, map[*routev3.VirtualHost]*vhostWire(nil), (*resourceHashes)(nil)
		if v != nil {
			known, done, hashed = v.valid, v.vhosts, v.resources
		}
		// The resource lists are not chained: Prepare diffs the whole
		// configuration's against what was served (nothing, the first
		// time), not against a stage's.
		next, err := res.validatePlans(known, done, hashed, m.plans(), nil)
		if err != nil {
			return nil, nil
		}
		v, memo = next, m.lean(next)
	}
	return v, memo
}

// stageBounds returns the number of groups of each stage's prefix (see
// stageFirstLoad), increasing and short of len(groups); none when the
// groups hold fewer than 2*perStage APIs or perStage is not positive.
func stageBounds(groups []*model.Group, perStage, workers int) []int {
	if perStage <= 0 {
		return nil
	}
	total := 0
	for _, g := range groups {
		if g != nil {
			total += len(g.APIs)
		}
	}
	if total < 2*perStage || len(groups) < 2 {
		return nil
	}
	var bounds []int
	apis, inStage := 0, 0
	for i, g := range groups[:len(groups)-1] {
		if g != nil {
			apis += len(g.APIs)
		}
		inStage++
		if apis >= perStage && inStage >= workers {
			bounds = append(bounds, i+1)
			apis, inStage = 0, 0
		}
	}
	return bounds
}
