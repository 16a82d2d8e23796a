package admin

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/apigwio/apigw/internal/benchconfig"
	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
)

// TestDebugConfigViews: above SummaryAbove APIs /debug/config shows the
// groups without their APIs (with their count and the address of the
// group's view); ?group=NAME shows one group whole, ?full=true
// everything; an unknown group is a 404.
func TestDebugConfigViews(t *testing.T) {
	var buf bytes.Buffer
	o := benchconfig.Options{APIs: 1200, Groups: 2, Apps: 3, IAMUsers: 2}
	if err := benchconfig.Write(&buf, o); err != nil {
		t.Fatal(err)
	}
	snap, err := config.Load("gw.yaml", buf.Bytes(), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if snap.APICount() <= SummaryAbove {
		t.Fatalf("test premise: %d APIs, not more than %d", snap.APICount(), SummaryAbove)
	}
	srv := httptest.NewServer(NewHandler(Options{Snapshot: func() *model.Snapshot { return snap }}))
	defer srv.Close()
	type group struct {
		Name     string           `json:"name"`
		APIs     []map[string]any `json:"apis"`
		APICount int              `json:"api_count"`
		APIsAt   string           `json:"apis_at"`
		Domains  []string         `json:"domains"`
	}
	get := func(path string, wantStatus int, v any) {
		t.Helper()
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != wantStatus {
			t.Fatalf("GET %s: %d, want %d", path, resp.StatusCode, wantStatus)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}

	var summary struct {
		Version string  `json:"version"`
		Groups  []group `json:"groups"`
		Note    string  `json:"groups_summarized"`
		Apps    []any   `json:"apps"`
	}
	get("/debug/config", 200, &summary)
	if summary.Version != snap.Version || len(summary.Groups) != 2 || summary.Note == "" || len(summary.Apps) != 3 {
		t.Fatalf("summary: version %q, %d groups, note %q, %d apps", summary.Version, len(summary.Groups), summary.Note, len(summary.Apps))
	}
	for i, g := range summary.Groups {
		want := snap.Groups[i]
		if g.Name != want.Name || len(g.APIs) != 0 || g.APICount != len(want.APIs) || g.APIsAt != "/debug/config?group="+want.Name || len(g.Domains) == 0 {
			t.Errorf("summary group %d = %+v (want %s with %d APIs counted, not listed)", i, g, want.Name, len(want.APIs))
		}
	}

	var one struct {
		Version string `json:"version"`
		Group   group  `json:"group"`
	}
	get(summary.Groups[1].APIsAt, 200, &one)
	if one.Version != snap.Version || one.Group.Name != snap.Groups[1].Name || len(one.Group.APIs) != len(snap.Groups[1].APIs) {
		t.Errorf("group view: version %q, group %q with %d APIs", one.Version, one.Group.Name, len(one.Group.APIs))
	}

	var full struct {
		Groups []group `json:"groups"`
	}
	get("/debug/config?full=true", 200, &full)
	n := 0
	for _, g := range full.Groups {
		n += len(g.APIs)
	}
	if n != snap.APICount() {
		t.Errorf("full view lists %d APIs, want %d", n, snap.APICount())
	}

	var notFound map[string]string
	get("/debug/config?group=nope", 404, &notFound)
	if notFound["error"] == "" {
		t.Errorf("unknown group: %v", notFound)
	}
}

// TestDebugConfigSummaryNotStale: the summary is encoded once per
// snapshot, and a reload is seen at once: after each switch the answer is
// the new snapshot's (its version, each group's API count, each app's
// grants), byte for byte what RenderSummary of that snapshot encodes, for
// callers asking at the same time as for one asking alone.
func TestDebugConfigSummaryNotStale(t *testing.T) {
	var p config.Parser
	load := func(o benchconfig.Options) *model.Snapshot { return loadGenerated(t, &p, o) }
	a := load(benchconfig.Options{APIs: 1200, Groups: 2, Apps: 3, IAMUsers: 2})
	b := load(benchconfig.Options{APIs: 1300, Groups: 2, Apps: 3, IAMUsers: 2})             // more APIs in each group
	c := load(benchconfig.Options{APIs: 1300, Groups: 2, Apps: 3, IAMUsers: 2, Changes: 1}) // one API changed
	var current atomic.Pointer[model.Snapshot]
	srv := httptest.NewServer(NewHandler(Options{Snapshot: current.Load}))
	defer srv.Close()
	get := func() []byte {
		resp, err := srv.Client().Get(srv.URL + "/debug/config")
		if err != nil {
			t.Error(err)
			return nil
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Error(err)
		}
		return body
	}
	for i, snap := range []*model.Snapshot{a, b, c, a, c} {
		current.Store(snap)
		var want bytes.Buffer
		encodeJSON(&want, RenderSummary(snap))
		var wg sync.WaitGroup
		answers := make([][]byte, 4)
		for k := range answers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers[k] = get()
			}()
		}
		wg.Wait()
		answers = append(answers, get())
		for k, got := range answers {
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("switch %d (version %s), answer %d: not the snapshot's summary:\n%.400s", i, snap.Version, k, got)
			}
		}
		var s struct {
			Version string `json:"version"`
			Groups  []struct {
				APICount int `json:"api_count"`
			} `json:"groups"`
		}
		if err := json.Unmarshal(answers[0], &s); err != nil {
			t.Fatal(err)
		}
		if s.Version != snap.Version || s.Groups[0].APICount != len(snap.Groups[0].APIs) {
			t.Fatalf("switch %d: version %s with %d APIs in the first group, want %s with %d", i, s.Version, s.Groups[0].APICount, snap.Version, len(snap.Groups[0].APIs))
		}
	}
	if a.Version == b.Version || b.Version == c.Version || len(a.Groups[0].APIs) == len(b.Groups[0].APIs) {
		t.Fatal("test premise: the three configurations differ in version and API count")
	}
}

// TestViewsOfCurrentKeptWhileNextPrepared: the server prepares the next
// configuration's views before it becomes current; meanwhile a request
// about the configuration in use is answered from its prepared views
// (computing nothing, evicting nothing), byte for byte its summary, and
// the next configuration's views stay prepared. Only the last two
// snapshots are kept.
func TestViewsOfCurrentKeptWhileNextPrepared(t *testing.T) {
	var p config.Parser
	load := func(o benchconfig.Options) *model.Snapshot { return loadGenerated(t, &p, o) }
	a := load(benchconfig.Options{APIs: 1200, Groups: 2, Apps: 3, IAMUsers: 2})
	b := load(benchconfig.Options{APIs: 1200, Groups: 2, Apps: 3, IAMUsers: 2, Changes: 1})
	c := load(benchconfig.Options{APIs: 1300, Groups: 2, Apps: 3, IAMUsers: 2})
	var views ConfigViews
	var current atomic.Pointer[model.Snapshot]
	srv := httptest.NewServer(NewHandler(Options{Snapshot: current.Load, Views: &views}))
	defer srv.Close()
	summaryOf := func(snap *model.Snapshot) []byte {
		var buf bytes.Buffer
		encodeJSON(&buf, RenderSummary(snap))
		return buf.Bytes()
	}
	views.Prepare(a)
	current.Store(a)
	views.Prepare(b) // b reached Check and Envoy; a is still current
	for _, tc := range []struct {
		name string
		snap *model.Snapshot
	}{{"in use", a}, {"next", b}} {
		got, ok := views.Prepared(tc.snap)
		if !ok || !bytes.Equal(got, summaryOf(tc.snap)) {
			t.Fatalf("%s: prepared %v, or not its summary", tc.name, ok)
		}
	}
	resp, err := srv.Client().Get(srv.URL + "/debug/config")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || !bytes.Equal(body, summaryOf(a)) {
		t.Fatalf("/debug/config while the next is prepared: not the summary in use (%v):\n%.300s", err, body)
	}
	if _, ok := views.Prepared(b); !ok {
		t.Fatal("a request about the configuration in use evicted the next one's views")
	}
	current.Store(b)
	views.Prepare(c)
	if _, ok := views.Prepared(a); ok {
		t.Fatal("three snapshots' views kept")
	}
	for _, snap := range []*model.Snapshot{b, c} {
		if got, ok := views.Prepared(snap); !ok || !bytes.Equal(got, summaryOf(snap)) {
			t.Fatalf("version %s: prepared %v, or not its summary", snap.Version, ok)
		}
	}
}

// loadGenerated loads the benchmark generator's configuration for o with
// p, so that successive loads reuse what did not change, as a reload does.
func loadGenerated(t *testing.T, p *config.Parser, o benchconfig.Options) *model.Snapshot {
	t.Helper()
	var buf bytes.Buffer
	if err := benchconfig.Write(&buf, o); err != nil {
		t.Fatal(err)
	}
	snap, err := p.Load("gw.yaml", buf.Bytes(), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}
