package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
)

// FailureMode is what a Service answers when its Backend fails; it is set
// per Config (Config.FailureMode), so Update changes it.
type FailureMode uint8

const (
	// FailOpen answers OK for the descriptors that could not be counted,
	// as Envoy itself does when the rate-limit service fails (its
	// failure_mode_deny defaults to false). The default.
	FailOpen FailureMode = iota
	// FailClosed answers OVER_LIMIT for them.
	FailClosed
)

// String returns "fail-open" or "fail-closed".
func (m FailureMode) String() string {
	if m == FailClosed {
		return "fail-closed"
	}
	return "fail-open"
}

// DefaultTimeout bounds one Backend call when Options.Timeout is 0. Envoy's
// rate-limit filter waits only 20 ms by default: give it a timeout above
// this one (or lower this one), or Envoy gives up first and its own
// failure_mode_deny decides instead of the service's FailureMode.
const DefaultTimeout = 50 * time.Millisecond

// DefaultErrorLogInterval is the least time between two backend error log
// lines when Options.ErrorLogInterval is 0.
const DefaultErrorLogInterval = 10 * time.Second

// Options configure a Service.
type Options struct {
	// Backend counts hits. Default: NewMemory(DefaultMemoryKeys, Now).
	Backend Backend
	// Timeout bounds each Backend call (the incoming context's deadline
	// still applies when it is sooner). Default DefaultTimeout.
	Timeout time.Duration
	// OverLimitCacheSize bounds the local cache of counters already over
	// their limit, whose later hits skip the Backend until their window
	// ends. 0 means DefaultOverLimitCacheSize; negative disables the cache.
	OverLimitCacheSize int
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Logger receives backend errors (at most one line per
	// ErrorLogInterval) and, at debug level, requests for unknown domains.
	// Default slog.Default().
	Logger *slog.Logger
	// ErrorLogInterval is the least time between two backend error log
	// lines. Default DefaultErrorLogInterval.
	ErrorLogInterval time.Duration
}

// Stats are a Service's counters since it was created.
type Stats struct {
	// Requests is the number of ShouldRateLimit calls.
	Requests uint64
	// OverLimit is the number of calls answered OVER_LIMIT.
	OverLimit uint64
	// BackendErrors is the number of failed Backend calls.
	BackendErrors uint64
	// CacheHits is the number of descriptors answered OVER_LIMIT from the
	// local over-limit cache, without the Backend.
	CacheHits uint64
}

// Service implements rlsv3.RateLimitServiceServer. It is safe for
// concurrent use; the configuration is read through an atomic pointer, so
// the request path takes no lock of its own.
type Service struct {
	rlsv3.UnimplementedRateLimitServiceServer

	state     atomic.Pointer[state]
	backend   Backend
	local     bool // the backend never blocks: no per-call timeout needed
	timeout   time.Duration
	cacheSize int
	now       func() time.Time
	log       *slog.Logger

	requests, overLimit, backendErrors, cacheHits atomic.Uint64

	errLogEvery   int64        // nanoseconds
	errLogLast    atomic.Int64 // Unix nanoseconds of the last error line
	errSuppressed atomic.Uint64
}

// state is one configuration and the over-limit cache that goes with it.
type state struct {
	cfg   *Config
	idx   *index
	cache *overLimitCache
}

// New returns a Service with no configuration: it answers OK to every
// request until Update installs one.
func New(opts Options) *Service {
	s := &Service{
		backend:     opts.Backend,
		timeout:     opts.Timeout,
		cacheSize:   opts.OverLimitCacheSize,
		now:         opts.Now,
		log:         opts.Logger,
		errLogEvery: int64(opts.ErrorLogInterval),
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.backend == nil {
		s.backend = NewMemory(DefaultMemoryKeys, s.now)
	}
	_, s.local = s.backend.(*Memory)
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.errLogEvery <= 0 {
		s.errLogEvery = int64(DefaultErrorLogInterval)
	}
	return s
}

// Update makes cfg the configuration for subsequent requests, and starts a
// new over-limit cache (limits may have changed). A cfg that does not
// validate is rejected with every problem, and the configuration in use
// keeps serving. A nil cfg removes the configuration: every request is OK.
func (s *Service) Update(cfg *Config) error {
	commit, err := s.Prepare(cfg)
	if err != nil {
		return err
	}
	commit()
	return nil
}

// Prepare validates and indexes cfg without serving it; commit serves it.
// A cfg that does not validate is rejected with every problem and nothing
// changes. Prepare lets a reload refuse before anything is published.
func (s *Service) Prepare(cfg *Config) (commit func(), err error) {
	if cfg == nil {
		return func() { s.state.Store(nil) }, nil
	}
	if cfg.parts != nil {
		// Composed: each part is validated and compiled once, and the
		// index is the one in use with the changed parts' entries
		// replaced.
		if idx, ok := composedIndex(cfg, s.state.Load()); ok {
			cfg.once.Do(func() { cfg.idx = idx })
			st := &state{cfg: cfg, idx: cfg.index(), cache: newOverLimitCache(s.cacheSize)}
			return func() { s.state.Store(st) }, nil
		}
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("rate-limit config for domain %q rejected: %w", cfg.Domain, errors.Join(errs...))
	}
	st := &state{cfg: cfg, idx: cfg.index(), cache: newOverLimitCache(s.cacheSize)}
	return func() { s.state.Store(st) }, nil
}

// Config returns the configuration in use, or nil.
func (s *Service) Config() *Config {
	if st := s.state.Load(); st != nil {
		return st.cfg
	}
	return nil
}

// Stats returns the service's counters.
func (s *Service) Stats() Stats {
	return Stats{
		Requests:      s.requests.Load(),
		OverLimit:     s.overLimit.Load(),
		BackendErrors: s.backendErrors.Load(),
		CacheHits:     s.cacheHits.Load(),
	}
}

// scratch is the per-request working memory, pooled.
type scratch struct {
	entries []Entry
	reqs    []CounterRequest
	pos     []int   // the descriptor index of each reqs element
	limits  []*node // the matched node of each reqs element
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// maxScratch bounds what a pooled scratch keeps, so one huge request does
// not pin memory.
const maxScratch = 256

func (sc *scratch) release() {
	if cap(sc.entries) > maxScratch || cap(sc.reqs) > maxScratch {
		return
	}
	clear(sc.entries[:cap(sc.entries)])
	clear(sc.reqs[:cap(sc.reqs)])
	clear(sc.limits[:cap(sc.limits)])
	sc.entries, sc.reqs, sc.pos, sc.limits = sc.entries[:0], sc.reqs[:0], sc.pos[:0], sc.limits[:0]
	scratchPool.Put(sc)
}

// ShouldRateLimit implements rlsv3.RateLimitServiceServer. Each descriptor
// is matched against the configuration; the matched ones are counted with
// one Backend call. The answer is OVER_LIMIT if any descriptor is over its
// limit, with one status per descriptor (current_limit, limit_remaining,
// duration_until_reset for the limited ones) from which Envoy builds its
// X-RateLimit-* headers. It never returns an error.
func (s *Service) ShouldRateLimit(ctx context.Context, req *rlsv3.RateLimitRequest) (*rlsv3.RateLimitResponse, error) {
	s.requests.Add(1)
	descs := req.GetDescriptors()
	resp := &rlsv3.RateLimitResponse{OverallCode: rlsv3.RateLimitResponse_OK}
	if len(descs) == 0 {
		return resp, nil
	}
	statuses := make([]rlsv3.RateLimitResponse_DescriptorStatus, len(descs))
	resp.Statuses = make([]*rlsv3.RateLimitResponse_DescriptorStatus, len(descs))
	for i := range statuses {
		statuses[i].Code = rlsv3.RateLimitResponse_OK
		resp.Statuses[i] = &statuses[i]
	}
	st := s.state.Load()
	if st == nil || st.cfg.Domain != req.GetDomain() {
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.LogAttrs(ctx, slog.LevelDebug, "rate limit: unknown domain, not limited", slog.String("domain", req.GetDomain()))
		}
		return resp, nil
	}

	sc := scratchPool.Get().(*scratch)
	defer sc.release()
	now := s.now()
	nowSec := now.Unix()
	hits := req.GetHitsAddend()
	if hits == 0 {
		hits = 1
	}
	var resets []durationpb.Duration
	over := false
	for i, d := range descs {
		sc.entries = sc.entries[:0]
		for _, e := range d.GetEntries() {
			sc.entries = append(sc.entries, Entry{Key: e.GetKey(), Value: e.GetValue()})
		}
		n := st.idx.lookup(sc.entries)
		if n == nil {
			continue
		}
		w := n.limit.Unit.seconds()
		if w <= 0 {
			continue // a Config changed after Update; never divide by zero
		}
		if resets == nil {
			resets = make([]durationpb.Duration, len(descs))
		}
		// Whole seconds, rounded up: Envoy's X-RateLimit-Reset takes
		// the seconds of the duration and drops the rest, so 0.98 s
		// would read "0" (seen with a 1/s limit through Envoy 1.40).
		end := time.Unix(windowStart(nowSec, w)+w, 0)
		setDuration(&resets[i], (end.Sub(now) + time.Second - 1).Truncate(time.Second))
		statuses[i].CurrentLimit = n.status
		statuses[i].DurationUntilReset = &resets[i]

		key := counterKey(st.cfg.Domain, sc.entries)
		if st.cache.over(key, w, nowSec) {
			statuses[i].Code = rlsv3.RateLimitResponse_OVER_LIMIT
			over = true
			s.cacheHits.Add(1)
			continue
		}
		h := hits
		if ha := d.GetHitsAddend(); ha != nil {
			h = uint32(min(ha.GetValue(), math.MaxUint32))
		}
		sc.reqs = append(sc.reqs, CounterRequest{Key: key, Window: time.Duration(w) * time.Second, Hits: h})
		sc.pos = append(sc.pos, i)
		sc.limits = append(sc.limits, n)
	}

	if len(sc.reqs) > 0 {
		var counts []uint64
		var err error
		if s.local {
			counts, err = s.backend.Incr(ctx, sc.reqs)
		} else {
			cctx, cancel := context.WithTimeout(ctx, s.timeout)
			counts, err = s.backend.Incr(cctx, sc.reqs)
			cancel()
		}
		if err == nil && len(counts) != len(sc.reqs) {
			err = fmt.Errorf("backend returned %d counts for %d counters", len(counts), len(sc.reqs))
		}
		if err != nil {
			s.backendError(ctx, err, st.cfg.FailureMode)
			for _, i := range sc.pos {
				if st.cfg.FailureMode == FailClosed {
					statuses[i].Code = rlsv3.RateLimitResponse_OVER_LIMIT
					over = true
				} else {
					// No limit header for a counter that could not be read.
					statuses[i].CurrentLimit, statuses[i].DurationUntilReset = nil, nil
				}
			}
		} else {
			for j, i := range sc.pos {
				limit := uint64(sc.limits[j].limit.Requests)
				if c := counts[j]; c > limit {
					statuses[i].Code = rlsv3.RateLimitResponse_OVER_LIMIT
					over = true
					q := &sc.reqs[j]
					w := int64(q.Window / time.Second)
					st.cache.add(q.Key, w, windowStart(nowSec, w)+w, nowSec)
				} else {
					statuses[i].LimitRemaining = uint32(limit - c)
				}
			}
		}
	}
	if over {
		resp.OverallCode = rlsv3.RateLimitResponse_OVER_LIMIT
		resp.DynamicMetadata = overLimitMetadata(resp.Statuses)
		s.overLimit.Add(1)
	}
	return resp, nil
}

// MetadataOverLimit is the dynamic metadata key (namespace
// envoy.filters.http.ratelimit) naming the limit a request went over, so
// that Envoy's local reply can say which (e.g. a quota rather than a rate).
const MetadataOverLimit = "over_limit"

// overLimitMetadata names the first limit that was exceeded.
func overLimitMetadata(statuses []*rlsv3.RateLimitResponse_DescriptorStatus) *structpb.Struct {
	for _, st := range statuses {
		if st.GetCode() == rlsv3.RateLimitResponse_OVER_LIMIT && st.GetCurrentLimit().GetName() != "" {
			return &structpb.Struct{Fields: map[string]*structpb.Value{
				MetadataOverLimit: structpb.NewStringValue(st.GetCurrentLimit().GetName()),
			}}
		}
	}
	return nil
}

func setDuration(d *durationpb.Duration, v time.Duration) {
	if v < 0 {
		v = 0
	}
	d.Seconds = int64(v / time.Second)
	d.Nanos = int32(v % time.Second)
}

// backendError counts err and logs it, at most once per ErrorLogInterval
// with the number of errors not logged since.
func (s *Service) backendError(ctx context.Context, err error, mode FailureMode) {
	s.backendErrors.Add(1)
	now := time.Now().UnixNano()
	last := s.errLogLast.Load()
	if now-last < s.errLogEvery || !s.errLogLast.CompareAndSwap(last, now) {
		s.errSuppressed.Add(1)
		return
	}
	s.log.LogAttrs(ctx, slog.LevelError, "rate limit: backend failed",
		slog.String("error", err.Error()),
		slog.String("failure_mode", mode.String()),
		slog.Uint64("suppressed", s.errSuppressed.Swap(0)))
}
