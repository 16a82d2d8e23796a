package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/internal/release"
	"github.com/apigwio/apigw/internal/release/follow"
)

// storeLocal is a replica's own file in the store mode: server, listener
// and settings; the APIs come from the releases.
const storeLocal = `
server: {grpc_address: "127.0.0.1:0", admin_address: "127.0.0.1:0"}
environments: [{name: BETA}]
`

// Releases of RELEASE and BETA: gr/a in RELEASE, gb/a in BETA, open
// (auth none) or closed (auth iam: a Check without a signature is denied).
const (
	relOpen = `
environments: [{name: BETA}]
groups:
  - name: gr
    domains: [r.example.com]
    apis:
      - {name: a, path: /a, auth: none, environments: [RELEASE], backend: {url: "http://10.0.0.1"}}
`
	betaOpen = `
environments: [{name: BETA}]
groups:
  - name: gb
    domains: [b.example.com]
    apis:
      - {name: a, path: /a, auth: none, environments: [BETA], backend: {url: "http://10.0.0.2"}}
`
	betaClosed = `
environments: [{name: BETA}]
groups:
  - name: gb
    domains: [b.example.com]
    apis:
      - {name: a, path: /a, auth: iam, environments: [BETA], backend: {url: "http://10.0.0.2"}}
`
	// betaBad is refused by the build: the backend URL has no host.
	betaBad = `
environments: [{name: BETA}]
groups:
  - name: gb
    domains: [b.example.com]
    apis:
      - {name: a, path: /a, auth: none, environments: [BETA], backend: {url: "http://"}}
`
)

// publish writes a release of env with the configuration text, failing
// the test on a conflict or an unavailable store.
func publish(t *testing.T, st release.Store, env, text string) *release.Release {
	t.Helper()
	gw, err := config.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cur, err := st.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var expect uint64
	if r := cur.Releases[env]; r != nil {
		expect = r.Number
	}
	rels, err := st.Publish(ctx, []*release.Release{{Env: env, Note: "test", SourceDigest: "test", Config: gw}}, map[string]uint64{env: expect})
	if err != nil {
		t.Fatal(err)
	}
	return rels[0]
}

// storeReplica is a replica of the store mode, with a Check client.
type storeReplica struct {
	s     *Server
	check authv3.AuthorizationClient
}

// startStoreReplica starts a replica on st with the local file storeLocal.
func startStoreReplica(t *testing.T, st release.Store, url string, mod func(*Options)) *storeReplica {
	t.Helper()
	path := filepath.Join(t.TempDir(), "local.yaml")
	if err := os.WriteFile(path, []byte(storeLocal), 0o600); err != nil {
		t.Fatal(err)
	}
	o := Options{ConfigPath: path, WatchInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Store: st, StoreURL: url, StoreStartTimeout: 10 * time.Second}
	if mod != nil {
		mod(&o)
	}
	s, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	conn, err := grpc.NewClient(s.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &storeReplica{s: s, check: authv3.NewAuthorizationClient(conn)}
}

// allowed reports whether the replica allows an unsigned GET of api in env.
func (r *storeReplica) allowed(t *testing.T, api, env string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := r.check.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		ContextExtensions: map[string]string{model.ContextKeyAPI: api, model.ContextKeyEnv: env},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: "/a", Host: "h", Headers: map[string]string{"x-request-id": "rid"},
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetStatus().GetCode() == 0
}

// serving is the release of env the replica serves.
func (r *storeReplica) serving(env string) uint64 {
	return r.s.Follower().Status().Environments[env].Release
}

// waitUntil polls cond for up to d.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// releasesDoc is /debug/releases as JSON.
type releasesDoc struct {
	follow.Status
	Replicas      []release.ReplicaStatus `json:"replicas"`
	ReplicasError string                  `json:"replicas_error"`
}

func (r *storeReplica) debugReleases(t *testing.T) releasesDoc {
	t.Helper()
	code, body := get(t, "http://"+r.s.AdminAddr().String()+"/debug/releases")
	if code != 200 {
		t.Fatalf("/debug/releases: %d %s", code, body)
	}
	var d releasesDoc
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("/debug/releases: %v\n%s", err, body)
	}
	return d
}

func (r *storeReplica) metric(t *testing.T, line string) bool {
	t.Helper()
	_, body := get(t, "http://"+r.s.AdminAddr().String()+"/metrics")
	return strings.Contains(body, line+"\n")
}

// TestStorePublishChangesOnlyThatEnvironment: two replicas on one store;
// a publish to BETA changes BETA's decisions on both and RELEASE's on
// neither; /debug/releases, the metrics and the replicas' reports say
// which release each serves; the local file still reloads.
func TestStorePublishChangesOnlyThatEnvironment(t *testing.T) {
	st := newMemStore()
	publish(t, st, "RELEASE", relOpen)
	publish(t, st, "BETA", betaOpen)
	a := startStoreReplica(t, st, "etcd://root:s3cret@127.0.0.1:2379/apigw?password=s3cret", func(o *Options) { o.ReplicaID = "replica-a" })
	b := startStoreReplica(t, st, "etcd://127.0.0.1:2379/apigw", nil)
	for _, r := range []*storeReplica{a, b} {
		if !r.allowed(t, "gr/a", "RELEASE") || !r.allowed(t, "gb/a", "BETA") {
			t.Fatal("release 1 of both environments should allow")
		}
	}
	publish(t, st, "BETA", betaClosed)
	for _, r := range []*storeReplica{a, b} {
		// Check switches during the apply, the follower's status once
		// the apply is over: wait for the status.
		waitUntil(t, 5*time.Second, "BETA#2 applied", func() bool { return r.serving("BETA") == 2 })
		if r.allowed(t, "gb/a", "BETA") {
			t.Fatal("BETA#2 (closed) applied, but Check still allows")
		}
		if !r.allowed(t, "gr/a", "RELEASE") {
			t.Fatal("RELEASE changed with a publish to BETA")
		}
		if r.serving("RELEASE") != 1 {
			t.Fatalf("serving %+v", r.s.Follower().Status().Environments)
		}
		if !r.metric(t, `apigw_release_serving{env="BETA"} 2`) || !r.metric(t, `apigw_release_serving{env="RELEASE"} 1`) ||
			!r.metric(t, "apigw_release_store_up 1") || !r.metric(t, "apigw_release_apply_failures_total 0") {
			t.Fatal("metrics do not show the releases served")
		}
	}
	d := a.debugReleases(t)
	if d.Store != "etcd://127.0.0.1:2379/apigw" || !d.StoreAvailable || d.Environments["BETA"].Release != 2 || d.Revision != 3 || d.ReplicaID != "replica-a" {
		t.Fatalf("/debug/releases: %+v", d)
	}
	waitUntil(t, 5*time.Second, "both replicas report BETA#2", func() bool {
		reps := a.debugReleases(t).Replicas
		n := 0
		for _, r := range reps {
			if r.Serving["BETA"] == 2 && r.Serving["RELEASE"] == 1 {
				n++
			}
		}
		return len(reps) == 2 && n == 2
	})
	_, body := get(t, "http://"+a.s.AdminAddr().String()+"/debug/releases")
	if strings.Contains(body, "s3cret") {
		t.Fatal("/debug/releases shows the store's credentials")
	}

	// The local file still reloads, composed with the releases served.
	reloads := a.s.Reloader().Status().Reloads
	write(t, a.s.opts.ConfigPath, storeLocal+"settings: {max_api_removal_percent: 50}\n")
	a.s.Reload()
	waitUntil(t, 5*time.Second, "the local file reloaded", func() bool {
		return a.s.Reloader().Status().Reloads > reloads || a.s.Reloader().Status().LastError != ""
	})
	if e := a.s.Reloader().Status().LastError; e != "" {
		t.Fatal(e)
	}
	if a.allowed(t, "gb/a", "BETA") || !a.allowed(t, "gr/a", "RELEASE") {
		t.Fatal("a reload of the local file lost the releases")
	}
	// A local file with a schema problem is refused with its line; the
	// releases keep serving.
	write(t, a.s.opts.ConfigPath, storeLocal+"settings: {max_body_bytes: 2048}\n")
	a.s.Reload()
	waitUntil(t, 5*time.Second, "the bad local file refused", func() bool { return a.s.Reloader().Status().Failures > 0 })
	if e := a.s.Reloader().Status().LastError; !strings.Contains(e, ":4:12: settings.max_body_bytes: unknown field") || strings.Contains(e, "no groups") {
		t.Fatalf("refusal of the local file: %s", e)
	}
	if a.allowed(t, "gb/a", "BETA") || !a.allowed(t, "gr/a", "RELEASE") {
		t.Fatal("a refused local file changed the decisions")
	}
}

// TestStoreRefusalKeepsLastGood: a release the replica refuses changes
// nothing and is reported; the next good one applies.
func TestStoreRefusalKeepsLastGood(t *testing.T) {
	st := newMemStore()
	publish(t, st, "RELEASE", relOpen)
	publish(t, st, "BETA", betaOpen)
	r := startStoreReplica(t, st, "etcd://127.0.0.1:2379/apigw", nil)
	publish(t, st, "BETA", betaBad)
	waitUntil(t, 5*time.Second, "the bad release refused", func() bool { return r.s.Follower().Status().ApplyFailures == 1 })
	stt := r.s.Follower().Status()
	if stt.LastError == "" || stt.Environments["BETA"].Release != 1 || !strings.Contains(stt.LastError, "BETA#2") {
		t.Fatalf("status after a refusal: %+v", stt)
	}
	if !r.allowed(t, "gb/a", "BETA") || !r.allowed(t, "gr/a", "RELEASE") {
		t.Fatal("a refused release changed the decisions")
	}
	if !r.metric(t, "apigw_release_apply_failures_total 1") {
		t.Fatal("the refusal is not counted")
	}
	waitUntil(t, 5*time.Second, "the refusal reported", func() bool {
		reps, err := st.Replicas(context.Background())
		return err == nil && len(reps) == 1 && reps[0].LastError != "" && reps[0].Serving["BETA"] == 1
	})
	publish(t, st, "BETA", betaClosed)
	// Check switches during the apply, the follower's status once the
	// apply is over: wait for the status.
	waitUntil(t, 5*time.Second, "BETA#3 applied", func() bool { return r.s.Follower().Status().Environments["BETA"].Release == 3 })
	if stt := r.s.Follower().Status(); stt.LastError != "" {
		t.Fatalf("status after a good release: %+v", stt)
	}
	if r.allowed(t, "gb/a", "BETA") {
		t.Fatal("BETA#3 (closed) applied, but Check still allows")
	}
}

// slowXDS is an XDS side whose Prepare takes delay.
type slowXDS struct {
	recordingXDS
	delay time.Duration
}

func (x *slowXDS) Prepare(ctx context.Context, snap *model.Snapshot) (func() error, error) {
	time.Sleep(x.delay)
	return x.recordingXDS.Prepare(ctx, snap)
}

// TestStoreCoalescesBursts: while one apply runs, the publishes that
// arrive are coalesced: the newest is applied, not each in turn.
func TestStoreCoalescesBursts(t *testing.T) {
	st := newMemStore()
	publish(t, st, "RELEASE", relOpen)
	publish(t, st, "BETA", betaOpen)
	r := startStoreReplica(t, st, "etcd://127.0.0.1:2379/apigw", func(o *Options) { o.XDS = &slowXDS{delay: 100 * time.Millisecond} })
	start := r.s.Reloader().Status().Reloads
	for i := range 20 {
		text := betaOpen
		if i%2 == 0 {
			text = betaClosed
		}
		publish(t, st, "BETA", text)
	}
	// The last (the 21st release of BETA) is open.
	waitUntil(t, 10*time.Second, "BETA#21 applied", func() bool { return r.serving("BETA") == 21 })
	if !r.allowed(t, "gb/a", "BETA") {
		t.Fatal("the newest release is not what decides")
	}
	if n := r.s.Reloader().Status().Reloads - start; n > 5 {
		t.Fatalf("20 publishes in a burst took %d applies; want them coalesced", n)
	}
}

// TestStoreDownThenUp: with the store down the replica keeps deciding by
// the releases it applied and reports the store unavailable; when the
// store returns it catches up on what was published meanwhile.
func TestStoreDownThenUp(t *testing.T) {
	st := newMemStore()
	publish(t, st, "RELEASE", relOpen)
	publish(t, st, "BETA", betaOpen)
	r := startStoreReplica(t, st, "etcd://127.0.0.1:2379/apigw", nil)
	st.setDown(true)
	waitUntil(t, 5*time.Second, "the store reported down", func() bool { return !r.s.Follower().Status().StoreAvailable })
	if !r.metric(t, "apigw_release_store_up 0") {
		t.Fatal("apigw_release_store_up is not 0")
	}
	if d := r.debugReleases(t); d.StoreAvailable || d.StoreError == "" || d.ReplicasError == "" || d.Environments["BETA"].Release != 1 {
		t.Fatalf("/debug/releases with the store down: %+v", d)
	}
	if !r.allowed(t, "gb/a", "BETA") || !r.allowed(t, "gr/a", "RELEASE") {
		t.Fatal("the replica stopped deciding by its releases")
	}
	// A publish the replica cannot see while the store is down.
	st.mu.Lock()
	st.down = false
	st.mu.Unlock()
	gw, _ := config.Parse([]byte(betaClosed))
	st.mu.Lock()
	st.rev++
	rel := &release.Release{Env: "BETA", Number: 2, Created: time.Now(), Config: gw}
	st.current["BETA"], st.history["BETA"] = rel, append(st.history["BETA"], rel)
	st.down = true
	st.mu.Unlock()
	time.Sleep(300 * time.Millisecond)
	if !r.allowed(t, "gb/a", "BETA") {
		t.Fatal("a release applied while the store was down")
	}
	st.setDown(false)
	waitUntil(t, 10*time.Second, "caught up", func() bool { return r.serving("BETA") == 2 && r.s.Follower().Status().StoreAvailable })
	if r.allowed(t, "gb/a", "BETA") || !r.allowed(t, "gr/a", "RELEASE") {
		t.Fatal("decisions after catching up")
	}
	if !r.metric(t, "apigw_release_store_up 1") {
		t.Fatal("apigw_release_store_up is not 1")
	}
	waitUntil(t, 5*time.Second, "reported after the store returned", func() bool {
		reps, err := st.Replicas(context.Background())
		return err == nil && len(reps) == 1 && reps[0].Serving["BETA"] == 2
	})
}

// TestStoreDownAtStart: a store that cannot be read within the start
// timeout fails Start with one line naming it, without its credentials.
func TestStoreDownAtStart(t *testing.T) {
	st := newMemStore()
	publish(t, st, "BETA", betaOpen)
	st.setDown(true)
	path := filepath.Join(t.TempDir(), "local.yaml")
	if err := os.WriteFile(path, []byte(storeLocal), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := Start(context.Background(), Options{ConfigPath: path, WatchInterval: -1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Store: st, StoreURL: "etcd://u:pw@127.0.0.1:1/apigw", StoreStartTimeout: 300 * time.Millisecond})
	if err == nil {
		t.Fatal("Start succeeded with the store down")
	}
	if time.Since(start) > 3*time.Second {
		t.Fatalf("Start took %v to give up", time.Since(start))
	}
	msg := err.Error()
	if strings.Contains(msg, "pw") || !strings.Contains(msg, "etcd://127.0.0.1:1/apigw") || strings.Contains(msg, "\n") {
		t.Fatalf("error: %q", msg)
	}
}

// TestStoreIdleReplicaDoesNothing: once started, an idle replica holds its
// watch and reported itself once; it reads nothing else from the store.
func TestStoreIdleReplicaDoesNothing(t *testing.T) {
	st := newMemStore()
	publish(t, st, "RELEASE", relOpen)
	startStoreReplica(t, st, "etcd://127.0.0.1:2379/apigw", nil)
	waitUntil(t, 5*time.Second, "the first report", func() bool { return st.callCounts()["Report"] == 1 })
	before := st.callCounts()
	time.Sleep(time.Second)
	after := st.callCounts()
	// Current: the publish's read and the start's.
	if !maps.Equal(before, after) || after["Watch"] != 1 || after["Current"] != 2 {
		t.Fatalf("calls of an idle replica: %v, then %v a second later", before, after)
	}
}
