// Package follow keeps a serving replica in step with the release store.
//
// At start Read reads each environment's current release (retrying within
// a deadline); the server composes it with its configuration file and
// builds its services from the result. Run then watches the store from the
// revision read and applies each new current release through the
// reloader's Recompose: composition, build, then the same sinks in the
// same order as a file reload, all or nothing. A burst of publishes is
// coalesced: only the newest view is applied. While the store is
// unavailable the replica keeps serving what it applied last, reports the
// store down (Status, metrics) and retries with backoff; it catches up as
// soon as the store answers again. After every apply the replica reports
// what it serves through Store.Report.
package follow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apigwio/apigw/internal/config/reload"
	"github.com/apigwio/apigw/internal/release"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// Target applies a composition: the reloader (reload.Reloader.Recompose).
type Target interface {
	// Recompose builds the configuration in use composed by c and
	// publishes it, or refuses it and changes nothing.
	Recompose(ctx context.Context, c *reload.Composer) error
}

// Availability is implemented by stores whose Watch reconnects by itself
// instead of returning an error (the etcd store): they tell when they stop
// and start answering, without polling.
type Availability interface {
	// WatchAvailability calls fn with nil each time the store can be
	// reached again and with the reason each time it cannot, until ctx
	// ends.
	WatchAvailability(ctx context.Context, fn func(err error))
}

// Options configure a Follower.
type Options struct {
	// Store holds the releases (required).
	Store release.Store
	// URL names the store in Status and logs; Redact removes its
	// credentials.
	URL string
	// ReplicaID names this replica in Store.Report.
	ReplicaID string
	// Compose composes the file's configuration with the current releases.
	// Default: the Compose of a release.Composer of the Follower's own,
	// which reuses the composed groups whose releases did not change.
	Compose func(local *configv1.Gateway, current map[string]*release.Release) (*configv1.Gateway, error)
	// Logger for everything. Default slog.Default().
	Logger *slog.Logger
	// StartTimeout bounds Read: how long an unreachable store is retried
	// at start. Default 30s.
	StartTimeout time.Duration
	// CallTimeout bounds one call to the store (Current, Report,
	// Replicas). Default 5s.
	CallTimeout time.Duration
	// ApplyTimeout bounds one apply. Default 2m.
	ApplyTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries of a store
	// that failed. Defaults 100ms and 5s.
	MinBackoff, MaxBackoff time.Duration
}

// EnvStatus is what a replica serves of one environment.
type EnvStatus struct {
	// Release is the number of the release served.
	Release uint64 `json:"release"`
	// AppliedAt is when this replica started serving it.
	AppliedAt time.Time `json:"applied_at"`
	// Created is when the release was published.
	Created time.Time `json:"created"`
	// Note is the publisher's note.
	Note string `json:"note,omitempty"`
	// Publisher names who published it.
	Publisher string `json:"publisher,omitempty"`
	// SourceDigest is the SHA-256 of the published source.
	SourceDigest string `json:"source_digest,omitempty"`
	// RollbackOf is the release whose content this one restores (0: none).
	RollbackOf uint64 `json:"rollback_of,omitempty"`
}

// Status is what /debug/releases shows of this replica.
type Status struct {
	// Store is the store's URL without credentials.
	Store string `json:"store"`
	// ReplicaID is how this replica reports itself.
	ReplicaID string `json:"replica_id"`
	// StoreAvailable says whether the store answered last time it was
	// asked (the watch delivers, a read succeeds).
	StoreAvailable bool `json:"store_available"`
	// StoreError is why the store is unavailable ("" when it is).
	StoreError string `json:"store_error,omitempty"`
	// StoreDownSince is when the store became unavailable.
	StoreDownSince time.Time `json:"store_down_since,omitzero"`
	// Revision is the store revision of the releases served.
	Revision int64 `json:"revision"`
	// Environments maps an environment to the release served.
	Environments map[string]EnvStatus `json:"environments"`
	// ApplyFailures counts releases refused (the previous ones kept
	// serving).
	ApplyFailures int64 `json:"apply_failures"`
	// LastError is the last refusal, with every problem ("" after a
	// successful apply).
	LastError string `json:"last_error,omitempty"`
	// LastErrorAt is when it happened.
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Refused is the store revision of the last refused view (0: none).
	Refused int64 `json:"refused_revision,omitempty"`
}

// Follower follows the release store for one replica.
type Follower struct {
	o   Options
	log *slog.Logger

	mu sync.Mutex // guards st
	st Status
	// shown is a copy of st for readers that must not wait (Status).
	shown atomic.Pointer[Status]

	// pending is the newest view the watch delivered and not yet taken by
	// the applier; wake tells the applier there is one.
	pending atomic.Pointer[release.Current]
	wake    chan struct{}
	// report tells the reporter to report the replica's status.
	report chan struct{}
	// applied is the view served (the applier's own).
	applied *release.Current
}

// New returns a Follower.
func New(o Options) *Follower {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Compose == nil {
		o.Compose = new(release.Composer).Compose
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 30 * time.Second
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 5 * time.Second
	}
	if o.ApplyTimeout <= 0 {
		o.ApplyTimeout = 2 * time.Minute
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(5*time.Second, o.MinBackoff)
	}
	f := &Follower{o: o, log: o.Logger, wake: make(chan struct{}, 1), report: make(chan struct{}, 1)}
	f.st = Status{Store: Redact(o.URL), ReplicaID: o.ReplicaID, Environments: map[string]EnvStatus{}}
	f.show()
	return f
}

// Redact returns a store URL without its credentials (user information)
// and query.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		// Keep the scheme and hosts only.
		scheme, rest, ok := strings.Cut(raw, "://")
		if !ok {
			return "(unparsable store URL)"
		}
		if _, after, found := strings.Cut(rest, "@"); found {
			rest = after
		}
		rest, _, _ = strings.Cut(rest, "?")
		return scheme + "://" + rest
	}
	if u.Scheme == "" || u.Host == "" {
		return "(unparsable store URL)"
	}
	u.User = nil
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

// Read reads each environment's current release, retrying an unavailable
// store with backoff until StartTimeout. Other errors are returned at once.
func (f *Follower) Read(ctx context.Context) (*release.Current, error) {
	ctx, cancel := context.WithTimeout(ctx, f.o.StartTimeout)
	defer cancel()
	backoff := f.o.MinBackoff
	for {
		cur, err := f.current(ctx)
		if err == nil {
			return cur, nil
		}
		if !errors.Is(err, release.ErrUnavailable) && !errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("release store %s: %w", Redact(f.o.URL), err)
		}
		f.log.Warn("release store unavailable; retrying", "store", Redact(f.o.URL), "error", err.Error(), "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("release store %s unavailable for %v at start (last error: %v); nothing to serve", Redact(f.o.URL), f.o.StartTimeout, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, f.o.MaxBackoff)
	}
}

// current reads the store's current view within CallTimeout.
func (f *Follower) current(ctx context.Context) (*release.Current, error) {
	ctx, cancel := context.WithTimeout(ctx, f.o.CallTimeout)
	defer cancel()
	cur, err := f.o.Store.Current(ctx)
	if err == nil && cur == nil {
		err = errors.New("the store returned no view")
	}
	return cur, err
}

// Composer returns the composer of cur: the file's configuration with the
// current release of every environment.
func (f *Follower) Composer(cur *release.Current) *reload.Composer {
	releases := maps.Clone(cur.Releases)
	return &reload.Composer{
		Name: Describe(cur),
		Compose: func(local *configv1.Gateway) (*configv1.Gateway, error) {
			return f.o.Compose(local, releases)
		},
	}
}

// Describe names the releases of cur, e.g. "releases BETA#4, RELEASE#2
// (revision 17)".
func Describe(cur *release.Current) string {
	if len(cur.Releases) == 0 {
		return fmt.Sprintf("no releases (revision %d)", cur.Revision)
	}
	parts := make([]string, 0, len(cur.Releases))
	for _, env := range slices.Sorted(maps.Keys(cur.Releases)) {
		parts = append(parts, fmt.Sprintf("%s#%d", env, cur.Releases[env].Number))
	}
	return fmt.Sprintf("releases %s (revision %d)", strings.Join(parts, ", "), cur.Revision)
}

// SetReplicaID sets the name this replica reports itself by (before Run:
// the default names the admin address, known once it is bound).
func (f *Follower) SetReplicaID(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.o.ReplicaID, f.st.ReplicaID = id, id
	f.show()
}

// Started records cur as served: the server built its services from it.
func (f *Follower) Started(cur *release.Current) {
	f.applied = cur
	f.mu.Lock()
	f.st.StoreAvailable = true
	f.setServing(cur, time.Now())
	f.show()
	f.mu.Unlock()
}

// setServing makes cur the view served, applied at. The caller holds f.mu.
func (f *Follower) setServing(cur *release.Current, at time.Time) {
	envs := make(map[string]EnvStatus, len(cur.Releases))
	for env, rel := range cur.Releases {
		es := EnvStatus{Release: rel.Number, AppliedAt: at, Created: rel.Created, Note: rel.Note, Publisher: rel.Publisher,
			SourceDigest: rel.SourceDigest, RollbackOf: rel.RollbackOf}
		if prev, ok := f.st.Environments[env]; ok && prev.Release == rel.Number {
			es.AppliedAt = prev.AppliedAt
		}
		envs[env] = es
	}
	f.st.Environments = envs
	f.st.Revision = cur.Revision
}

// show publishes a copy of st for Status. The caller holds f.mu.
func (f *Follower) show() {
	st := f.st
	st.Environments = maps.Clone(st.Environments)
	f.shown.Store(&st)
}

// Status returns what this replica serves and the store's state. It never
// waits for an apply or a store call.
func (f *Follower) Status() Status { return *f.shown.Load() }

// Replicas lists the replicas that report to the store, within
// CallTimeout. It does not ask a store known to be unavailable.
func (f *Follower) Replicas(ctx context.Context) ([]release.ReplicaStatus, error) {
	if !f.Status().StoreAvailable {
		return nil, release.ErrUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, f.o.CallTimeout)
	defer cancel()
	return f.o.Store.Replicas(ctx)
}

// Run follows the store until ctx ends, applying each new view through
// target.
func (f *Follower) Run(ctx context.Context, target Target) {
	var wg sync.WaitGroup
	if av, ok := f.o.Store.(Availability); ok {
		wg.Add(1)
		go func() {
			defer wg.Done()
			av.WatchAvailability(ctx, func(err error) {
				if err == nil {
					f.available()
				} else if ctx.Err() == nil {
					f.unavailable(err)
				}
			})
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		f.applyLoop(ctx, target)
	}()
	go func() {
		defer wg.Done()
		f.reportLoop(ctx)
	}()
	f.requestReport()
	f.watchLoop(ctx)
	wg.Wait()
}

// offer hands cur to the applier, replacing a view it has not taken yet
// (bursts are coalesced: the newest wins).
func (f *Follower) offer(cur *release.Current) {
	for {
		old := f.pending.Load()
		if old != nil && old.Revision > cur.Revision {
			return
		}
		if f.pending.CompareAndSwap(old, cur) {
			break
		}
	}
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// watchLoop watches the store from the revision served; when the watch
// fails it marks the store unavailable, and retries with backoff: first a
// read of the current view (which catches up on whatever the watch
// missed), then the watch from there.
func (f *Follower) watchLoop(ctx context.Context) {
	// after is the newest revision seen, delivered is set by each view
	// the watch delivers (the store may call fn from its own goroutine).
	var after atomic.Int64
	var delivered atomic.Bool
	seen := func(cur *release.Current) {
		f.available()
		for {
			a := after.Load()
			if cur.Revision <= a || after.CompareAndSwap(a, cur.Revision) {
				break
			}
		}
		f.offer(cur)
	}
	after.Store(f.applied.Revision)
	backoff := f.o.MinBackoff
	for ctx.Err() == nil {
		err := f.o.Store.Watch(ctx, after.Load(), func(cur *release.Current) {
			delivered.Store(true)
			seen(cur)
		})
		if ctx.Err() != nil {
			return
		}
		if delivered.Swap(false) {
			backoff = f.o.MinBackoff
		}
		if err == nil {
			err = errors.New("the watch ended")
		}
		f.unavailable(err)
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, f.o.MaxBackoff)
			cur, err := f.current(ctx)
			if err != nil {
				if ctx.Err() == nil {
					f.unavailable(err)
				}
				continue
			}
			seen(cur)
			break
		}
	}
}

// available records that the store answered.
func (f *Follower) available() {
	f.mu.Lock()
	was := f.st.StoreAvailable
	f.st.StoreAvailable, f.st.StoreError, f.st.StoreDownSince = true, "", time.Time{}
	f.show()
	f.mu.Unlock()
	if !was {
		f.log.Info("release store available again", "store", f.st.Store)
		f.requestReport() // what was reported while it was down was lost
	}
}

// unavailable records that the store failed with err.
func (f *Follower) unavailable(err error) {
	f.mu.Lock()
	was := f.st.StoreAvailable
	f.st.StoreAvailable, f.st.StoreError = false, err.Error()
	if was || f.st.StoreDownSince.IsZero() {
		f.st.StoreDownSince = time.Now()
	}
	f.show()
	serving := make([]string, 0, len(f.st.Environments))
	for _, env := range slices.Sorted(maps.Keys(f.st.Environments)) {
		serving = append(serving, fmt.Sprintf("%s#%d", env, f.st.Environments[env].Release))
	}
	f.mu.Unlock()
	if was {
		f.log.Error("release store unavailable; the releases applied last keep serving", "store", f.st.Store, "error", err.Error(),
			"serving", strings.Join(serving, ", "))
	}
}

// applyLoop applies the newest view offered, one at a time.
func (f *Follower) applyLoop(ctx context.Context, target Target) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
		}
		cur := f.pending.Swap(nil)
		if cur == nil {
			continue
		}
		f.apply(ctx, target, cur)
	}
}

// apply applies cur unless it is what is served already.
func (f *Follower) apply(ctx context.Context, target Target, cur *release.Current) {
	if cur.Revision < f.applied.Revision || maps.Equal(cur.Numbers(), f.applied.Numbers()) {
		return
	}
	actx, cancel := context.WithTimeout(ctx, f.o.ApplyTimeout)
	defer cancel()
	start := time.Now()
	err := target.Recompose(actx, f.Composer(cur))
	if err != nil && ctx.Err() != nil {
		return // shutting down
	}
	f.mu.Lock()
	if err != nil {
		f.st.ApplyFailures++
		f.st.LastError, f.st.LastErrorAt, f.st.Refused = err.Error(), time.Now(), cur.Revision
	} else {
		f.st.LastError, f.st.LastErrorAt = "", time.Time{}
		f.setServing(cur, time.Now())
	}
	f.show()
	f.mu.Unlock()
	if err == nil {
		// The reloader logged the new configuration; this says which
		// releases it holds.
		f.log.Info("releases applied", "releases", Describe(cur), "apply_ms", float64(time.Since(start).Microseconds())/1000)
		f.applied = cur
	}
	// The reloader logged the refusal with every problem.
	f.requestReport()
}

func (f *Follower) requestReport() {
	select {
	case f.report <- struct{}{}:
	default:
	}
}

// reportLoop reports the replica's status after each request, within
// CallTimeout. A report that fails is made again after a backoff (growing
// to MaxBackoff), and at once when the store is available again; the
// first failure is logged. A store that cannot be reached is reported
// unavailable until a report succeeds (or the watch delivers).
func (f *Follower) reportLoop(ctx context.Context) {
	backoff := f.o.MinBackoff
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-f.report:
		case <-retry.C:
		}
		st := f.Status()
		rs := release.ReplicaStatus{ID: st.ReplicaID, Serving: make(map[string]uint64, len(st.Environments)), Updated: time.Now(), LastError: st.LastError}
		for env, es := range st.Environments {
			rs.Serving[env] = es.Release
		}
		cctx, cancel := context.WithTimeout(ctx, f.o.CallTimeout)
		err := f.o.Store.Report(cctx, rs)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			if failing {
				f.log.Info("this replica's releases reported to the store again", "store", st.Store)
				f.available()
			}
			failing, backoff = false, f.o.MinBackoff
			retry.Stop()
		default:
			if !failing {
				f.log.Warn("cannot report this replica's releases to the store; retrying", "store", st.Store, "error", err.Error())
			}
			if errors.Is(err, release.ErrUnavailable) {
				f.unavailable(err)
			}
			failing = true
			retry.Reset(backoff)
			backoff = min(2*backoff, f.o.MaxBackoff)
		}
	}
}
