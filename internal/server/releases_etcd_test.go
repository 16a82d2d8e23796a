package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/etcdtest"
	"github.com/apigwio/apigw/internal/release"
	"github.com/apigwio/apigw/internal/store/etcdstore"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// published is the configuration the etcd tests publish from: g/a in both
// environments, open (auth none) or closed (auth iam) as asked, and g/b
// open in both (it never changes).
func published(t *testing.T, closed bool) *configv1.Gateway {
	t.Helper()
	auth := "none"
	if closed {
		auth = "iam"
	}
	gw, err := config.Parse([]byte(`
environments: [{name: BETA}]
groups:
  - name: g
    domains: [g.example.com]
    apis:
      - {name: a, path: /a, auth: ` + auth + `, environments: [RELEASE, BETA], backend: {url: "http://10.0.0.1"}}
      - {name: b, path: /b, auth: none, environments: [RELEASE, BETA], backend: {url: "http://10.0.0.1"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	return gw
}

// openStore opens the etcd store at u for the test.
func openStore(t *testing.T, u string) *etcdstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := etcdstore.Open(ctx, u, etcdstore.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// publishEnvs publishes gw restricted to each of envs in one transaction,
// retrying while the store is unavailable (a member being killed). Every
// attempt expects the current releases the first one read, so a retry of
// a publish that was committed before its answer was lost gets a conflict
// instead of committing the releases again; that conflict is resolved by
// finding them current.
func publishEnvs(t *testing.T, st release.Store, gw *configv1.Gateway, envs ...string) []*release.Release {
	t.Helper()
	var rels []*release.Release
	for _, env := range envs {
		r, err := release.Restrict(gw, env)
		if err != nil {
			t.Fatal(err)
		}
		rels = append(rels, &release.Release{Env: env, Note: "test", SourceDigest: "test", Config: r})
	}
	deadline := time.Now().Add(30 * time.Second)
	var expect map[string]uint64 // set by the first Current read
	mayHaveCommitted := false
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		out, err := publishExpecting(ctx, st, rels, &expect)
		cancel()
		if err == nil {
			return out
		}
		if mayHaveCommitted && errors.Is(err, release.ErrConflict) {
			return committedEarlier(t, st, rels, expect)
		}
		if !errors.Is(err, release.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		mayHaveCommitted = mayHaveCommitted || expect != nil // Publish itself was tried
		time.Sleep(100 * time.Millisecond)
	}
}

// publishExpecting publishes rels expecting *expect, read from the store's
// current releases when nil.
func publishExpecting(ctx context.Context, st release.Store, rels []*release.Release, expect *map[string]uint64) ([]*release.Release, error) {
	if *expect == nil {
		cur, err := st.Current(ctx)
		if err != nil {
			return nil, err
		}
		*expect = cur.Numbers()
	}
	return st.Publish(ctx, rels, *expect)
}

// committedEarlier returns rels as the store's current releases, each the
// one after expect's: what an earlier attempt committed. Anything else
// (another publisher) fails t.
func committedEarlier(t *testing.T, st release.Store, rels []*release.Release, expect map[string]uint64) []*release.Release {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cur, err := st.Current(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []*release.Release
	for _, r := range rels {
		got := cur.Releases[r.Env]
		if got == nil || got.Number != expect[r.Env]+1 || !proto.Equal(got.Config, r.Config) {
			t.Fatalf("publish of %s: conflict after a lost answer, and the current release is not ours (%v)", r.Env, got)
		}
		out = append(out, got)
	}
	return out
}

func publishOnce(ctx context.Context, st release.Store, rels []*release.Release) ([]*release.Release, error) {
	var expect map[string]uint64
	return publishExpecting(ctx, st, rels, &expect)
}

// rollback makes release n of env current again, as a new release.
func rollback(t *testing.T, st release.Store, env string, n uint64) *release.Release {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	old, err := st.Get(ctx, env, n)
	if err != nil {
		t.Fatal(err)
	}
	rels, err := publishOnce(ctx, st, []*release.Release{{Env: env, Note: "rollback", SourceDigest: old.SourceDigest, RollbackOf: n, Config: old.Config}})
	if err != nil {
		t.Fatal(err)
	}
	return rels[0]
}

// etcdReplicas starts two replicas, each with its own connection to the
// store at u.
func etcdReplicas(t *testing.T, u string) [2]*storeReplica {
	t.Helper()
	var rs [2]*storeReplica
	for i := range rs {
		rs[i] = startStoreReplica(t, openStore(t, u), u, nil)
	}
	return rs
}

// decisions are the replica's decisions on g/a and g/b in RELEASE and BETA
// (true: allowed).
func (r *storeReplica) decisions(t *testing.T) [4]bool {
	return [4]bool{r.allowed(t, "g/a", "RELEASE"), r.allowed(t, "g/a", "BETA"), r.allowed(t, "g/b", "RELEASE"), r.allowed(t, "g/b", "BETA")}
}

// TestEtcdPublishAndRollback: two replicas watching one real etcd; a
// publish to BETA changes only BETA's decisions on both; a rollback
// restores the earlier decisions exactly.
func TestEtcdPublishAndRollback(t *testing.T) {
	c := etcdtest.StartSingle(t)
	u := c.StoreURL("apigw-test")
	pub := openStore(t, u)
	publishEnvs(t, pub, published(t, false), "RELEASE", "BETA")
	rs := etcdReplicas(t, u)
	before := [4]bool{true, true, true, true}
	for _, r := range rs {
		if d := r.decisions(t); d != before {
			t.Fatalf("decisions at start: %v", d)
		}
	}
	publishEnvs(t, pub, published(t, true), "BETA")
	after := [4]bool{true, false, true, true}
	for _, r := range rs {
		waitUntil(t, 10*time.Second, "BETA#2 applied", func() bool { return r.serving("BETA") == 2 })
		if d := r.decisions(t); d != after {
			t.Fatalf("decisions after the publish to BETA: %v, want %v", d, after)
		}
	}
	rb := rollback(t, pub, "BETA", 1)
	if rb.Number != 3 || rb.RollbackOf != 1 {
		t.Fatalf("rollback: %+v", rb)
	}
	for _, r := range rs {
		waitUntil(t, 10*time.Second, "BETA#3 applied", func() bool { return r.serving("BETA") == 3 })
		if d := r.decisions(t); d != before {
			t.Fatalf("decisions after the rollback: %v, want %v", d, before)
		}
		if r.serving("RELEASE") != 1 {
			t.Fatal("RELEASE changed")
		}
	}
	waitUntil(t, 10*time.Second, "both replicas listed with BETA#3", func() bool {
		d := rs[0].debugReleases(t)
		n := 0
		for _, rep := range d.Replicas {
			if rep.Serving["BETA"] == 3 && rep.Serving["RELEASE"] == 1 {
				n++
			}
		}
		return n == 2
	})
}

// TestEtcdDownThenUp: etcd stopped, the replicas keep deciding by the last
// releases and report the store down; when it returns they report it up
// and apply what is published.
func TestEtcdDownThenUp(t *testing.T) {
	c := etcdtest.StartSingle(t)
	u := c.StoreURL("apigw-test")
	pub := openStore(t, u)
	publishEnvs(t, pub, published(t, false), "RELEASE", "BETA")
	rs := etcdReplicas(t, u)
	c.StopAll()
	for _, r := range rs {
		waitUntil(t, 15*time.Second, "the store reported down", func() bool { return !r.s.Follower().Status().StoreAvailable })
		if !r.metric(t, "apigw_release_store_up 0") {
			t.Fatal("apigw_release_store_up is not 0")
		}
		if d := r.decisions(t); d != [4]bool{true, true, true, true} {
			t.Fatalf("decisions with etcd down: %v", d)
		}
		if d := r.debugReleases(t); d.StoreAvailable || d.StoreError == "" || d.Environments["BETA"].Release != 1 {
			t.Fatalf("/debug/releases with etcd down: %+v", d)
		}
	}
	c.RestartAll()
	for _, r := range rs {
		waitUntil(t, 15*time.Second, "the store reported up", func() bool { return r.s.Follower().Status().StoreAvailable })
	}
	publishEnvs(t, pub, published(t, true), "BETA")
	for _, r := range rs {
		waitUntil(t, 15*time.Second, "BETA#2 applied", func() bool { return r.serving("BETA") == 2 })
		if d := r.decisions(t); d != [4]bool{true, false, true, true} {
			t.Fatalf("decisions after etcd returned: %v", d)
		}
	}
}

// TestEtcdMemberKilledDuringPublish: a three-member cluster loses a member
// while a release is published; nothing is lost and both replicas
// converge on it.
func TestEtcdMemberKilledDuringPublish(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	u := c.StoreURL("apigw-test")
	pub := openStore(t, u)
	publishEnvs(t, pub, published(t, false), "RELEASE", "BETA")
	rs := etcdReplicas(t, u)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		time.Sleep(5 * time.Millisecond)
		c.Stop(0)
	}()
	publishEnvs(t, pub, published(t, true), "BETA")
	wg.Wait()
	for _, r := range rs {
		waitUntil(t, 20*time.Second, "BETA#2 applied", func() bool { return r.serving("BETA") == 2 })
		if d := r.decisions(t); d != [4]bool{true, false, true, true} {
			t.Fatalf("decisions after the publish: %v", d)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := pub.List(ctx, "BETA")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[1].Number != 2 {
		t.Fatalf("BETA's releases after the kill: %d", len(list))
	}
}
