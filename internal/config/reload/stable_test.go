package reload

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
)

// groupsConfig is a configuration of n groups of one API each; cut in
// half at a group boundary it still parses (with fewer APIs).
func groupsConfig(n int) string {
	var b strings.Builder
	b.WriteString("groups:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: g%d\n    domains: [g%d.example.com]\n    apis:\n      - {name: a, path: /a%d, auth: none, backend: {url: \"http://10.0.0.1\"}}\n", i, i, i)
	}
	return b.String()
}

// apiCounter is a sink that records the number of APIs of every published
// snapshot.
type apiCounter struct {
	mu     sync.Mutex
	counts []int
	got    chan int
}

func (c *apiCounter) sink(_ context.Context, s *model.Snapshot) error {
	c.mu.Lock()
	c.counts = append(c.counts, len(s.APIs))
	c.mu.Unlock()
	c.got <- len(s.APIs)
	return nil
}

func (c *apiCounter) published() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.counts...)
}

func runReloader(t *testing.T, r *Reloader) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	time.Sleep(50 * time.Millisecond) // let the watcher start
}

// TestHalfWrittenFileNeverPublished: a writer that truncates the file,
// writes half of it (a prefix that parses: whole groups), pauses far longer
// than the debounce and the stable-read interval, then writes the rest and
// closes the file. Only the whole file is published, with polling on too.
func TestHalfWrittenFileNeverPublished(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	write(t, path, groupsConfig(2))
	c := &apiCounter{got: make(chan int, 100)}
	r := New(path, config.Options{}, 20*time.Millisecond, quiet(), c.sink)
	if _, err := r.Prime(context.Background()); err != nil {
		t.Fatal(err)
	}
	runReloader(t, r)

	full := groupsConfig(10)
	half := groupsConfig(4) // a prefix of full that parses
	if !strings.HasPrefix(full, half) {
		t.Fatal("test premise: half is not a prefix of full")
	}
	for round := range 3 {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(half); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		if _, err := f.WriteString(full[len(half):] + strings.Repeat("#\n", round)); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case n := <-c.got:
			if n != 10 {
				t.Fatalf("round %d: published a snapshot with %d APIs, want 10 (published: %v)", round, n, c.published())
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: the whole file was not published", round)
		}
	}
	time.Sleep(100 * time.Millisecond)
	for _, n := range c.published() {
		if n != 10 {
			t.Fatalf("a partial file was published: %v", c.published())
		}
	}
}

// TestTruncatedFileRefused: `: > gateway.yaml` while serving is refused
// (no groups) and the last good configuration keeps serving.
func TestTruncatedFileRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	write(t, path, groupsConfig(3))
	c := &apiCounter{got: make(chan int, 100)}
	r := New(path, config.Options{}, 20*time.Millisecond, quiet(), c.sink)
	if _, err := r.Prime(context.Background()); err != nil {
		t.Fatal(err)
	}
	runReloader(t, r)
	write(t, path, "")
	deadline := time.Now().Add(5 * time.Second)
	for r.Status().Failures == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	st := r.Status()
	if st.Failures == 0 || !strings.Contains(st.LastError, "no groups: refusing to publish an empty configuration") {
		t.Fatalf("empty file not refused: %+v", st)
	}
	if got := c.published(); len(got) != 0 || len(r.Current().APIs) != 3 {
		t.Fatalf("published %v; serving %d APIs", got, len(r.Current().APIs))
	}
}

// TestRemovalShareRefusedUnlessForced: with max_api_removal_percent 50, a
// reload removing 3 of 4 APIs is refused; forced, it is accepted.
func TestRemovalShareRefusedUnlessForced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	const limit = "settings: {max_api_removal_percent: 50}\n"
	write(t, path, limit+groupsConfig(4))
	c := &apiCounter{got: make(chan int, 100)}
	r := New(path, config.Options{}, 0, quiet(), c.sink)
	ctx := context.Background()
	if _, err := r.Prime(ctx); err != nil {
		t.Fatal(err)
	}
	write(t, path, limit+groupsConfig(2)) // removes 2 of 4: allowed
	if err := r.Load(ctx); err != nil {
		t.Fatalf("removing 50%%: %v", err)
	}
	write(t, path, limit+groupsConfig(4))
	if err := r.Load(ctx); err != nil {
		t.Fatal(err)
	}
	write(t, path, limit+groupsConfig(1)) // removes 3 of 4
	err := r.Load(ctx)
	if err == nil || !strings.Contains(err.Error(), "it would remove 3 of the 4 published APIs (75%), more than settings.max_api_removal_percent (50%)") {
		t.Fatalf("error %v", err)
	}
	if len(r.Current().APIs) != 4 {
		t.Fatal("refused reload replaced the configuration")
	}
	if err := r.Load(ctx); err == nil && len(r.Current().APIs) != 4 {
		t.Fatal("the same refused content was accepted on the next poll")
	}
	if err := r.Force(ctx); err != nil {
		t.Fatalf("forced: %v", err)
	}
	if len(r.Current().APIs) != 1 {
		t.Fatalf("forced reload not applied: %d APIs", len(r.Current().APIs))
	}
	write(t, path, limit+groupsConfig(4)+"# later\n")
	if err := r.Load(ctx); err != nil {
		t.Fatal(err)
	}
	write(t, path, limit+groupsConfig(1)+"# again\n")
	if err := r.Load(ctx); err == nil {
		t.Fatal("force applied to more than one reload")
	}
}

// TestIdlePollReadsNothing: polling an unchanged file only stats it.
func TestIdlePollReadsNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	write(t, path, groupsConfig(1))
	c := &apiCounter{got: make(chan int, 100)}
	r := New(path, config.Options{}, 5*time.Millisecond, quiet(), c.sink)
	if _, err := r.Prime(context.Background()); err != nil {
		t.Fatal(err)
	}
	before := r.reads.Load()
	runReloader(t, r)
	time.Sleep(200 * time.Millisecond) // ~40 polls
	if n := r.reads.Load() - before; n != 0 {
		t.Fatalf("%d reads of an unchanged file", n)
	}
	write(t, path, groupsConfig(2))
	select {
	case <-c.got:
	case <-time.After(5 * time.Second):
		t.Fatal("change not picked up")
	}
}

// TestStatusDoesNotWaitForALoad: Current and Status answer at once while a
// load holds the reloader (a sink that blocks stands for a long reload).
func TestStatusDoesNotWaitForALoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	write(t, path, groupsConfig(1))
	release := make(chan struct{})
	entered := make(chan struct{})
	r := New(path, config.Options{}, 0, quiet(), func(context.Context, *model.Snapshot) error {
		close(entered)
		<-release
		return nil
	})
	if _, err := r.Prime(context.Background()); err != nil {
		t.Fatal(err)
	}
	write(t, path, groupsConfig(2))
	done := make(chan error, 1)
	go func() { done <- r.Load(context.Background()) }()
	<-entered
	answered := make(chan struct{})
	go func() {
		if r.Current() == nil || len(r.Current().APIs) != 1 || r.Status().Reloads != 1 {
			t.Error("Current/Status during a load: not the serving configuration")
		}
		close(answered)
	}()
	select {
	case <-answered:
	case <-time.After(2 * time.Second):
		t.Fatal("Current/Status waited for the load")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(r.Current().APIs) != 2 || r.Status().Reloads != 2 {
		t.Fatalf("after the load: %d APIs, %d reloads", len(r.Current().APIs), r.Status().Reloads)
	}
}

// TestLoadDuringAPausedWriteWaitsForTheClose: a load that starts (here: an
// explicit Load, as a trigger or an earlier event would) while a writer has
// truncated the file, written a prefix that parses and paused, does not
// publish that prefix although two reads agree: it waits for the writer to
// close the file.
func TestLoadDuringAPausedWriteWaitsForTheClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	write(t, path, groupsConfig(2))
	c := &apiCounter{got: make(chan int, 100)}
	r := New(path, config.Options{}, 0, quiet(), c.sink)
	if _, err := r.Prime(context.Background()); err != nil {
		t.Fatal(err)
	}
	runReloader(t, r)
	full, half := groupsConfig(10), groupsConfig(4)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(half); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the watcher has seen the write
	loaded := make(chan error, 1)
	go func() { loaded <- r.Load(context.Background()) }()
	time.Sleep(300 * time.Millisecond) // the writer pauses mid-file
	if _, err := f.WriteString(full[len(half):]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-loaded; err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	for _, n := range c.published() {
		if n != 10 {
			t.Fatalf("published a snapshot of %d APIs (a prefix of the file): %v", n, c.published())
		}
	}
	if got := len(r.Current().APIs); got != 10 {
		t.Fatalf("serving %d APIs, want 10", got)
	}
}

// TestShutdownDuringReadIsNotARefusal: a load whose context ends while it
// waits for the file to settle returns without counting or logging a
// refusal.
func TestShutdownDuringReadIsNotARefusal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gw.yaml")
	write(t, path, groupsConfig(1))
	r := New(path, config.Options{}, 0, quiet())
	if _, err := r.Prime(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.LoadNow(ctx); err == nil {
		t.Fatal("a cancelled load succeeded")
	}
	if st := r.Status(); st.Failures != 0 || st.LastError != "" {
		t.Fatalf("a cancelled load counted as a refusal: %+v", st)
	}
}

// TestReplacedFileReadOnce: a file renamed into place (an atomic save) is
// read once, while a file written in place is read at least twice (the
// stable read), so only a whole file is ever parsed.
func TestReplacedFileReadOnce(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the rename event is read from inotify (Linux only)")
	}
	path := filepath.Join(t.TempDir(), "gw.yaml")
	write(t, path, groupsConfig(1))
	c := &apiCounter{got: make(chan int, 100)}
	r := New(path, config.Options{}, 0, quiet(), c.sink)
	if _, err := r.Prime(context.Background()); err != nil {
		t.Fatal(err)
	}
	runReloader(t, r)
	wait := func(want int) {
		t.Helper()
		select {
		case n := <-c.got:
			if n != want {
				t.Fatalf("published %d APIs, want %d", n, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("change not published")
		}
	}

	before := r.reads.Load()
	tmp := path + ".tmp"
	write(t, tmp, groupsConfig(2))
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	wait(2)
	if got := r.reads.Load() - before; got != 1 {
		t.Errorf("a file renamed into place was read %d times, want 1", got)
	}

	before = r.reads.Load()
	write(t, path, groupsConfig(3)) // in place: truncate, write, close
	wait(3)
	if got := r.reads.Load() - before; got < 2 {
		t.Errorf("a file written in place was read %d times, want at least 2 (the stable read)", got)
	}
}
