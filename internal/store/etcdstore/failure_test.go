package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/apigwio/apigw/internal/etcdtest"
	"github.com/apigwio/apigw/internal/release"
	"github.com/apigwio/apigw/internal/testcerts"
)

// leader returns the index of the cluster's leader.
func leader(t *testing.T, c *etcdtest.Cluster, cli *clientv3.Client) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for i, ep := range c.Endpoints {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			st, err := cli.Status(ctx, ep)
			cancel()
			if err == nil && st.Leader != 0 && st.Leader == st.Header.MemberId {
				return i
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no leader")
	return -1
}

// TestClusterMemberLostDuringPublishes kills the leader of three members
// during a stream of publishes: every acknowledged publish is kept, and
// the store keeps working on the two left, and after the member returns.
func TestClusterMemberLostDuringPublishes(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	s := open(t, storeURL(c, "apigw"), Options{History: 1000, Timeout: 3 * time.Second})
	raw := rawClient(t, c)
	acked := map[uint64]string{} // number -> path
	var expect uint64
	failed, afterKill := 0, 0
	const total, kill, restart = 60, 15, 40
	for i := range total {
		if i == kill {
			c.Stop(leader(t, c, raw))
		}
		if i == restart {
			for j, m := range c.Members {
				_ = m
				c.Restart(j) // no-op for running members but waits for health
			}
		}
		path := fmt.Sprintf("/p%d", i)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := s.Publish(ctx, []*release.Release{rel("BETA", path, "")}, map[string]uint64{"BETA": expect})
		cancel()
		switch {
		case err == nil:
			acked[out[0].Number] = path
			expect = out[0].Number
			if i >= kill {
				afterKill++
			}
		case errors.Is(err, release.ErrConflict) || errors.Is(err, release.ErrUnavailable):
			// An unacknowledged publish may still have been committed:
			// read where BETA is now and go on from there.
			failed++
			t.Logf("publish %d: %v", i, err)
			for try := 0; ; try++ {
				cur, err := s.Current(context.Background())
				if err == nil {
					if r := cur.Releases["BETA"]; r != nil {
						expect = r.Number
					}
					break
				}
				if try == 20 {
					t.Fatalf("Current after a failed publish: %v", err)
				}
				time.Sleep(200 * time.Millisecond)
			}
		default:
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	if afterKill < total-kill-5 {
		t.Fatalf("only %d of %d publishes succeeded after the member was killed (%d failed)", afterKill, total-kill, failed)
	}
	list, err := s.List(context.Background(), "BETA")
	if err != nil {
		t.Fatal(err)
	}
	kept := map[uint64]string{}
	for _, r := range list {
		kept[r.Number] = r.Config.Groups[0].Apis[0].Path
	}
	for n, path := range acked {
		if kept[n] != path {
			t.Errorf("acknowledged release #%d (%s) lost: store has %q", n, path, kept[n])
		}
	}
	cur, err := s.Current(context.Background())
	if err != nil || cur.Releases["BETA"].Number != expect {
		t.Fatalf("current %+v %v, want #%d", cur, err, expect)
	}
	t.Logf("%d publishes acknowledged, %d failed during the failover, %d after the kill", len(acked), failed, afterKill)
}

// TestAllMembersDown: every call fails within the call timeout with
// ErrUnavailable, and works again after the members return.
func TestAllMembersDown(t *testing.T) {
	c := etcdtest.StartCluster(t, 3)
	const timeout = 2 * time.Second
	s := open(t, storeURL(c, "apigw"), Options{Timeout: timeout})
	r1 := publish(t, s, rel("BETA", "/a", ""), nil)
	c.StopAll()
	ctx := context.Background()
	calls := []struct {
		name string
		call func() error
	}{
		{"Current", func() error { _, err := s.Current(ctx); return err }},
		{"List", func() error { _, err := s.List(ctx, ""); return err }},
		{"Get", func() error { _, err := s.Get(ctx, "BETA", 1); return err }},
		{"Publish", func() error {
			_, err := s.Publish(ctx, []*release.Release{rel("BETA", "/b", "")}, map[string]uint64{"BETA": r1.Number})
			return err
		}},
		{"Report", func() error { return s.Report(ctx, release.ReplicaStatus{ID: "r1"}) }},
		{"Replicas", func() error { _, err := s.Replicas(ctx); return err }},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := tc.call()
			took := time.Since(start)
			if !errors.Is(err, release.ErrUnavailable) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			if took > timeout+time.Second {
				t.Fatalf("took %v, more than the %v timeout", took, timeout)
			}
			t.Logf("%v after %v", err, took.Round(time.Millisecond))
		})
	}
	c.RestartAll()
	deadline := time.Now().Add(15 * time.Second)
	for {
		cur, err := s.Current(ctx)
		if err == nil {
			if cur.Releases["BETA"].Number != r1.Number {
				t.Fatalf("after restart: %+v", cur.Releases)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store not usable after the members returned: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	publish(t, s, rel("BETA", "/b", ""), map[string]uint64{"BETA": r1.Number})
	// The status reported while etcd was down is written once it returns,
	// without another Report.
	waitFor(t, 15*time.Second, "the replica reported during the outage to appear", func() bool {
		rs, err := s.Replicas(ctx)
		return err == nil && len(rs) == 1 && rs[0].ID == "r1"
	})
}

// TestWatchSurvivesOutage: a watch running while every member is down
// delivers the publishes made after they return.
func TestWatchSurvivesOutage(t *testing.T) {
	c := etcdtest.StartSingle(t)
	url := storeURL(c, "apigw")
	s := open(t, url, Options{Timeout: 2 * time.Second})
	r1 := publish(t, s, rel("BETA", "/a", ""), nil)
	cur, _ := s.Current(context.Background())
	got := make(chan uint64, 16)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { _ = s.Watch(ctx, cur.Revision, func(c *release.Current) { got <- c.Releases["BETA"].Number }) }()
	time.Sleep(200 * time.Millisecond)
	c.StopAll()
	time.Sleep(time.Second)
	c.RestartAll()
	pub := open(t, url, Options{})
	var r2 *release.Release
	deadline := time.Now().Add(15 * time.Second)
	for r2 == nil {
		out, err := pub.Publish(context.Background(), []*release.Release{rel("BETA", "/b", "")}, map[string]uint64{"BETA": r1.Number})
		if err == nil {
			r2 = out[0]
		} else if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	select {
	case n := <-got:
		if n != r2.Number {
			t.Fatalf("delivered #%d, want #%d", n, r2.Number)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("watch did not deliver the publish made after the outage")
	}
}

func TestAuth(t *testing.T) {
	c := etcdtest.StartSingle(t)
	raw := rawClient(t, c)
	ctx := ctxT(t)
	if _, err := raw.RoleAdd(ctx, "root"); err != nil && !errors.Is(err, rpctypes.ErrRoleAlreadyExist) {
		t.Fatal(err)
	}
	const password = "s3cret-Passw0rd"
	for _, step := range []func() error{
		func() error { _, err := raw.UserAdd(ctx, "root", password); return err },
		func() error { _, err := raw.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := raw.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	url := storeURL(c, "apigw")
	for _, tc := range []struct {
		name, user, password string
		want                 string // "" : works
	}{
		{"right password", "root", password, ""},
		{"wrong password", "root", "wrong-password", "authentication failed for user \"root\""},
		{"unknown user", "nobody", password, "authentication failed for user \"nobody\""},
		{"no credentials", "", "", "requires authentication"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			octx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := Open(octx, url, Options{Username: tc.user, Password: tc.password})
			if err == nil {
				defer s.Close()
				_, err = s.Publish(octx, []*release.Release{rel("BETA", "/"+strings.ReplaceAll(tc.name, " ", "-"), "")}, nil)
				if err != nil && errors.Is(err, release.ErrConflict) {
					err = nil // an earlier case published already
				}
			}
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrCredentials) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrCredentials saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), tc.password) && tc.password != "" {
				t.Fatalf("the error holds the password: %v", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("not one line: %q", err)
			}
		})
	}
	// Authentication is not an availability problem.
	if _, err := Open(ctx, url, Options{Username: "root"}); err == nil || strings.Contains(err.Error(), password) {
		t.Fatalf("user without password: %v", err)
	}
}

func TestReplicas(t *testing.T) {
	c := etcdtest.StartSingle(t)
	url := storeURL(c, "apigw")
	a := open(t, url, Options{LeaseTTL: 2 * time.Second})
	b := open(t, url, Options{LeaseTTL: 2 * time.Second})
	ctx := ctxT(t)
	if err := a.Report(ctx, release.ReplicaStatus{ID: "host-a:18001", Serving: map[string]uint64{"BETA": 1}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Report(ctx, release.ReplicaStatus{ID: "host/b", Serving: map[string]uint64{"BETA": 1}, LastError: "refused #2"}); err != nil {
		t.Fatal(err)
	}
	if err := a.Report(ctx, release.ReplicaStatus{ID: "host-a:18001", Serving: map[string]uint64{"BETA": 2, "RELEASE": 1}}); err != nil {
		t.Fatal(err)
	}
	list := func() string {
		t.Helper()
		rs, err := b.Replicas(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, r := range rs {
			if r.Updated.IsZero() {
				t.Errorf("%s: no Updated", r.ID)
			}
			parts = append(parts, fmt.Sprintf("%s=%v/%s", r.ID, r.Serving, r.LastError))
		}
		return strings.Join(parts, " ")
	}
	if got, want := list(), "host-a:18001=map[BETA:2 RELEASE:1]/ host/b=map[BETA:1]/refused #2"; got != want {
		t.Fatalf("Replicas = %s, want %s", got, want)
	}
	// Kept alive beyond the TTL.
	time.Sleep(3 * time.Second)
	if got := list(); !strings.Contains(got, "host-a") || !strings.Contains(got, "host/b") {
		t.Fatalf("after the TTL, with keep-alives: %s", got)
	}
	// A lease lost (revoked behind the store's back, as when etcd expired
	// it) is granted again and the status written again.
	a.mu.Lock()
	lease := a.lease
	a.mu.Unlock()
	raw := rawClient(t, c)
	if _, err := raw.Revoke(ctx, lease); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "host-a to report again under a new lease", func() bool { return strings.Contains(list(), "host-a") })
	// A replica that stops keeping its lease alive (a crash) disappears
	// after the TTL.
	b.cancel()
	b.wg.Wait()
	waitFor(t, 10*time.Second, "host/b to expire", func() bool { return !strings.Contains(list(), "host/b") })
	// Close revokes the lease at once.
	start := time.Now()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	probe := open(t, url, Options{})
	rs, err := probe.Replicas(ctx)
	if err != nil || len(rs) != 0 {
		t.Fatalf("after Close: %v %v", rs, err)
	}
	if took := time.Since(start); took > time.Second {
		t.Fatalf("Close took %v", took)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA(t, dir, "ca")
	cert, key, _ := ca.Leaf(t, dir, "etcd", "127.0.0.1", "localhost")
	ccert, ckey, _ := ca.Leaf(t, dir, "client", "apigw")
	c := etcdtest.Start(t, etcdtest.Config{TLS: &etcdtest.TLS{CertFile: cert, KeyFile: key, CAFile: ca.File}})
	url := storeURL(c, "apigw")
	if !strings.HasPrefix(url, "etcds://") {
		t.Fatal(url)
	}
	s := open(t, url, Options{CAFile: ca.File, CertFile: ccert, KeyFile: ckey})
	publish(t, s, rel("BETA", "/tls", ""), nil)

	// Without the client certificate the handshake is refused; without the
	// CA the member's certificate is not trusted.
	for name, opts := range map[string]Options{
		"no client certificate": {CAFile: ca.File, Timeout: 2 * time.Second},
		"unknown CA":            {CertFile: ccert, KeyFile: ckey, Timeout: 2 * time.Second},
	} {
		t.Run(name, func(t *testing.T) {
			s := open(t, url, opts)
			_, err := s.Current(context.Background())
			if err == nil {
				t.Fatal("Current succeeded")
			}
			t.Log(err)
		})
	}
	// TLS files with etcd:// are a mistake, said as such.
	if _, err := Open(context.Background(), strings.Replace(url, "etcds://", "etcd://", 1), Options{CAFile: ca.File}); err == nil || !strings.Contains(err.Error(), "etcds://") {
		t.Fatalf("TLS files with etcd://: %v", err)
	}
}
