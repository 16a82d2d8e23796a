package redistest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// NodeTimeout is the cluster-node-timeout of a test cluster: how long a
// master may be unreachable before the others mark it failed.
const NodeTimeout = time.Second

// clusterArgs are the redis-server arguments of a cluster node. With
// cluster-require-full-coverage off, the masters still alive keep serving
// their slots when one is lost, as docs/deployment.md recommends.
func clusterArgs(busPort int) []string {
	return []string{
		"--cluster-enabled", "yes",
		"--cluster-config-file", "nodes.conf", // in --dir
		"--cluster-port", strconv.Itoa(busPort),
		"--cluster-node-timeout", strconv.Itoa(int(NodeTimeout / time.Millisecond)),
		"--cluster-require-full-coverage", "no",
	}
}

// Cluster is a Redis Cluster of three masters without replicas, owned by a
// test.
type Cluster struct {
	// Addrs are the masters' host:port on 127.0.0.1.
	Addrs []string
	// Nodes are the masters, in the order of Addrs. Stopping one loses its
	// slots (there are no replicas to take over).
	Nodes []*Server

	t     testing.TB
	slots []slotRange
}

type slotRange struct{ start, end, node int }

// CLI returns the redis-cli binary: $REDIS_CLI, else the one beside the
// redis-server binary, else redis-cli on PATH. ok is false when none exists.
func CLI() (path string, ok bool) {
	if p := os.Getenv("REDIS_CLI"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	if srv, ok := Binary(); ok {
		p := filepath.Join(filepath.Dir(srv), "redis-cli")
		if _, err := os.Stat(p); err == nil {
			return p, true
		}
	}
	if p, err := exec.LookPath("redis-cli"); err == nil {
		return p, true
	}
	return "", false
}

// StartCluster starts three redis-server processes in cluster mode on free
// loopback ports (each in a temporary directory, persistence off), joins
// them with redis-cli --cluster create (three masters, no replicas), waits
// until every node reports cluster_state:ok, and stops them when t ends.
// It skips t when redis-server or redis-cli is missing (fails it with
// APIGW_REQUIRE_REDIS=1).
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	bin, ok := Binary()
	if !ok {
		missing(t, "redis-server not found: install the Debian package redis-server (or set REDIS_SERVER)")
	}
	cli, ok := CLI()
	if !ok {
		missing(t, "redis-cli not found: install the Debian package redis-tools (or set REDIS_CLI)")
	}
	c := &Cluster{t: t}
	for range 3 {
		s := startServer(t, bin, true)
		c.Nodes = append(c.Nodes, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redistest: redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for i, s := range c.Nodes {
		for {
			info, err := clusterInfo(ctx, s.Addr)
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("redistest: cluster node %d (%s) not ok within 20s: %v %s", i, s.Addr, err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	c.loadSlots(ctx)
	return c
}

func clusterInfo(ctx context.Context, addr string) (string, error) {
	rc := redis.NewClient(Options(addr))
	defer rc.Close()
	return rc.ClusterInfo(ctx).Result()
}

// loadSlots records which node serves which slots (CLUSTER SHARDS).
func (c *Cluster) loadSlots(ctx context.Context) {
	rc := redis.NewClient(Options(c.Addrs[0]))
	defer rc.Close()
	shards, err := rc.ClusterShards(ctx).Result()
	if err != nil {
		c.t.Fatalf("redistest: CLUSTER SHARDS: %v", err)
	}
	for _, sh := range shards {
		node := -1
		for _, n := range sh.Nodes {
			if n.Role != "master" {
				continue
			}
			for i, a := range c.Addrs {
				if net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10)) == a || net.JoinHostPort(n.Endpoint, strconv.FormatInt(n.Port, 10)) == a {
					node = i
				}
			}
		}
		if node < 0 {
			c.t.Fatalf("redistest: CLUSTER SHARDS names an unknown master: %+v", sh)
		}
		for _, sl := range sh.Slots {
			c.slots = append(c.slots, slotRange{int(sl.Start), int(sl.End), node})
		}
	}
}

// NodeOf returns the index in Nodes of the master serving key's slot, as
// of the cluster's creation. It asks a running node (CLUSTER KEYSLOT).
func (c *Cluster) NodeOf(key string) int {
	c.t.Helper()
	var lastErr error
	for _, s := range c.Nodes {
		rc := redis.NewClient(Options(s.Addr))
		slot, err := rc.ClusterKeySlot(context.Background(), key).Result()
		_ = rc.Close()
		if err != nil {
			lastErr = err
			continue
		}
		for _, r := range c.slots {
			if int(slot) >= r.start && int(slot) <= r.end {
				return r.node
			}
		}
		c.t.Fatalf("redistest: slot %d of %q is served by no master", slot, key)
	}
	c.t.Fatalf("redistest: CLUSTER KEYSLOT %q: %v", key, lastErr)
	return -1
}

// Client returns a go-redis cluster client for the cluster, closed when the
// test ends, with the timeouts of Options.
func (c *Cluster) Client() *redis.ClusterClient {
	cc := redis.NewClusterClient(ClusterOptions(c.Addrs))
	c.t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// ClusterOptions returns cluster client options for addrs with the
// settings of Options.
func ClusterOptions(addrs []string) *redis.ClusterOptions {
	o := Options("")
	return &redis.ClusterOptions{
		Addrs:                 addrs,
		ContextTimeoutEnabled: o.ContextTimeoutEnabled,
		DialTimeout:           o.DialTimeout,
		ReadTimeout:           o.ReadTimeout,
		WriteTimeout:          o.WriteTimeout,
		MaxRetries:            o.MaxRetries,
		DialerRetries:         o.DialerRetries,
		DisableIdentity:       o.DisableIdentity,
	}
}

// String describes the cluster for failure messages.
func (c *Cluster) String() string {
	var b bytes.Buffer
	for i, r := range c.slots {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%d-%d@%s", r.start, r.end, c.Addrs[r.node])
	}
	return b.String()
}
