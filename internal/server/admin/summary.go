package admin

import (
	"bytes"
	"encoding/json"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/apigwio/apigw/internal/model"
)

// ConfigViews holds what /debug/config's default view needs of the last
// two snapshots asked about, computed once for each and shared by every
// caller: its API count and, above SummaryAbove APIs, the summary encoded.
// A snapshot is not changed once loaded (a reload makes a new one), so the
// entry of a snapshot is never stale; a request about another snapshot
// replaces the older entry. Two, because the server prepares the next
// configuration's views before that configuration is current: requests
// meanwhile are about the one in use and are answered from its entry.
// Entries refer to their snapshots weakly, so that they never keep a
// replaced configuration in memory. The zero value is ready to use.
type ConfigViews struct {
	last atomic.Pointer[snapshotViews]
	prev atomic.Pointer[snapshotViews]
}

// Prepare computes snap's views now, so that the first request about snap
// is answered with bytes instead of computing them (at 100,000 APIs the
// summary costs ~20 ms of CPU). The server calls it after each reload has
// reached Check and Envoy, before the reload makes snap current; a request
// about snap arriving meanwhile waits for the same computation.
func (c *ConfigViews) Prepare(snap *model.Snapshot) {
	if snap != nil {
		c.of(snap)
	}
}

// snapshotViews are one snapshot's views, computed on first use.
type snapshotViews struct {
	snap weak.Pointer[model.Snapshot]
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
	key := weak.Make(snap)
	for _, v := range [2]*snapshotViews{c.last.Load(), c.prev.Load()} {
		if v != nil && v.snap == key && v.done.Load() {
			return v.summary, true
		}
	}
	return nil, false
}

// of returns snap's views, computing them if snap is neither of the last
// two snapshots asked about (concurrent callers about the same snapshot
// wait for one computation).
func (c *ConfigViews) of(snap *model.Snapshot) *snapshotViews {
	key := weak.Make(snap)
	v := c.last.Load()
	if v == nil || v.snap != key {
		if p := c.prev.Load(); p != nil && p.snap == key {
			v = p
		} else {
			fresh := &snapshotViews{snap: key}
			if c.last.CompareAndSwap(v, fresh) {
				if v != nil {
					c.prev.Store(v)
				}
				v = fresh
			} else if v = c.last.Load(); v == nil || v.snap != key {
				v = fresh // another snapshot won the race: this caller computes alone
			}
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
