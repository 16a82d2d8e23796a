package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rlcommon "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"

	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/internal/envoycheck"
	"github.com/apigwio/apigw/internal/redistest"
)

const (
	failoverKeys  = 12 // access keys (lockout) and client addresses (rate limits)
	failoverLimit = 6  // requests per day per client address
)

func failoverConfig(mode string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `
server: {grpc_address: "127.0.0.1:0", admin_address: "127.0.0.1:0"}
settings: {throttling: {failure_mode: %s}, lockout: {max_failures: 2, duration: 10m}}
groups:
  - name: g
    apis:
      - {name: a, path: /a, auth: iam, backend: {url: "http://10.0.0.1"}}
throttle_policies:
  - {name: t, unit: day, ip_limit: %d, bindings: [{api: g/a}]}
iam_users:
`, mode, failoverLimit)
	for i := range failoverKeys {
		fmt.Fprintf(&b, "  - {account: acme, user: u%02d, access_keys: [{id: AK%02d, secret: {value: failover-secret-%02d}}]}\n", i, i, i)
	}
	return b.String()
}

func failoverCheck(t *testing.T, i int, good bool) *authv3.CheckRequest {
	r, _ := http.NewRequest("GET", "http://gw.example.com/a", nil)
	secret := fmt.Sprintf("failover-secret-%02d", i)
	if !good {
		secret = "wrong-secret-000"
	}
	if err := signing.SignRequest(r, nil, signing.SignOptions{Access: fmt.Sprintf("AK%02d", i), Secret: secret}); err != nil {
		t.Fatal(err)
	}
	return envoycheck.FromHTTP(r, nil, "g/a", "RELEASE")
}

func failoverAddr(i int) string { return fmt.Sprintf("10.0.0.%d", i+1) }

func failoverLimitRequest(i int) *rlsv3.RateLimitRequest {
	return &rlsv3.RateLimitRequest{Domain: "apigw", Descriptors: []*rlcommon.RateLimitDescriptor{{Entries: []*rlcommon.RateLimitDescriptor_Entry{
		{Key: "api", Value: "g/a@RELEASE"}, {Key: "remote_address", Value: failoverAddr(i)}}}}}
}

// decision is one answer of the load loop.
type decision struct {
	replica    int
	limit      bool // a rate-limit request, else a Check
	target     int  // the client address or access key index
	good       bool // Check: signed with the right secret
	start, end int64
	afterKill  bool // started after the master was dead
	failed     bool // the replica counted a store error during the call
	code       rlsv3.RateLimitResponse_Code
	hasLimit   bool   // rate limit: the status names its limit
	remaining  uint32 // rate limit: limit_remaining
	answer     string // Check: allow, locked, signature, internal
}

// TestClusterMasterLostUnderLoad runs two replicas on a three-master Redis
// Cluster without replicas and kills one master while both replicas decide
// rate limits and Checks in a loop. Every decision must be correct or made
// in the documented failure mode, never wrong:
//
//   - a decision for a key or counter on the dead master, started after it
//     died, is in the failure mode (the store error is counted; open: a
//     rate-limit OK without a limit, a Check decided on the signature alone;
//     closed: OVER_LIMIT, 500 APIG.0601), except a counter this replica
//     already knew was over its limit (answered from its local cache);
//   - an answer in the failure mode has exactly the failure mode's shape;
//   - a counted rate-limit OK carries the count (limit_remaining): no two
//     OKs of one counter share a count, so at most the limit is let through
//     counted, and none follows a counted OVER_LIMIT of the same counter;
//   - a wrong signature is never allowed, and a counted Check never allows
//     a key after a decision that showed it locked;
//   - the live masters keep deciding (cluster-require-full-coverage no).
func TestClusterMasterLostUnderLoad(t *testing.T) {
	for _, mode := range []string{"open", "closed"} {
		t.Run(mode, func(t *testing.T) { testClusterMasterLost(t, mode) })
	}
}

func testClusterMasterLost(t *testing.T, mode string) {
	closed := mode == "closed"
	cl := redistest.StartCluster(t)
	path := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte(failoverConfig(mode)), 0o600); err != nil {
		t.Fatal(err)
	}
	var servers [2]*Server
	var checks [2]authv3.AuthorizationClient
	var limits [2]rlsv3.RateLimitServiceClient
	for i := range servers {
		s, conn := startReplica(t, path, Options{RedisCluster: cl.Addrs})
		servers[i], checks[i], limits[i] = s, authv3.NewAuthorizationClient(conn), rlsv3.NewRateLimitServiceClient(conn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Where each key lives (the documented layout), checked on the nodes
	// after one hit each.
	dayStart := time.Now().Unix() / 86400 * 86400
	lockNode, limitNode := make([]int, failoverKeys), make([]int, failoverKeys)
	for i := range failoverKeys {
		if _, err := checks[0].Check(ctx, failoverCheck(t, i, false)); err != nil {
			t.Fatal(err)
		}
		if _, err := limits[0].ShouldRateLimit(ctx, failoverLimitRequest(i)); err != nil {
			t.Fatal(err)
		}
		lk := fmt.Sprintf("apigw:lockout:{iam:AK%02d}:f", i)
		rk := fmt.Sprintf("apigw:rl:apigw|api=g/a@RELEASE|remote_address=%s:%d", failoverAddr(i), dayStart)
		lockNode[i], limitNode[i] = cl.NodeOf(lk), cl.NodeOf(rk)
		for _, k := range []struct {
			key  string
			node int
		}{{lk, lockNode[i]}, {rk, limitNode[i]}} {
			if n, err := cl.Nodes[k.node].Client().Exists(ctx, k.key).Result(); err != nil || n != 1 {
				t.Fatalf("key %s not on node %d (%v): the key layout changed?", k.key, k.node, err)
			}
		}
	}
	// The master to kill holds at least one key and one counter; so do the
	// others.
	dead := -1
	for n := range cl.Nodes {
		var locks, counters int
		for i := range failoverKeys {
			if lockNode[i] == n {
				locks++
			}
			if limitNode[i] == n {
				counters++
			}
		}
		if locks > 0 && counters > 0 && dead < 0 {
			dead = n
		}
	}
	if dead < 0 {
		t.Fatalf("no master holds both a lockout key and a counter (%v %v): change the key count", lockNode, limitNode)
	}
	baseline := func(s *Server) uint64 { return s.Limiter().Stats().BackendErrors + s.authz.Stats().LockoutStoreErrors }
	for i, s := range servers {
		if n := baseline(s); n != 0 {
			t.Fatalf("replica %d: %d store errors before the kill", i, n)
		}
	}

	var seq atomic.Int64
	var killedAt atomic.Int64 // seq once the master is dead; 0 before
	stop := make(chan struct{})
	results := make([][]decision, 2)
	var wg sync.WaitGroup
	for r := range servers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 7))
			s := servers[r]
			for {
				select {
				case <-stop:
					return
				default:
				}
				d := decision{replica: r, limit: rng.IntN(2) == 0, target: rng.IntN(failoverKeys), good: rng.IntN(3) != 0}
				before := baseline(s)
				d.start = seq.Add(1)
				d.afterKill = killedAt.Load() != 0
				if d.limit {
					resp, err := limits[r].ShouldRateLimit(ctx, failoverLimitRequest(d.target))
					if err != nil {
						t.Error(err)
						return
					}
					st := resp.GetStatuses()[0]
					d.code, d.hasLimit, d.remaining = resp.GetOverallCode(), st.GetCurrentLimit() != nil, st.GetLimitRemaining()
				} else {
					resp, err := checks[r].Check(ctx, failoverCheck(t, d.target, d.good))
					if err != nil {
						t.Error(err)
						return
					}
					switch den := resp.GetDeniedResponse(); {
					case resp.GetOkResponse() != nil:
						d.answer = "allow"
					case strings.Contains(den.GetBody(), "AK access failed to reach the limit"):
						d.answer = "locked"
					case den.GetStatus().GetCode() == 500 && strings.Contains(den.GetBody(), "APIG.0601"):
						d.answer = "internal"
					default:
						d.answer = "signature"
					}
				}
				d.end = seq.Add(1)
				d.failed = baseline(s) != before
				results[r] = append(results[r], d)
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	cl.Nodes[dead].Stop()
	killedAt.Store(seq.Add(1))
	// Past cluster-node-timeout: the others mark the master failed.
	time.Sleep(redistest.NodeTimeout + time.Second)
	close(stop)
	wg.Wait()

	all := append(results[0], results[1]...)
	// Sort by start for the order-dependent checks.
	for i := 1; i < len(all); i++ {
		for j := i; j > 0 && all[j].start < all[j-1].start; j-- {
			all[j], all[j-1] = all[j-1], all[j]
		}
	}
	var liveCounted, deadAfter int
	seenRemaining := map[[2]int]bool{} // counter, remaining
	overEnd := map[int]int64{}         // counter -> end of its first counted OVER_LIMIT
	overSeen := map[[2]int]bool{}      // replica, counter: counted over (cache)
	lockedEnd := map[int]int64{}       // key -> end of its first locked answer
	for _, d := range all {
		node := lockNode[d.target]
		if d.limit {
			node = limitNode[d.target]
		}
		onDead := node == dead
		if onDead && d.afterKill {
			deadAfter++
		}
		if !onDead && d.afterKill && !d.failed {
			liveCounted++
		}
		fail := func(why string) { t.Errorf("%s: decision %+v (dead master %d)", why, d, dead) }
		if d.limit {
			cached := d.code == rlsv3.RateLimitResponse_OVER_LIMIT && overSeen[[2]int{d.replica, d.target}]
			if onDead && d.afterKill && !d.failed && !cached {
				fail("counter on the dead master decided without a store error")
				continue
			}
			if d.failed {
				if closed && (d.code != rlsv3.RateLimitResponse_OVER_LIMIT || !d.hasLimit) {
					fail("fail-closed rate limit not OVER_LIMIT")
				}
				if !closed && (d.code != rlsv3.RateLimitResponse_OK || d.hasLimit) {
					fail("fail-open rate limit not a bare OK")
				}
				continue
			}
			if !d.hasLimit {
				fail("counted rate-limit answer without its limit")
			}
			if d.code == rlsv3.RateLimitResponse_OVER_LIMIT {
				overSeen[[2]int{d.replica, d.target}] = true
				if e, ok := overEnd[d.target]; !ok || d.end < e {
					overEnd[d.target] = d.end
				}
				continue
			}
			k := [2]int{d.target, int(d.remaining)}
			if d.remaining >= failoverLimit || seenRemaining[k] {
				fail("counted OK with an impossible or repeated count")
			}
			seenRemaining[k] = true
			if e, ok := overEnd[d.target]; ok && d.start > e {
				fail("counted OK after the counter was over its limit")
			}
			continue
		}
		// Check.
		if d.answer == "allow" && !d.good {
			fail("wrong signature allowed")
		}
		if onDead && d.afterKill {
			want := "internal"
			if !closed {
				want = map[bool]string{true: "allow", false: "signature"}[d.good]
			}
			if !d.failed || d.answer != want {
				fail("key on the dead master not decided in the failure mode (" + want + ")")
			}
			continue
		}
		if d.failed {
			// Some store call failed (e.g. a timeout on a live master): the
			// answer is the failure mode's, or one a store call that
			// succeeded made (the lock, or the signature when Locked
			// succeeded).
			ok := d.answer == "locked" || d.answer == "internal" && closed || d.answer == "signature" && !d.good || d.answer == "allow" && d.good
			if !ok {
				fail("store error with an answer outside the failure mode")
			}
			continue
		}
		switch d.answer {
		case "internal":
			fail("APIG.0601 without a store error")
		case "locked":
			if e, ok := lockedEnd[d.target]; !ok || d.end < e {
				lockedEnd[d.target] = d.end
			}
		case "allow":
			if e, ok := lockedEnd[d.target]; ok && d.start > e {
				fail("locked key allowed by a counted decision")
			}
		}
	}
	t.Logf("%d decisions, %d on the dead master after the kill, %d counted on live masters after it", len(all), deadAfter, liveCounted)
	if deadAfter == 0 || liveCounted == 0 {
		t.Fatalf("the load did not reach both the dead master (%d) and the live ones (%d) after the kill", deadAfter, liveCounted)
	}
}
