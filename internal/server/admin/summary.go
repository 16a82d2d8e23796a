package admin

import (
	"bytes"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/apigwio/apigw/internal/model"
)

// configViews holds what /debug/config's default view needs of the last
// snapshot asked about, computed once for it and shared by every caller:
// its API count and, above SummaryAbove APIs, the summary encoded. A
// snapshot is not changed once loaded (a reload makes a new one), so the
// entry of a snapshot is never stale; a request about another snapshot
// replaces it.
type configViews struct {
	last atomic.Pointer[snapshotViews]
}

// snapshotViews are one snapshot's views, computed on first use.
type snapshotViews struct {
	snap *model.Snapshot
	once sync.Once
	// apis is snap.APICount().
	apis int
	// summary is RenderSummary(snap) as served (nil when apis is not
	// above SummaryAbove).
	summary []byte
}

// of returns snap's views, computing them if snap is not the last snapshot
// asked about (concurrent callers about the same snapshot wait for one
// computation).
func (c *configViews) of(snap *model.Snapshot) *snapshotViews {
	v := c.last.Load()
	if v == nil || v.snap != snap {
		fresh := &snapshotViews{snap: snap}
		if c.last.CompareAndSwap(v, fresh) {
			v = fresh
		} else if v = c.last.Load(); v == nil || v.snap != snap {
			v = fresh // another snapshot won the race: this caller computes alone
		}
	}
	v.once.Do(func() {
		v.apis = snap.APICount()
		if v.apis > SummaryAbove {
			var buf bytes.Buffer
			encodeJSON(&buf, renderSummary(snap, v.apis))
			v.summary = buf.Bytes()
		}
	})
	return v
}

// encodeJSON writes v as /debug/config and the other JSON documents show
// it: indented, with a final newline.
func encodeJSON(buf *bytes.Buffer, v any) {
	enc := json.NewEncoder(buf)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
