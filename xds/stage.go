package xds

import (
	"math"
	"runtime/debug"

	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/internal/parallel"
)

// defaultStageAPIs is how many APIs a publish that translates many
// translates at a time (Server.stageAPIs; see stagedPrepare).
const defaultStageAPIs = 20000

// staging is the last configuration Prepare builds on: the one served, or
// one that stagedPrepare made in stages on the way to the new one.
type staging struct {
	v    *validation
	memo *groupMemo
	// stages is how many stages made it (0: the one served).
	stages int
}

// stagedPrepare prepares, in stages, a publish that translates many APIs
// (the first publish of a large configuration, or a change to something
// every group depends on), so that the route messages of only one stage
// are alive at a time. Without that, the route messages of every group
// are alive together until validation has encoded them: at 100,000 APIs
// they are 587 MB, and the first publish's peak heap was about twice the
// steady one (docs/performance.md, sessions 12 and 13).
//
// The groups to translate (those the memo of the last publish cannot
// reuse) are taken a few at a time: groups holding about perStage APIs
// to translate, and at least as many groups as translation workers, so
// that the translation stays parallel. Stage k is the new configuration
// with its first k batches of such groups and, in place of the others,
// their previous definitions (which the memo reuses untranslated) or
// nothing (new groups); each stage is translated and validated reusing
// the previous one's memo and encodings, exactly as a reload reuses the
// last configuration's. Prepare then translates the new configuration
// reusing the last stage: only the last batch is translated again, and
// the result is the one a single translation gives (a group's
// translation depends on its digest and the options alone, which is what
// lets a reload reuse it; TestStagedPrepareIsTranslation). The stages
// are never served: what Prepare serves is still diffed with the last
// configuration served.
//
// prev is the last published snapshot and from what its publish left
// (both empty before the first). It returns nil when staging would not
// help (fewer APIs to translate than two stages) or when a stage fails:
// the whole translation then reports the configuration's first error, as
// it always does.
func stagedPrepare(snap, prev *model.Snapshot, from staging, opts Options, perStage int) *staging {
	var todo, weights []int
	for i, g := range snap.Groups {
		if g == nil || from.memo.lookup(g, opts) != nil {
			continue
		}
		todo = append(todo, i)
		weights = append(weights, apisToTranslate(g, from.memo.apis(g.Name, opts)))
	}
	bounds := stageBounds(weights, perStage, parallel.Workers())
	if len(bounds) == 0 {
		return nil
	}
	previous := map[string]*model.Group{}
	if prev != nil {
		for _, g := range prev.Groups {
			if g != nil {
				previous[g.Name] = g
			}
		}
	}
	at := from
	for _, k := range bounds {
		res, memo, err := translateReusing(stageSnapshot(snap, todo, k, previous), opts, 0, at.memo)
		if err != nil {
			return nil
		}
		known, done, hashed := at.v.reused()
		// The resource lists are not chained: Prepare diffs the new
		// configuration's with the last one served, not with a stage's.
		v, err := res.validatePlans(known, done, hashed, memo.plans(), nil)
		if err != nil {
			return nil
		}
		at = staging{v: v, memo: memo.lean(v), stages: at.stages + 1}
	}
	return &at
}

// stageReloads reports whether a reload that translates many APIs is
// staged: only when the Go runtime has a memory limit (GOMEMLIMIT, or the
// container's, set by apigw serve). A staged reload keeps one
// configuration's route messages fewer alive, which is what lets a change
// every group depends on fit: at 100,000 APIs, an environment variable
// changed in a 2,000 MiB memory cgroup was reloaded in 8.7-10.1 s staged,
// and the process killed by the kernel unstaged. But it
// allocates more (each stage assembles the route configuration), and
// without a limit the collector lets that garbage grow the heap: the same
// reload without a limit took 5.2 s instead of 3.8 s and peaked at 3.0
// instead of 2.6 GB (docs/performance.md, "Session 13"). A first publish
// is staged either way: it is as fast staged, and peaks lower.
func stageReloads() bool {
	return debug.SetMemoryLimit(-1) != math.MaxInt64
}

// stageSnapshot is snap with only the first k of the groups to translate
// (todo, indexes in snap.Groups): each of the others is replaced by its
// previous definition, or left out when it had none.
func stageSnapshot(snap *model.Snapshot, todo []int, k int, previous map[string]*model.Group) *model.Snapshot {
	later := make(map[int]bool, len(todo)-k)
	for _, i := range todo[k:] {
		later[i] = true
	}
	part := *snap
	part.Groups = make([]*model.Group, 0, len(snap.Groups))
	for i, g := range snap.Groups {
		if !later[i] {
			part.Groups = append(part.Groups, g)
		} else if old := previous[g.Name]; old != nil {
			part.Groups = append(part.Groups, old)
		}
	}
	return &part
}

// apisToTranslate is how many of g's APIs an incremental translation
// translates, given the translations of its previous definition's APIs
// (by API digest; nil: none).
func apisToTranslate(g *model.Group, prev map[model.Digest]*apiOutput) int {
	if prev == nil {
		return len(g.APIs)
	}
	n := 0
	for _, api := range g.APIs {
		if api == nil || prev[api.Digest] == nil {
			n++
		}
	}
	return n
}

// stageBounds returns, for groups to translate of weights APIs each, how
// many of them each stage translates (see stagedPrepare): increasing
// counts, short of len(weights); none when they hold fewer than
// 2*perStage APIs or perStage is not positive.
func stageBounds(weights []int, perStage, workers int) []int {
	if perStage <= 0 || len(weights) < 2 {
		return nil
	}
	total := 0
	for _, w := range weights {
		total += w
	}
	if total < 2*perStage {
		return nil
	}
	var bounds []int
	apis, inStage := 0, 0
	for i, w := range weights[:len(weights)-1] {
		apis += w
		inStage++
		if apis >= perStage && inStage >= workers {
			bounds = append(bounds, i+1)
			apis, inStage = 0, 0
		}
	}
	return bounds
}
