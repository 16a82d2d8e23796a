package admin

import (
	"net/http/httptest"
	"testing"

	"github.com/apigwio/apigw/internal/benchconfig"
	"github.com/apigwio/apigw/internal/model"
)

// BenchmarkDebugConfig is /debug/config's default view (the summary) of
// the realistic configuration, through the handler:
//
//	go test ./internal/server/admin -run '^$' -bench DebugConfig -benchmem -count 6
//
// same: asked again about the snapshot in use; reloaded: asked first
// about a snapshot just loaded (the previous file with one API changed,
// config.Parser reusing the unchanged groups; the load not timed).
// APIGW_BENCH_APIS sets the number of APIs (default 10,000).
func BenchmarkDebugConfig(b *testing.B) {
	loadFile, err := benchconfig.ChangeLoader(10000)
	if err != nil {
		b.Fatal(err)
	}
	load := func(i int) *model.Snapshot {
		snap, err := loadFile(i)
		if err != nil {
			b.Fatal(err)
		}
		return snap
	}
	snap := load(0)
	h := NewHandler(Options{Snapshot: func() *model.Snapshot { return snap }})
	ask := func(b *testing.B) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/debug/config", nil))
		if w.Code != 200 || w.Body.Len() == 0 {
			b.Fatalf("/debug/config: %d, %d bytes", w.Code, w.Body.Len())
		}
	}
	b.Run("same", func(b *testing.B) {
		ask(b)
		for b.Loop() {
			ask(b)
		}
	})
	b.Run("reloaded", func(b *testing.B) {
		for i := 1; b.Loop(); i++ {
			b.StopTimer()
			snap = load(i)
			b.StartTimer()
			ask(b)
		}
	})
}
