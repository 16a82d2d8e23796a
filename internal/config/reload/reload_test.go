package reload

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
)

const cfgA = `
groups:
  - name: g
    apis:
      - {name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}}
`

const cfgB = cfgA + `      - {name: b, path: /b, auth: none, backend: {url: "http://10.0.0.1"}}
`

// recorder is a sink that records versions and can be told to refuse.
type recorder struct {
	mu       sync.Mutex
	versions []string
	refuse   bool
	got      chan string
}

func (r *recorder) sink(_ context.Context, s *model.Snapshot) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refuse {
		return errors.New("translator says no")
	}
	r.versions = append(r.versions, s.Version)
	if r.got != nil {
		r.got <- s.Version
	}
	return nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestLoadRefuseAndKeepServing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	write(t, path, cfgA)
	rec := &recorder{}
	second := &recorder{}
	r := New(path, config.Options{}, 0, quiet(), rec.sink, second.sink)
	ctx := context.Background()
	snap, err := r.Prime(ctx)
	if err != nil || snap == nil || len(rec.versions) != 0 {
		t.Fatalf("prime: %v %v (sinks must not be called)", err, rec.versions)
	}
	rec.versions = []string{snap.Version} // as the caller publishes it itself
	v1 := r.Current().Version
	// Unchanged content is not republished.
	if err := r.Load(ctx); err != nil || len(rec.versions) != 1 {
		t.Fatalf("unchanged file republished: %v %v", err, rec.versions)
	}
	// A broken file is refused whole, with every problem listed.
	write(t, path, `groups: [{name: g, apis: [{name: a, path: nope, backend: {url: "ftp://x"}}]}]`)
	err = r.Load(ctx)
	var cerr *config.Error
	if !errors.As(err, &cerr) || len(cerr.Problems) != 2 {
		t.Fatalf("want 2 problems, got %v", err)
	}
	if r.Current().Version != v1 || len(rec.versions) != 1 {
		t.Fatal("a refused config replaced the serving one")
	}
	st := r.Status()
	if st.Failures != 1 || !strings.Contains(st.LastError, "groups[0].apis[0].path") || st.Version != v1 {
		t.Errorf("status = %+v", st)
	}
	// A sink refusal stops later sinks and keeps the old snapshot.
	write(t, path, cfgB)
	rec.refuse = true
	if err := r.Load(ctx); err == nil || !strings.Contains(err.Error(), "translator says no") {
		t.Fatalf("sink refusal not reported: %v", err)
	}
	if len(second.versions) != 0 || r.Current().Version != v1 {
		t.Fatal("later sink called or snapshot replaced after a refusal")
	}
	// Fixed: accepted, status cleared.
	rec.refuse = false
	write(t, path, cfgB+"\n# touched\n")
	if err := r.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if r.Current().APIs["g/b"] == nil || r.Status().LastError != "" || r.Status().Reloads != 2 {
		t.Fatalf("new config not in use: %+v", r.Status())
	}
}

func TestRunPicksUpChangesAndTrigger(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	write(t, path, cfgA)
	rec := &recorder{got: make(chan string, 10)}
	r := New(path, config.Options{}, 20*time.Millisecond, quiet(), rec.sink)
	if err := r.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-rec.got
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// Replace the file atomically, as editors and ConfigMaps do.
	tmp := path + ".tmp"
	write(t, tmp, cfgB)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rec.got:
	case <-time.After(5 * time.Second):
		t.Fatal("file change not picked up")
	}
	// A trigger (SIGHUP) republishes even without a change.
	r.Trigger()
	select {
	case <-rec.got:
	case <-time.After(5 * time.Second):
		t.Fatal("trigger did not reload")
	}
}

// TestEventsReloadWithoutPolling: with polling off, a file change is still
// picked up at once through file-system events.
func TestEventsReloadWithoutPolling(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	write(t, path, cfgA)
	rec := &recorder{got: make(chan string, 10)}
	r := New(path, config.Options{}, 0, quiet(), rec.sink)
	if _, err := r.Prime(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(50 * time.Millisecond) // let the watcher start
	start := time.Now()
	tmp := path + ".tmp"
	write(t, tmp, cfgB)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	select {
	case <-rec.got:
		t.Logf("reloaded %s after the write", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatal("change not picked up from file-system events")
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
