package etcdstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"

	"github.com/apigwio/apigw/internal/etcdtest"
	"github.com/apigwio/apigw/internal/release"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// syncBuffer is a log sink tests read while the store writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gateway is a small configuration whose API path tells releases apart.
func gateway(env, path string) *configv1.Gateway {
	return &configv1.Gateway{
		Environments: []*configv1.Environment{{Name: env}},
		Groups: []*configv1.Group{{
			Name: "shop",
			Apis: []*configv1.Api{{Name: "getUser", Method: "GET", Path: path, Environments: []string{env}}},
		}},
	}
}

func rel(env, path, note string) *release.Release {
	return &release.Release{Env: env, Note: note, Publisher: "test@host", SourceDigest: strings.Repeat("ab", 32), Config: gateway(env, path)}
}

// storeURL is the store URL of c under prefix.
func storeURL(c *etcdtest.Cluster, prefix string) string {
	var hosts []string
	for _, e := range c.Endpoints {
		hosts = append(hosts, strings.TrimPrefix(strings.TrimPrefix(e, "http://"), "https://"))
	}
	scheme := "etcd://"
	if strings.HasPrefix(c.Endpoints[0], "https://") {
		scheme = "etcds://"
	}
	return scheme + strings.Join(hosts, ",") + "/" + prefix
}

func open(t *testing.T, url string, opts Options) *Store {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := Open(ctx, url, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testWriter logs into the test's output.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func publish(t *testing.T, s *Store, r *release.Release, expect map[string]uint64) *release.Release {
	t.Helper()
	out, err := s.Publish(ctxT(t), []*release.Release{r}, expect)
	if err != nil {
		t.Fatalf("Publish %s: %v", r.Env, err)
	}
	return out[0]
}

func rawClient(t *testing.T, c *etcdtest.Cluster) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func TestRoundTrip(t *testing.T) {
	c := etcdtest.StartSingle(t)
	s := open(t, storeURL(c, "apigw"), Options{})
	ctx := ctxT(t)
	cur, err := s.Current(ctx)
	if err != nil || len(cur.Releases) != 0 {
		t.Fatalf("empty store: Current = %+v, %v", cur, err)
	}
	b1 := publish(t, s, rel("BETA", "/v1", "first"), nil)
	r1 := publish(t, s, rel("RELEASE", "/v1", ""), map[string]uint64{"BETA": 1})
	b2 := publish(t, s, rel("BETA", "/v2", "second"), map[string]uint64{"BETA": 1, "RELEASE": 1})
	if b1.Number != 1 || r1.Number != 1 || b2.Number != 2 {
		t.Fatalf("numbers %d %d %d, want 1 1 2", b1.Number, r1.Number, b2.Number)
	}
	if b1.Created.IsZero() || !b2.Created.After(b1.Created) && !b2.Created.Equal(b1.Created) {
		t.Fatalf("Created %v %v", b1.Created, b2.Created)
	}
	cur, err = s.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cur.Releases) != 2 || cur.Releases["BETA"].Number != 2 || cur.Releases["RELEASE"].Number != 1 || cur.Revision == 0 {
		t.Fatalf("Current = %+v", cur)
	}
	if got := cur.Releases["BETA"].Config.Groups[0].Apis[0].Path; got != "/v2" {
		t.Fatalf("current BETA path %q", got)
	}
	list, err := s.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range list {
		names = append(names, fmt.Sprintf("%s#%d", r.Env, r.Number))
	}
	if got := strings.Join(names, " "); got != "BETA#1 BETA#2 RELEASE#1" {
		t.Fatalf("List = %s", got)
	}
	g, err := s.Get(ctx, "BETA", 1)
	if err != nil {
		t.Fatal(err)
	}
	want := rel("BETA", "/v1", "first")
	if g.Note != "first" || g.Publisher != want.Publisher || g.SourceDigest != want.SourceDigest || !g.Created.Equal(b1.Created) || !proto.Equal(g.Config, want.Config) {
		t.Fatalf("Get BETA 1 = %+v", g)
	}
	if _, err := s.Get(ctx, "BETA", 9); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get BETA 9: %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, "../x", 1); err == nil {
		t.Fatal("Get with an invalid environment name succeeded")
	}
	// The key layout the documentation describes.
	raw := rawClient(t, c)
	for key, want := range map[string]string{"/apigw/current/BETA": "2", "/apigw/seq/BETA": "2", "/apigw/current/RELEASE": "1"} {
		resp, err := raw.Get(ctx, key)
		if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != want {
			t.Errorf("%s = %v %v, want %s", key, resp, err, want)
		}
	}
	resp, err := raw.Get(ctx, "/apigw/releases/BETA/00000000000000000002")
	if err != nil || len(resp.Kvs) != 1 || !strings.Contains(string(resp.Kvs[0].Value), `"kind":"apigw.release/v1"`) {
		t.Fatalf("release body: %v %v", resp, err)
	}
}

func TestPublishConflicts(t *testing.T) {
	c := etcdtest.StartSingle(t)
	s := open(t, storeURL(c, "apigw"), Options{})
	publish(t, s, rel("BETA", "/v1", ""), nil)
	publish(t, s, rel("RELEASE", "/v1", ""), map[string]uint64{"BETA": 1})
	for _, tc := range []struct {
		name   string
		env    string
		expect map[string]uint64
	}{
		{"stale own", "BETA", map[string]uint64{"BETA": 0}},
		{"stale own number", "BETA", map[string]uint64{"BETA": 7}},
		{"first publish but one exists", "BETA", nil},
		{"other environment moved", "BETA", map[string]uint64{"BETA": 1, "RELEASE": 3}},
		{"other environment expected absent", "BETA", map[string]uint64{"BETA": 1, "RELEASE": 0}},
		{"other environment not expected (appeared since read)", "BETA", map[string]uint64{"BETA": 1}},
		{"expected environment gone", "BETA", map[string]uint64{"BETA": 1, "RELEASE": 1, "TEST": 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Publish(ctxT(t), []*release.Release{rel(tc.env, "/x", "")}, tc.expect)
			if !errors.Is(err, release.ErrConflict) {
				t.Fatalf("Publish: %v, want ErrConflict", err)
			}
		})
	}
	cur, err := s.Current(ctxT(t))
	if err != nil || cur.Releases["BETA"].Number != 1 || cur.Releases["RELEASE"].Number != 1 {
		t.Fatalf("after conflicts: %+v %v", cur, err)
	}
	list, _ := s.List(ctxT(t), "BETA")
	if len(list) != 1 {
		t.Fatalf("a conflicting publish wrote a release: %d releases", len(list))
	}
	_, err = s.Publish(ctxT(t), []*release.Release{rel("BETA", "/x", "")}, map[string]uint64{"BETA": 1})
	if !errors.Is(err, release.ErrConflict) || !strings.Contains(err.Error(), "(RELEASE was none, now #1)") {
		t.Fatalf("a publish unaware of RELEASE: %v", err)
	}
	// A corrupted current value is not a move: a publish replaces it.
	raw := rawClient(t, c)
	if _, err := raw.Put(ctxT(t), "/apigw/current/BETA", "garbage"); err != nil {
		t.Fatal(err)
	}
	r := publish(t, s, rel("BETA", "/fixed", ""), map[string]uint64{"BETA": 1, "RELEASE": 1})
	if r.Number != 2 {
		t.Fatalf("number %d after a corrupted current, want 2", r.Number)
	}
}

func TestRacingPublishers(t *testing.T) {
	c := etcdtest.StartSingle(t)
	url := storeURL(c, "apigw")
	a, b := open(t, url, Options{}), open(t, url, Options{})
	publish(t, a, rel("BETA", "/v1", ""), nil)
	for round := range 10 {
		expect := map[string]uint64{"BETA": uint64(round + 1)}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		outs := make([][]*release.Release, 2)
		start := make(chan struct{})
		for i, s := range []*Store{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				outs[i], errs[i] = s.Publish(ctxT(t), []*release.Release{rel("BETA", fmt.Sprintf("/r%d-%d", round, i), "")}, expect)
			}()
		}
		close(start)
		wg.Wait()
		won := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if won >= 0 {
					t.Fatalf("round %d: both publishers succeeded", round)
				}
				won = i
			case errors.Is(err, release.ErrConflict):
				if !strings.Contains(err.Error(), "BETA was #") {
					t.Errorf("conflict does not say what moved: %v", err)
				}
			default:
				t.Fatalf("round %d: publisher %d: %v", round, i, err)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: both publishers lost: %v", round, errs)
		}
		cur, err := a.Current(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		got := cur.Releases["BETA"]
		if got.Number != uint64(round+2) || got.Config.Groups[0].Apis[0].Path != fmt.Sprintf("/r%d-%d", round, won) {
			t.Fatalf("round %d: current %d %s, want the winner's", round, got.Number, got.Config.Groups[0].Apis[0].Path)
		}
	}
	list, _ := a.List(ctxT(t), "BETA")
	if len(list) != 11 {
		t.Fatalf("%d releases, want 11 (one per round and the first)", len(list))
	}
}

func TestHistoryBound(t *testing.T) {
	c := etcdtest.StartSingle(t)
	s := open(t, storeURL(c, "apigw"), Options{History: 3})
	var cur uint64
	for i := range 7 {
		cur = publish(t, s, rel("BETA", fmt.Sprintf("/v%d", i), ""), map[string]uint64{"BETA": cur}).Number
	}
	list, err := s.List(ctxT(t), "BETA")
	if err != nil {
		t.Fatal(err)
	}
	var nums []uint64
	for _, r := range list {
		nums = append(nums, r.Number)
	}
	if fmt.Sprint(nums) != "[5 6 7]" {
		t.Fatalf("kept %v, want [5 6 7]", nums)
	}
	if _, err := s.Get(ctxT(t), "BETA", 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("trimmed release: %v", err)
	}
	// Numbers are never reused, even after trimming, and with a store
	// that keeps a single release the current one stays.
	one := open(t, storeURL(c, "apigw"), Options{History: 1})
	r := publish(t, one, rel("BETA", "/v8", ""), map[string]uint64{"BETA": 7})
	if r.Number != 8 {
		t.Fatalf("number %d, want 8", r.Number)
	}
	list, _ = one.List(ctxT(t), "BETA")
	if len(list) != 1 || list[0].Number != 8 {
		t.Fatalf("History 1 kept %v", list)
	}
	// Deleting everything but the counter does not reuse numbers either.
	raw := rawClient(t, c)
	if _, err := raw.Delete(ctxT(t), "/apigw/releases/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Delete(ctxT(t), "/apigw/current/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	if r := publish(t, one, rel("BETA", "/v9", ""), nil); r.Number != 9 {
		t.Fatalf("number %d after deleting the releases, want 9", r.Number)
	}
}

func TestForeignAndCorruptedValuesIgnored(t *testing.T) {
	c := etcdtest.StartSingle(t)
	logs := &syncBuffer{}
	s := open(t, storeURL(c, "apigw"), Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	ctx := ctxT(t)
	good := publish(t, s, rel("BETA", "/good", ""), nil)
	raw := rawClient(t, c)

	// A watcher that sees every change delivered.
	var mu sync.Mutex
	var seen []uint64
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	cur0, _ := s.Current(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Watch(wctx, cur0.Revision, func(cur *release.Current) {
			mu.Lock()
			seen = append(seen, cur.Releases["BETA"].Number)
			mu.Unlock()
		})
	}()

	body, _ := encodeRelease(&release.Release{Env: "BETA", Number: 2, Config: gateway("BETA", "/evil")})
	tampered := bytes.Replace(body, []byte(`"number":2`), []byte(`"number":3`), 1)
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	e.Release.Number = 52
	e.SHA256 = strings.Repeat("0", 64) // well-formed, wrong
	flipped, _ := json.Marshal(e)
	for _, tc := range []struct {
		name       string
		key, value string
	}{
		{"current not a number", "/apigw/current/BETA", "garbage"},
		{"current names a missing release", "/apigw/current/BETA", "41"},
		{"current names a foreign body", "/apigw/current/BETA", "50"},
		{"current names a tampered body", "/apigw/current/BETA", "51"},
		{"current names a body whose digest fails", "/apigw/current/BETA", "52"},
		{"current key of an invalid environment", "/apigw/current/BE/TA", "1"},
		{"foreign key under releases", "/apigw/releases/BETA/notanumber", "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for key, value := range map[string]string{
				"/apigw/releases/BETA/00000000000000000050": `{"kind":"someone.else/v1"}`,
				"/apigw/releases/BETA/00000000000000000051": string(tampered),
				"/apigw/releases/BETA/00000000000000000052": string(flipped),
			} {
				if _, err := raw.Put(ctx, key, value); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := raw.Put(ctx, tc.key, tc.value); err != nil {
				t.Fatal(err)
			}
			// A fresh store (no memory of the good release) and the one
			// that read it both keep it.
			fresh := open(t, storeURL(c, "apigw"), Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
			for _, st := range []*Store{s, fresh} {
				cur, err := st.Current(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if r := cur.Releases["BETA"]; r == nil || r.Number != good.Number || r.Config.Groups[0].Apis[0].Path != "/good" {
					t.Fatalf("Current BETA = %+v, want the good release #%d", r, good.Number)
				}
				if len(cur.Releases) != 1 {
					t.Fatalf("Current has %d environments", len(cur.Releases))
				}
			}
			list, err := s.List(ctx, "BETA")
			if err != nil || len(list) != 1 || list[0].Number != good.Number {
				t.Fatalf("List = %v, %v; want only the good release", list, err)
			}
			// Put the good value back for the next case.
			if _, err := raw.Put(ctx, "/apigw/current/BETA", "1"); err != nil {
				t.Fatal(err)
			}
			if _, err := raw.Delete(ctx, "/apigw/current/BE/TA"); err != nil {
				t.Fatal(err)
			}
		})
	}
	// A real publish after all that is seen by the watcher, and nothing
	// else was delivered.
	next := publish(t, s, rel("BETA", "/next", ""), map[string]uint64{"BETA": 1})
	if next.Number != 53 {
		t.Errorf("next number %d, want 53 (after the highest key seen)", next.Number)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		got := fmt.Sprint(seen)
		mu.Unlock()
		if got == fmt.Sprintf("[%d]", next.Number) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch delivered %s, want only [%d]", got, next.Number)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	<-done
	for _, want := range []string{"not a release number", "kind \\\"someone.else/v1\\\"", "stored as BETA #51", "does not match its SHA-256", "not an environment's current release", "not a release\""} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs.String())
		}
	}
}

func TestWatchSeesPublishes(t *testing.T) {
	c := etcdtest.StartSingle(t)
	url := storeURL(c, "apigw")
	pub, rep := open(t, url, Options{}), open(t, url, Options{})
	ctx := ctxT(t)
	cur0, err := rep.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *release.Current, 16)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rep.Watch(wctx, cur0.Revision, func(c *release.Current) { got <- c }) }()
	expect := map[string]uint64{}
	for i, env := range []string{"BETA", "RELEASE", "BETA"} {
		r := publish(t, pub, rel(env, fmt.Sprintf("/p%d", i), ""), expect)
		expect[env] = r.Number
		select {
		case cur := <-got:
			if cur.Releases[env] == nil || cur.Releases[env].Number != r.Number || cur.Releases[env].Config.Groups[0].Apis[0].Path != fmt.Sprintf("/p%d", i) {
				t.Fatalf("publish %d: watch delivered %+v", i, cur.Releases)
			}
			if cur.Revision <= cur0.Revision {
				t.Fatalf("revision %d not after %d", cur.Revision, cur0.Revision)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("publish %d not seen by the watch", i)
		}
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Watch returned %v after its context ended", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after its context ended")
	}
}

// TestWatchAfterCompaction: a watch from a compacted revision rereads the
// current releases and goes on.
func TestWatchAfterCompaction(t *testing.T) {
	c := etcdtest.StartSingle(t)
	s := open(t, storeURL(c, "apigw"), Options{})
	ctx := ctxT(t)
	r1 := publish(t, s, rel("BETA", "/a", ""), nil)
	cur, _ := s.Current(ctx)
	old := cur.Revision
	r2 := publish(t, s, rel("BETA", "/b", ""), map[string]uint64{"BETA": r1.Number})
	raw := rawClient(t, c)
	cur, _ = s.Current(ctx)
	if _, err := raw.Compact(ctx, cur.Revision); err != nil {
		t.Fatal(err)
	}
	got := make(chan *release.Current, 16)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { _ = s.Watch(wctx, old, func(c *release.Current) { got <- c }) }()
	select {
	case cur := <-got:
		if cur.Releases["BETA"].Number != r2.Number {
			t.Fatalf("after compaction: %d, want %d", cur.Releases["BETA"].Number, r2.Number)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery after compaction")
	}
	r3 := publish(t, s, rel("BETA", "/c", ""), map[string]uint64{"BETA": r2.Number})
	select {
	case cur := <-got:
		if cur.Releases["BETA"].Number != r3.Number {
			t.Fatalf("next: %d, want %d", cur.Releases["BETA"].Number, r3.Number)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery after the next publish")
	}
}
