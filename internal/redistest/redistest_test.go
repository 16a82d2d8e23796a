package redistest

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestStartStopRestart(t *testing.T) {
	srv := Start(t)
	c := srv.Client()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if err := ping(srv.Addr, 100*time.Millisecond); err == nil {
		t.Fatal("server still answers after Stop")
	}
	srv.Stop() // no-op
	srv.Restart()
	if err := ping(srv.Addr, time.Second); err != nil {
		t.Fatalf("no PONG after Restart: %v", err)
	}
	// Same address, nothing persisted; the client reconnects by itself.
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := c.Exists(ctx, "k").Result()
		if err == nil {
			if n != 0 {
				t.Fatal("data survived a restart with persistence off")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client did not reconnect: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPauseResume(t *testing.T) {
	srv := Start(t)
	c := srv.Client()
	srv.Pause()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("paused server answered")
	}
	srv.Resume()
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("resumed server: %v", err)
	}
}

func TestTwoServersAreIndependent(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.Addr == b.Addr {
		t.Fatalf("both on %s", a.Addr)
	}
	ctx := context.Background()
	a.Client().Set(ctx, "k", "a", 0)
	if n := b.Client().Exists(ctx, "k").Val(); n != 0 {
		t.Fatal("servers share data")
	}
}

// TestCluster: three masters share the slots; keys of one hash tag land on
// one node, multi-key commands on them work, and a stopped master's slots
// fail while the others keep serving.
func TestCluster(t *testing.T) {
	c := StartCluster(t)
	if len(c.Addrs) != 3 {
		t.Fatalf("%d masters", len(c.Addrs))
	}
	ctx := context.Background()
	cc := c.Client()
	if err := cc.MSet(ctx, "{k}a", "1", "{k}b", "2").Err(); err != nil {
		t.Fatalf("MSET in one slot: %v", err)
	}
	if err := cc.MSet(ctx, "ka", "1", "kb", "2").Err(); err == nil || !strings.Contains(err.Error(), "CROSSSLOT") {
		t.Fatalf("MSET across slots: %v, want CROSSSLOT", err)
	}
	// One key per node.
	keys := map[int]string{}
	for i := 0; len(keys) < 3 && i < 1000; i++ {
		k := "key" + strconv.Itoa(i)
		if _, ok := keys[c.NodeOf(k)]; !ok {
			keys[c.NodeOf(k)] = k
		}
	}
	if len(keys) != 3 {
		t.Fatalf("keys not spread over 3 nodes: %v (%s)", keys, c)
	}
	for _, k := range keys {
		if err := cc.Set(ctx, k, "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	c.Nodes[0].Stop()
	for n, k := range keys {
		err := cc.Get(ctx, k).Err()
		if n == 0 && err == nil {
			t.Errorf("key %s of the stopped master answered", k)
		}
		if n != 0 && err != nil {
			t.Errorf("key %s of a live master: %v", k, err)
		}
	}
}
