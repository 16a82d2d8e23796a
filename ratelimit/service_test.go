package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	extv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const (
	codeOK   = rlsv3.RateLimitResponse_OK
	codeOver = rlsv3.RateLimitResponse_OVER_LIMIT
)

// TestShouldRateLimitShapes sends each descriptor shape limit+2 times, on
// every backend: exactly the limit is let through, and every status tells
// Envoy the limit, the remaining hits and the time to the reset.
func TestShouldRateLimitShapes(t *testing.T) {
	tests := []struct {
		name    string
		desc    *extv3.RateLimitDescriptor
		limit   string
		allowed int
		unit    rlsv3.RateLimitResponse_RateLimit_Unit
		reset   time.Duration // from testNow (12:00:10)
	}{
		{"api", desc("generic_key", "api-1"), "api-1", 5, rlsv3.RateLimitResponse_RateLimit_MINUTE, 50 * time.Second},
		{"any other api", desc("generic_key", "api-9"), "any-api", 7, rlsv3.RateLimitResponse_RateLimit_DAY, 12*time.Hour - 10*time.Second},
		{"api+user", desc("generic_key", "api-1", "user", "alice"), "api-1-user", 3, rlsv3.RateLimitResponse_RateLimit_MINUTE, 50 * time.Second},
		{"api+vip user", desc("generic_key", "api-1", "user", "vip"), "api-1-user-vip", 10, rlsv3.RateLimitResponse_RateLimit_MINUTE, 50 * time.Second},
		{"api+app", desc("generic_key", "api-1", "app", "shop"), "api-1-app", 2, rlsv3.RateLimitResponse_RateLimit_HOUR, time.Hour - 10*time.Second},
		{"api+partner app", desc("generic_key", "api-1", "app", "partner"), "api-1-app-partner", 20, rlsv3.RateLimitResponse_RateLimit_HOUR, time.Hour - 10*time.Second},
		{"api+ip", desc("generic_key", "api-1", "remote_address", "192.0.2.7"), "api-1-ip", 4, rlsv3.RateLimitResponse_RateLimit_SECOND, time.Second},
	}
	for _, bk := range backendKinds() {
		t.Run(bk.name, func(t *testing.T) {
			c := newClock()
			s := newService(t, bk.make(t, c), c, Options{})
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					req := request(tt.desc)
					for i := 1; i <= tt.allowed+2; i++ {
						resp := call(t, s, req)
						st := resp.GetStatuses()[0]
						wantCode, wantRemaining := codeOK, uint32(tt.allowed-i)
						if i > tt.allowed {
							wantCode, wantRemaining = codeOver, 0
						}
						if resp.GetOverallCode() != wantCode || st.GetCode() != wantCode {
							t.Fatalf("hit %d: %v/%v, want %v", i, resp.GetOverallCode(), st.GetCode(), wantCode)
						}
						over := resp.GetDynamicMetadata().GetFields()[MetadataOverLimit].GetStringValue()
						if (wantCode == codeOver) != (over == tt.limit) {
							t.Fatalf("hit %d: dynamic metadata over_limit = %q (limit %q, code %v)", i, over, tt.limit, wantCode)
						}
						l := st.GetCurrentLimit()
						if l.GetName() != tt.limit || l.GetRequestsPerUnit() != uint32(tt.allowed) || l.GetUnit() != tt.unit {
							t.Fatalf("hit %d: current_limit %v, want %s %d/%v", i, l, tt.limit, tt.allowed, tt.unit)
						}
						if st.GetLimitRemaining() != wantRemaining {
							t.Fatalf("hit %d: limit_remaining %d, want %d", i, st.GetLimitRemaining(), wantRemaining)
						}
						if d := st.GetDurationUntilReset().AsDuration(); d != tt.reset {
							t.Fatalf("hit %d: duration_until_reset %v, want %v", i, d, tt.reset)
						}
					}
				})
			}
		})
	}
}

// TestWildcardAndExactValues: each value of a wildcard entry has its own
// counter; an exact value has its own threshold; an exact node without a
// limit exempts its value.
func TestWildcardAndExactValues(t *testing.T) {
	for _, bk := range backendKinds() {
		t.Run(bk.name, func(t *testing.T) {
			c := newClock()
			s := newService(t, bk.make(t, c), c, Options{})
			for _, tt := range []struct {
				desc    *extv3.RateLimitDescriptor
				allowed int
			}{
				{desc("generic_key", "api-1", "user", "alice"), 3},
				{desc("generic_key", "api-1", "user", "bob"), 3},
				{desc("generic_key", "api-1", "user", "vip"), 10},
				{desc("generic_key", "api-1", "app", "a1"), 2},
				{desc("generic_key", "api-1", "app", "partner"), 20},
				{desc("generic_key", "api-1", "remote_address", "10.0.0.1"), 30}, // exempt
				{desc("generic_key", "api-1", "remote_address", "10.0.0.2"), 4},
				{desc("generic_key", "api-2"), 7},
				{desc("generic_key", "api-3"), 7},
				{desc("header_match", "x"), 30}, // not configured
			} {
				if got := countAllowed(t, s, request(tt.desc), 30); got != tt.allowed {
					t.Errorf("%v: %d of 30 allowed, want %d", tt.desc.GetEntries(), got, tt.allowed)
				}
			}
			// Unlimited descriptors carry no current_limit (no headers).
			st := call(t, s, request(desc("generic_key", "api-1", "remote_address", "10.0.0.1"))).GetStatuses()[0]
			if st.GetCode() != codeOK || st.GetCurrentLimit() != nil || st.GetDurationUntilReset() != nil {
				t.Errorf("exempt status %v", st)
			}
		})
	}
}

// TestSeveralDescriptors: the answer is OVER_LIMIT if any descriptor is,
// every descriptor is counted, and the statuses say which one is over.
func TestSeveralDescriptors(t *testing.T) {
	for _, bk := range backendKinds() {
		t.Run(bk.name, func(t *testing.T) {
			c := newClock()
			s := newService(t, bk.make(t, c), c, Options{})
			req := request(desc("generic_key", "api-1"), desc("generic_key", "api-1", "user", "alice"), desc("unknown", "x"))
			want := []string{"OK OK OK OK", "OK OK OK OK", "OK OK OK OK", "OVER_LIMIT OK OVER_LIMIT OK", "OVER_LIMIT OK OVER_LIMIT OK", "OVER_LIMIT OVER_LIMIT OVER_LIMIT OK"}
			for i, w := range want {
				resp := call(t, s, req)
				got := resp.GetOverallCode().String()
				for _, st := range resp.GetStatuses() {
					got += " " + st.GetCode().String()
				}
				if got != w {
					t.Fatalf("request %d: %s, want %s", i+1, got, w)
				}
			}
		})
	}
}

func TestHitsAddend(t *testing.T) {
	for _, bk := range backendKinds() {
		t.Run(bk.name, func(t *testing.T) {
			c := newClock()
			s := newService(t, bk.make(t, c), c, Options{})
			req := request(desc("generic_key", "api-9")) // 7 per day
			req.HitsAddend = 3
			for i, want := range []uint32{4, 1} {
				if st := call(t, s, req).GetStatuses()[0]; st.GetCode() != codeOK || st.GetLimitRemaining() != want {
					t.Fatalf("request %d: %v", i, st)
				}
			}
			if call(t, s, req).GetOverallCode() != codeOver {
				t.Fatal("9 hits of 7 allowed")
			}
			// A descriptor's own hits_addend overrides the request's: 0 reads.
			d := desc("generic_key", "api-8")
			d.HitsAddend = wrapperspb.UInt64(0)
			req = request(d)
			req.HitsAddend = 5
			if st := call(t, s, req).GetStatuses()[0]; st.GetCode() != codeOK || st.GetLimitRemaining() != 7 {
				t.Fatalf("read-only descriptor: %v", st)
			}
			d.HitsAddend = wrapperspb.UInt64(1 << 40) // clamped, over at once
			if call(t, s, req).GetOverallCode() != codeOver {
				t.Fatal("huge hits_addend not over")
			}
		})
	}
}

// TestWindowRollover exhausts limits, then moves the clock to the next
// window: hits are allowed again. The Redis backend shares the clock.
func TestWindowRollover(t *testing.T) {
	for _, bk := range backendKinds() {
		t.Run(bk.name, func(t *testing.T) {
			c := newClock()
			s := newService(t, bk.make(t, c), c, Options{})
			minute := request(desc("generic_key", "api-1", "user", "alice")) // 3/min
			second := request(desc("generic_key", "api-1", "remote_address", "192.0.2.1"))
			for _, step := range []struct {
				advance       time.Duration
				minute, secnd int
			}{
				{0, 3, 4},
				{999 * time.Millisecond, 0, 0}, // 12:00:10.999, same windows
				{time.Millisecond, 0, 4},       // 12:00:11, next second
				{48 * time.Second, 0, 4},       // 12:00:59
				{time.Second, 3, 4},            // 12:01:00, next minute
			} {
				c.add(step.advance)
				if got := countAllowed(t, s, minute, 5); got != step.minute {
					t.Fatalf("at %s: per-minute allowed %d, want %d", c.now().Format(time.StampMilli), got, step.minute)
				}
				if got := countAllowed(t, s, second, 6); got != step.secnd {
					t.Fatalf("at %s: per-second allowed %d, want %d", c.now().Format(time.StampMilli), got, step.secnd)
				}
			}
		})
	}
}

func TestNotLimited(t *testing.T) {
	c := newClock()
	b := &countingBackend{Backend: NewMemory(10, c.now)}
	s := newService(t, b, c, Options{})
	unconfigured := New(Options{Backend: b})
	tests := []struct {
		name string
		svc  *Service
		req  *rlsv3.RateLimitRequest
	}{
		{"unknown domain", s, &rlsv3.RateLimitRequest{Domain: "other", Descriptors: []*extv3.RateLimitDescriptor{desc("generic_key", "api-1")}}},
		{"no config", unconfigured, request(desc("generic_key", "api-1"))},
		{"no descriptors", s, request()},
		{"unmatched", s, request(desc("nope", "x"), desc())},
		{"nil request", s, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 10 {
				resp, err := tt.svc.ShouldRateLimit(context.Background(), tt.req)
				if err != nil || resp.GetOverallCode() != codeOK || len(resp.GetStatuses()) != len(tt.req.GetDescriptors()) {
					t.Fatalf("%v, %v", resp, err)
				}
				for _, st := range resp.GetStatuses() {
					if st.GetCode() != codeOK || st.GetCurrentLimit() != nil {
						t.Fatalf("status %v", st)
					}
				}
			}
		})
	}
	if n := b.calls.Load(); n != 0 {
		t.Errorf("%d backend calls for requests without a limit", n)
	}
}

func TestUpdate(t *testing.T) {
	c := newClock()
	s := newService(t, NewMemory(100, c.now), c, Options{})
	req := request(desc("generic_key", "api-1"))
	if got := countAllowed(t, s, req, 6); got != 5 {
		t.Fatalf("allowed %d", got)
	}
	bad := &Config{Domain: testDomain, Descriptors: []*Descriptor{{Key: "generic_key", Limit: &Limit{Unit: Minute}}, {Key: ""}}}
	err := s.Update(bad)
	if err == nil || !strings.Contains(err.Error(), "greater than 0") || !strings.Contains(err.Error(), "key must not be empty") {
		t.Fatalf("Update(bad) = %v", err)
	}
	if s.Config().Descriptors[0].Limit.Name != "api-1" {
		t.Fatal("rejected config replaced the good one")
	}
	// A valid update applies at once and resets the over-limit cache.
	cfg := testConfig()
	cfg.Descriptors[0].Limit.Requests = 8
	if err := s.Update(cfg); err != nil {
		t.Fatal(err)
	}
	if got := countAllowed(t, s, req, 5); got != 2 {
		t.Fatalf("after raising the limit to 8: %d more allowed, want 2", got)
	}
	if err := s.Update(nil); err != nil || s.Config() != nil {
		t.Fatal("Update(nil)")
	}
	if got := countAllowed(t, s, req, 5); got != 5 {
		t.Fatal("limited without a config")
	}
}

// TestOverLimitCache: once a counter is over, its later hits are answered
// from the local cache until its window ends; the cache stays bounded.
func TestOverLimitCache(t *testing.T) {
	c := newClock()
	b := &countingBackend{Backend: NewMemory(100, c.now)}
	s := newService(t, b, c, Options{})
	req := request(desc("generic_key", "api-1", "user", "alice")) // 3/min
	if got := countAllowed(t, s, req, 4); got != 3 {
		t.Fatalf("allowed %d", got)
	}
	if n := b.calls.Load(); n != 4 {
		t.Fatalf("%d backend calls, want 4", n)
	}
	resp := call(t, s, req)
	st := resp.GetStatuses()[0]
	if resp.GetOverallCode() != codeOver || st.GetCurrentLimit().GetName() != "api-1-user" || st.GetDurationUntilReset().AsDuration() != 50*time.Second {
		t.Fatalf("cached answer %v", resp)
	}
	if n := b.calls.Load(); n != 4 || s.Stats().CacheHits != 1 {
		t.Fatalf("cached counter reached the backend: %d calls, stats %+v", n, s.Stats())
	}
	// Another descriptor in the same request is still counted.
	call(t, s, request(desc("generic_key", "api-1", "user", "alice"), desc("generic_key", "api-1")))
	if n := b.calls.Load(); n != 5 {
		t.Fatalf("%d backend calls, want 5", n)
	}
	c.add(50 * time.Second) // next minute
	if got := countAllowed(t, s, req, 4); got != 3 || b.calls.Load() != 9 {
		t.Fatalf("next window: allowed %d, %d calls", got, b.calls.Load())
	}

	// Disabled cache: every hit reaches the backend.
	b2 := &countingBackend{Backend: NewMemory(100, c.now)}
	s2 := newService(t, b2, c, Options{OverLimitCacheSize: -1})
	countAllowed(t, s2, req, 10)
	if n := b2.calls.Load(); n != 10 {
		t.Fatalf("without cache: %d calls, want 10", n)
	}
}

func TestOverLimitCacheBounded(t *testing.T) {
	oc := newOverLimitCache(64)
	now := int64(1000)
	for i := range 1000 {
		oc.add(string(rune('a'+i%26))+strings.Repeat("k", i), 60, now+60, now)
		if oc.len() > 64 {
			t.Fatalf("%d entries", oc.len())
		}
	}
	if !oc.over("a", 60, now) || oc.over("a", 1, now) || oc.over("a", 60, now+60) {
		t.Fatal("lookup")
	}
	// Once the entries expire, new ones are taken.
	now += 61
	oc.add("fresh", 60, now+60, now)
	if !oc.over("fresh", 60, now) {
		t.Fatal("expired entries not swept")
	}
	var nilCache *overLimitCache
	nilCache.add("x", 1, 2, 1)
	if nilCache.over("x", 1, 1) || nilCache.len() != 0 {
		t.Fatal("nil cache")
	}
}

// TestFailureModes: a failing backend answers OK (fail-open, the default)
// or OVER_LIMIT (fail-closed), counts the errors, and logs at most one
// line per interval.
func TestFailureModes(t *testing.T) {
	tests := []struct {
		mode     FailureMode
		want     rlsv3.RateLimitResponse_Code
		overStat uint64
	}{
		{FailOpen, codeOK, 0},
		{FailClosed, codeOver, 20},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			s := withFailureMode(t, newService(t, failingBackend{errors.New("connection refused")}, newClock(), Options{Logger: log, ErrorLogInterval: time.Hour}), tt.mode)
			req := request(desc("generic_key", "api-1", "user", "alice"), desc("unknown", "x"))
			for range 20 {
				resp := call(t, s, req)
				st := resp.GetStatuses()
				if resp.GetOverallCode() != tt.want || st[0].GetCode() != tt.want || st[1].GetCode() != codeOK {
					t.Fatalf("%v", resp)
				}
				if tt.mode == FailOpen && (st[0].GetCurrentLimit() != nil || st[0].GetDurationUntilReset() != nil) {
					t.Fatalf("fail-open status claims a limit: %v", st[0])
				}
				if tt.mode == FailClosed && st[0].GetCurrentLimit().GetName() != "api-1-user" {
					t.Fatalf("fail-closed status without its limit: %v", st[0])
				}
			}
			if got := s.Stats(); got != (Stats{Requests: 20, OverLimit: tt.overStat, BackendErrors: 20}) {
				t.Errorf("stats %+v", got)
			}
			if n := strings.Count(logs.String(), "rate limit: backend failed"); n != 1 {
				t.Errorf("%d error lines in an hour, want 1:\n%s", n, logs.String())
			}
			if !strings.Contains(logs.String(), "connection refused") || !strings.Contains(logs.String(), "failure_mode="+tt.mode.String()) {
				t.Errorf("log line: %s", logs.String())
			}
		})
	}
}

// TestBackendTimeout: a hung backend costs at most the per-call timeout.
func TestBackendTimeout(t *testing.T) {
	s := newService(t, failingBackend{}, newClock(), Options{Timeout: 30 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	start := time.Now()
	resp := call(t, s, request(desc("generic_key", "api-1")))
	if el := time.Since(start); el < 30*time.Millisecond || el > time.Second {
		t.Fatalf("answered after %v with a 30ms timeout", el)
	}
	if resp.GetOverallCode() != codeOK || s.Stats().BackendErrors != 1 {
		t.Fatalf("%v %+v", resp, s.Stats())
	}
	// The caller's own deadline applies when sooner.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
	defer cancel()
	s2 := newService(t, failingBackend{}, newClock(), Options{Timeout: time.Minute, Logger: slog.New(slog.DiscardHandler)})
	start = time.Now()
	if _, err := s2.ShouldRateLimit(ctx, request(desc("generic_key", "api-1"))); err != nil || time.Since(start) > time.Second {
		t.Fatalf("caller deadline ignored: %v after %v", err, time.Since(start))
	}
}

// TestFailureModeFollowsUpdate: the failure mode is part of the Config, so
// Update switches it along with the limits (a reload from fail-open to
// fail-closed and back), and an unknown mode is refused.
func TestFailureModeFollowsUpdate(t *testing.T) {
	s := newService(t, failingBackend{errors.New("down")}, newClock(), Options{Logger: slog.New(slog.DiscardHandler)})
	req := request(desc("generic_key", "api-1"))
	for _, mode := range []FailureMode{FailOpen, FailClosed, FailOpen} {
		withFailureMode(t, s, mode)
		want := codeOK
		if mode == FailClosed {
			want = codeOver
		}
		if got := call(t, s, req).GetOverallCode(); got != want {
			t.Fatalf("after Update to %v: %v, want %v", mode, got, want)
		}
	}
	cfg := testConfig()
	cfg.FailureMode = 7
	if err := s.Update(cfg); err == nil || !strings.Contains(err.Error(), "failure_mode") {
		t.Fatalf("Update with failure mode 7: %v", err)
	}
}

// shortBackend returns fewer counts than asked: treated as a failure.
type shortBackend struct{}

func (shortBackend) Incr(context.Context, []CounterRequest) ([]uint64, error) { return nil, nil }

func TestBackendShortAnswerIsAnError(t *testing.T) {
	s := withFailureMode(t, newService(t, shortBackend{}, newClock(), Options{Logger: slog.New(slog.DiscardHandler)}), FailClosed)
	if resp := call(t, s, request(desc("generic_key", "api-1"))); resp.GetOverallCode() != codeOver || s.Stats().BackendErrors != 1 {
		t.Fatalf("%v %+v", resp, s.Stats())
	}
}

func TestUnknownDomainDebugLog(t *testing.T) {
	var logs bytes.Buffer
	s := newService(t, NewMemory(10, nil), nil, Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	call(t, s, &rlsv3.RateLimitRequest{Domain: "elsewhere", Descriptors: []*extv3.RateLimitDescriptor{desc("a", "b")}})
	if !strings.Contains(logs.String(), "level=DEBUG") || !strings.Contains(logs.String(), "domain=elsewhere") {
		t.Fatalf("log: %q", logs.String())
	}
}

// TestShouldRateLimitAllocs guards the hot path: a request with two
// limited descriptors on the memory backend allocates the response (4
// objects), the two counter keys and the counts; nothing per entry. Known
// over-limit counters skip the backend and its counts.
func TestShouldRateLimitAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	for _, tt := range []struct {
		name     string
		requests uint32
		want     float64
	}{
		{"under limit", math.MaxUint32, 7},
		{"over limit, cached", 1, 6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lim := &Limit{Requests: tt.requests, Unit: Hour}
			s := New(Options{Backend: NewMemory(100, newClock().now), Now: newClock().now})
			if err := s.Update(&Config{Domain: testDomain, Descriptors: []*Descriptor{
				{Key: "generic_key", Limit: lim, Children: []*Descriptor{{Key: "user", Limit: lim}}},
			}}); err != nil {
				t.Fatal(err)
			}
			req := request(desc("generic_key", "api-1"), desc("generic_key", "api-1", "user", "alice"))
			call(t, s, req)
			call(t, s, req)
			ctx := context.Background()
			if n := testing.AllocsPerRun(20, func() { _, _ = s.ShouldRateLimit(ctx, req) }); n > tt.want {
				t.Errorf("ShouldRateLimit allocates %v times, want at most %v", n, tt.want)
			}
		})
	}
}

// TestDurationUntilResetWholeSeconds: the time to the reset is rounded up
// to whole seconds, since Envoy's X-RateLimit-Reset drops the fraction
// (0.98 s read "0" through Envoy 1.40).
func TestDurationUntilResetWholeSeconds(t *testing.T) {
	c := newClock()
	c.add(20 * time.Millisecond) // 12:00:10.020
	s := newService(t, memoryKind().make(t, c), c, Options{})
	for _, tt := range []struct {
		desc  *extv3.RateLimitDescriptor
		reset time.Duration
	}{
		{desc("generic_key", "api-1", "remote_address", "192.0.2.7"), time.Second}, // per second: 0.98 s
		{desc("generic_key", "api-1"), 50 * time.Second},                           // per minute: 49.98 s
	} {
		st := call(t, s, request(tt.desc)).GetStatuses()[0]
		if d := st.GetDurationUntilReset().AsDuration(); d != tt.reset {
			t.Errorf("%v: duration_until_reset %v, want %v", tt.desc, d, tt.reset)
		}
	}
}
