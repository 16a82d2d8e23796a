package ratelimit

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/redis/go-redis/v9"

	"github.com/apigwio/apigw/internal/redistest"
)

// TestRedisKeysAndExpiry checks the key format, the counts and the TTL.
func TestRedisKeysAndExpiry(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client()
	c := newClock()
	r := NewRedis(client, "rl:")
	r.now = c.now
	ctx := context.Background()
	got, err := r.Incr(ctx, []CounterRequest{
		{Key: "apigw|generic_key=api-1", Window: time.Minute, Hits: 1},
		{Key: "apigw|generic_key=api-1", Window: time.Minute, Hits: 4},
		{Key: "apigw|user=a:b", Window: time.Hour, Hits: 2},
	})
	if err != nil || len(got) != 3 || got[0] != 1 || got[1] != 5 || got[2] != 2 {
		t.Fatalf("Incr = %v, %v", got, err)
	}
	minuteStart, hourStart := testNow.Truncate(time.Minute).Unix(), testNow.Truncate(time.Hour).Unix()
	for _, tt := range []struct {
		key   string
		count string
		ttl   time.Duration // window left + 1 s grace
	}{
		{"rl:apigw|generic_key=api-1:" + itoa(minuteStart), "5", 51 * time.Second},
		{"rl:apigw|user=a:b:" + itoa(hourStart), "2", time.Hour - 9*time.Second},
	} {
		v, err := client.Get(ctx, tt.key).Result()
		if err != nil || v != tt.count {
			t.Errorf("GET %s = %q, %v; want %s", tt.key, v, err, tt.count)
		}
		ttl := client.PTTL(ctx, tt.key).Val()
		if ttl > tt.ttl || ttl < tt.ttl-2*time.Second {
			t.Errorf("PTTL %s = %v, want about %v", tt.key, ttl, tt.ttl)
		}
	}
	if got, err := r.Incr(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("empty Incr = %v, %v", got, err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestRedisOneRoundTrip counts the commands reaching Redis: one pipeline
// per request whatever its number of descriptors, none for a request whose
// counters are all known to be over their limit.
func TestRedisOneRoundTrip(t *testing.T) {
	srv := redistest.Start(t)
	client := srv.Client()
	// Connect first: a new connection's handshake (HELLO, CLIENT) is not
	// part of a request.
	// (go-redis keeps pipelines on a pool of their own.)
	if _, err := client.Pipelined(context.Background(), func(p redis.Pipeliner) error { return p.Ping(context.Background()).Err() }); err != nil {
		t.Fatal(err)
	}
	hook := &cmdCounter{}
	client.AddHook(hook)
	c := newClock()
	r := NewRedis(client, "rt:")
	r.now = c.now
	s := newService(t, r, c, Options{})
	req := request(
		desc("generic_key", "api-1"),
		desc("generic_key", "api-1", "user", "alice"),
		desc("generic_key", "api-1", "app", "shop"),
		desc("generic_key", "api-1", "remote_address", "192.0.2.1"),
		desc("not", "limited"),
	)
	// The limits are 5/min (api), 3/min (user), 2/h (app), 4/s (ip): the
	// api counter is the last to go over, at the 6th request.
	for i := 1; i <= 6; i++ {
		before := hook.roundTrips()
		call(t, s, req)
		if n := hook.roundTrips() - before; n != 1 {
			t.Fatalf("request %d: %d round trips, want 1", i, n)
		}
	}
	if p, cmds := hook.pipelines.Load(), hook.pipelinedCmds.Load(); p != 6 || hook.single.Load() != 0 || cmds > 6*8 {
		t.Fatalf("%d pipelines, %d single commands, %d pipelined commands", p, hook.single.Load(), cmds)
	}
	// Every counter is now over: answered locally.
	before := hook.roundTrips()
	if resp := call(t, s, req); resp.GetOverallCode() != codeOver {
		t.Fatalf("%v", resp)
	}
	if n := hook.roundTrips() - before; n != 0 {
		t.Fatalf("%d round trips for counters known to be over", n)
	}
}

// TestRedisSharedAcrossServices runs two Services (two gateway replicas) on
// one Redis with 25 concurrent callers each: exactly the limit is let
// through in all.
func TestRedisSharedAcrossServices(t *testing.T) {
	srv := redistest.Start(t)
	c := newClock()
	var svcs [2]*Service
	for i := range svcs {
		r := NewRedis(srv.Client(), "shared:") // one client per replica
		r.now = c.now
		svcs[i] = newService(t, r, c, Options{})
	}
	const callers, each = 25, 8 // 400 requests for a limit of 20
	req := request(desc("generic_key", "api-1", "app", "partner"))
	var allowed, errs atomic.Int64
	var wg sync.WaitGroup
	for i := range 2 * callers {
		s := svcs[i%2]
		wg.Go(func() {
			for range each {
				resp, err := s.ShouldRateLimit(context.Background(), req)
				if err != nil {
					errs.Add(1)
				} else if resp.GetOverallCode() == codeOK {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 20 || errs.Load() != 0 {
		t.Fatalf("%d allowed of 400 (errors %d), want exactly 20", allowed.Load(), errs.Load())
	}
	for i, s := range svcs {
		if st := s.Stats(); st.BackendErrors != 0 || st.Requests != 200 {
			t.Errorf("service %d stats %+v", i, st)
		}
	}
}

// TestRedisDownAndBack kills Redis mid-test: the fail-open service answers
// OK, the fail-closed one OVER_LIMIT, both count the errors; when Redis is
// back they count again without any action.
func TestRedisDownAndBack(t *testing.T) {
	srv := redistest.Start(t)
	c := newClock()
	quiet := slog.New(slog.DiscardHandler)
	mk := func(mode FailureMode) *Service {
		r := NewRedis(srv.Client(), "down:")
		r.now = c.now
		return withFailureMode(t, newService(t, r, c, Options{Logger: quiet, Timeout: time.Second}), mode)
	}
	open, closed := mk(FailOpen), mk(FailClosed)
	user := func(name string) *rlsv3.RateLimitRequest { return request(desc("generic_key", "api-1", "user", name)) }

	if countAllowed(t, open, user("a"), 2) != 2 || countAllowed(t, closed, user("a"), 2) != 1 {
		t.Fatal("before the outage: user a has 3 per minute")
	}

	srv.Stop()
	for i := range 5 {
		if code := call(t, open, user("b")).GetOverallCode(); code != codeOK {
			t.Fatalf("fail-open while Redis is down, request %d: %v", i, code)
		}
		if code := call(t, closed, user("b")).GetOverallCode(); code != codeOver {
			t.Fatalf("fail-closed while Redis is down, request %d: %v", i, code)
		}
	}
	if e := open.Stats().BackendErrors; e != 5 {
		t.Errorf("fail-open backend errors %d, want 5", e)
	}
	if st := closed.Stats(); st.BackendErrors != 5 || st.OverLimit != 5+1 {
		t.Errorf("fail-closed stats %+v", st)
	}

	srv.Restart() // empty: counts start again
	deadline := time.Now().Add(10 * time.Second)
	for call(t, closed, user("c")).GetOverallCode() != codeOK {
		if time.Now().After(deadline) {
			t.Fatal("fail-closed service did not recover within 10s of Redis coming back")
		}
		time.Sleep(20 * time.Millisecond)
	}
	errsBefore := open.Stats().BackendErrors + closed.Stats().BackendErrors
	// user c had one hit above: 2 more across both services, then over.
	got := countAllowed(t, open, user("c"), 2) + countAllowed(t, closed, user("c"), 2)
	if got != 2 {
		t.Fatalf("after recovery: %d allowed, want 2", got)
	}
	if e := open.Stats().BackendErrors + closed.Stats().BackendErrors; e != errsBefore {
		t.Fatalf("%d backend errors after recovery", e-errsBefore)
	}
}

// TestRedisHungBoundedByTimeout pauses Redis (connections open, no
// answer): each request costs about the per-call timeout, then the
// service recovers when Redis resumes.
func TestRedisHungBoundedByTimeout(t *testing.T) {
	srv := redistest.Start(t)
	c := newClock()
	r := NewRedis(srv.Client(), "hung:")
	r.now = c.now
	s := newService(t, r, c, Options{Timeout: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	req := request(desc("generic_key", "api-1"))
	call(t, s, req) // a pooled connection exists
	srv.Pause()
	for i := range 3 {
		start := time.Now()
		resp := call(t, s, req)
		if el := time.Since(start); el > time.Second { // 50 ms, plus a loaded machine's delays
			t.Fatalf("request %d took %v with a 50ms timeout", i, el)
		}
		if resp.GetOverallCode() != codeOK {
			t.Fatalf("fail-open answered %v", resp.GetOverallCode())
		}
	}
	srv.Resume()
	if s.Stats().BackendErrors != 3 {
		t.Fatalf("stats %+v", s.Stats())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		before := s.Stats().BackendErrors
		call(t, s, req)
		if s.Stats().BackendErrors == before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no recovery after Resume")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRedisRealTimeWindows uses the real clock and one-second windows: a
// window's counter is gone after it ends.
func TestRedisRealTimeWindows(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a second boundary")
	}
	srv := redistest.Start(t)
	s := New(Options{Backend: NewRedis(srv.Client(), "rt:"), Timeout: 2 * time.Second})
	cfg := &Config{Domain: testDomain, Descriptors: []*Descriptor{{Key: "generic_key", Limit: &Limit{Requests: 3, Unit: Second}}}}
	if err := s.Update(cfg); err != nil {
		t.Fatal(err)
	}
	req := request(desc("generic_key", "api-1"))
	for round := range 2 {
		// Start just after a second boundary, so the round fits in one window.
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
		if got := countAllowed(t, s, req, 5); got != 3 {
			t.Fatalf("round %d: %d allowed in one second, want 3", round, got)
		}
	}
}

// TestRedisCluster runs two Services (two replicas) on a three-master Redis
// Cluster: each command touches one key, and go-redis splits a request's
// pipeline per master, so a request whose counters live on several masters
// is counted in one call, and the counts are shared exactly.
func TestRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	c := newClock()
	var svcs [2]*Service
	var backends [2]*Redis
	for i := range svcs {
		backends[i] = NewRedis(cl.Client(), "apigw:rl:") // one client per replica
		backends[i].now = c.now
		svcs[i] = newService(t, backends[i], c, Options{})
	}

	// The four counters of this request live on at least two masters.
	req := request(
		desc("generic_key", "api-1"),
		desc("generic_key", "api-1", "user", "alice"),
		desc("generic_key", "api-1", "app", "shop"),
		desc("generic_key", "api-1", "remote_address", "192.0.2.1"),
	)
	nodes := map[int]bool{}
	for _, d := range req.GetDescriptors() {
		var es []Entry
		for _, e := range d.GetEntries() {
			es = append(es, Entry{Key: e.GetKey(), Value: e.GetValue()})
		}
		w := int64(60)
		if len(es) == 2 && es[1].Key == "app" {
			w = 3600
		} else if len(es) == 2 && es[1].Key == "remote_address" {
			w = 1
		}
		nodes[cl.NodeOf(backends[0].key(counterKey(testDomain, es), windowStart(c.now().Unix(), w)))] = true
	}
	if len(nodes) < 2 {
		t.Fatalf("the request's counters are all on one master (%s): pick other values", cl)
	}
	// Limits 5/min, 3/min, 2/h, 4/s: alternating replicas, the app limit
	// (2/h) refuses the third request, and every counter keeps counting.
	for i := 1; i <= 4; i++ {
		resp := call(t, svcs[i%2], req)
		wantOK := i <= 2
		if (resp.GetOverallCode() == codeOK) != wantOK {
			t.Fatalf("request %d: %v, want ok=%v", i, resp.GetOverallCode(), wantOK)
		}
		if r := resp.GetStatuses()[0].GetLimitRemaining(); r != uint32(5-i) {
			t.Fatalf("request %d: api remaining %d, want %d (counts not shared)", i, r, 5-i)
		}
	}

	// Concurrent callers on both replicas: exactly the limit passes.
	const callers, each = 10, 8 // 160 requests for a limit of 20
	shared := request(desc("generic_key", "api-1", "app", "partner"))
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for i := range 2 * callers {
		s := svcs[i%2]
		wg.Go(func() {
			for range each {
				if resp, err := s.ShouldRateLimit(context.Background(), shared); err == nil && resp.GetOverallCode() == codeOK {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if allowed.Load() != 20 {
		t.Fatalf("%d allowed of 160, want exactly 20", allowed.Load())
	}
	for i, s := range svcs {
		if st := s.Stats(); st.BackendErrors != 0 {
			t.Errorf("service %d: %d backend errors", i, st.BackendErrors)
		}
	}
}
