package admin

import (
	"bytes"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/apigwio/apigw/internal/model"
)

// ConfigViews holds what /debug/config's default view needs of the last
// snapshot asked about, computed once for it and shared by every caller:
// its API count and, above SummaryAbove APIs, the summary encoded. A
// snapshot is not changed once loaded (a reload makes a new one), so the
// entry of a snapshot is never stale; a request about another snapshot
// replaces it. The zero value is ready to use.
type ConfigViews struct {
	last atomic.Pointer[snapshotViews]
}

// Prepare computes snap's views now, so that the first request about snap
// is answered with bytes instead of computing them (at 100,000 APIs the
// summary costs ~20 ms of CPU). The server calls it after each reload,
// off the reload's path; a request arriving meanwhile waits for the same
// computation.
func (c *ConfigViews) Prepare(snap *model.Snapshot) {
	if snap != nil {
		c.of(snap)
	}
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
	// done is set once apis and summary are computed.
	done atomic.Bool
}

// Prepared reports whether snap's views are computed, without computing
// them, and returns the summary /debug/config then answers with (nil when
// snap has no more than SummaryAbove APIs).
func (c *ConfigViews) Prepared(snap *model.Snapshot) (summary []byte, ok bool) {
	v := c.last.Load()
	if v == nil || v.snap != snap || !v.done.Load() {
		return nil, false
	}
	return v.summary, true
}

// of returns snap's views, computing them if snap is not the last snapshot
// asked about (concurrent callers about the same snapshot wait for one
// computation).
func (c *ConfigViews) of(snap *model.Snapshot) *snapshotViews {
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
		v.done.Store(true)
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
