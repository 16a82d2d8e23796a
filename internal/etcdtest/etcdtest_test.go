package etcdtest

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func client(t *testing.T, c *Cluster) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints, DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// put writes k=v, retrying while the cluster elects a leader.
func put(t *testing.T, cli *clientv3.Client, k, v string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := cli.Put(ctx, k, v)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("put %s: %v", k, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func get(t *testing.T, cli *clientv3.Client, k string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, k)
	if err != nil {
		t.Fatalf("get %s: %v", k, err)
	}
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

func TestSingleStopRestartKeepsData(t *testing.T) {
	c := StartSingle(t)
	cli := client(t, c)
	put(t, cli, "k", "v")
	c.StopAll()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err := cli.Get(ctx, "k")
	cancel()
	if err == nil {
		t.Fatal("Get succeeded with etcd stopped")
	}
	c.RestartAll()
	if got := get(t, cli, "k"); got != "v" {
		t.Fatalf("after restart k=%q, want v (the data directory survives)", got)
	}
}

func TestClusterLosesOneMember(t *testing.T) {
	c := StartCluster(t, 3)
	if len(c.Endpoints) != 3 {
		t.Fatalf("endpoints %v", c.Endpoints)
	}
	cli := client(t, c)
	put(t, cli, "a", "1")
	c.Stop(0)
	put(t, cli, "b", "2") // two of three still make a quorum
	c.Restart(0)
	one, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints[:1], DialTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	// The restarted member catches up (a linearizable read goes through
	// the leader's commit index).
	if got := get(t, one, "b"); got != "2" {
		t.Fatalf("restarted member reads b=%q, want 2", got)
	}
}
