// Package reload keeps the running configuration in step with its file.
//
// A Reloader loads the file, validates it whole and hands the resulting
// snapshot to its sinks (the xDS cache, the Check service) in order. A change
// is picked up from file-system events (on Linux, only once the writer has
// closed the file), by polling the file's size, modification time and inode
// (robust to editors that replace files and to Kubernetes ConfigMap symlink
// swaps), or on demand (SIGHUP). A file is read only once it is stable: two
// reads StableInterval apart must agree. A configuration that fails to
// load, that a sink refuses, or that would remove more of the published APIs
// than settings.max_api_removal_percent allows (unless forced), is logged
// with every problem and changes nothing: the last good snapshot keeps
// serving.
//
// With a Composer (the release store), the file's configuration is
// composed with what another source supplies before it is built, and
// Recompose applies a new composition of the file last accepted through
// the same sinks, in the same order, by the same rules.
package reload

import (
	"bytes"
	"context"
	"fmt"
	"hash/maphash"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/gcpace"
	"github.com/apigwio/apigw/internal/model"
	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// Sink receives every accepted snapshot. A sink that returns an error
// rejects the snapshot; sinks after it are not called. Sinks that can refuse
// (the xDS translator) must come first and must not change anything when
// they refuse.
type Sink func(ctx context.Context, snap *model.Snapshot) error

// Composer composes the file's configuration with what another source
// supplies before it is built (the release store: each environment's
// current release).
type Composer struct {
	// Name says what Compose adds, for messages and logs (e.g. "releases
	// BETA#4, RELEASE#2").
	Name string
	// Compose returns the configuration to build from the file's. It must
	// not change local.
	Compose func(local *configv1.Gateway) (*configv1.Gateway, error)
}

// Status describes the reload history, for the admin endpoint and metrics.
type Status struct {
	// Version of the snapshot in use.
	Version string `json:"version"`
	// LoadedAt is when that snapshot was accepted.
	LoadedAt time.Time `json:"loaded_at"`
	// Reloads counts accepted snapshots (the first load included).
	Reloads int `json:"reloads"`
	// Failures counts refused configurations.
	Failures int `json:"failures"`
	// LoadMillis is how long the accepted snapshot took to read, parse and
	// validate, ApplyMillis to prepare and publish everywhere (Check side,
	// xDS, rate limits, and the service's admin summary of it, made after
	// the others have it; not for the first load, which the service
	// applies itself while starting).
	LoadMillis  float64 `json:"load_ms"`
	ApplyMillis float64 `json:"apply_ms,omitempty"`
	// LastError is the last refusal, with every problem; empty after a success.
	LastError string `json:"last_error,omitempty"`
	// LastErrorAt is when it happened.
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Applying is the version being applied (the Check side, Envoy and
	// the rate limiter switch to it one after the other), "" between
	// reloads: for a moment some requests are already decided by it while
	// Version still names the previous one.
	Applying string `json:"applying,omitempty"`
}

// Reloader loads a configuration file and publishes it to sinks.
type Reloader struct {
	path     string
	opts     config.Options
	sinks    []Sink
	log      *slog.Logger
	interval time.Duration
	trigger  chan struct{}
	// parser remembers the groups of the last file parsed, so that a
	// reload parses the groups whose text changed only.
	parser config.Parser
	// warnings computes the warnings logged after each load, reusing
	// those of the groups unchanged since the last (by digest, as parser).
	warnings config.WarningsMemo

	mu      sync.Mutex // serialises loads and guards the fields below
	priming bool       // in Prime: refusals are returned, not logged
	// digest is a hash of the content last loaded (0: none): the same
	// content is not loaded again. maphash with a seed of this process:
	// an equality check needs no cryptographic hash (a SHA-256 of a
	// 100,000-API file, 27.6 MB, took ~45 ms of every reload), and
	// nobody can craft a collision without the seed.
	digest  uint64
	seed    maphash.Seed
	stat    fileStamp // of the file when digest was taken
	polled  fileStamp // seen by the last poll
	current *model.Snapshot
	status  Status
	// force lets the next load remove any share of the APIs.
	force bool
	// replaced makes the next load's read single (see readStable): the
	// watcher saw a file renamed into place and no event since.
	replaced bool
	// composer, when set, composes every configuration built (see
	// Composer); data is then the file content current was built from.
	composer *Composer
	data     []byte
	// release ends the gcpace hold of the load in progress (nil: none),
	// once the sinks have the change or the load is refused.
	release func()
	// reads counts file reads (tests: an idle poll reads nothing).
	reads atomic.Int64
	// lastWrite and lastClose are when the watcher last saw the file
	// written and closed after writing, or replaced (Unix nanoseconds; 0:
	// never). The watcher sets them before it queues the event, so a load
	// in progress sees a writer that started after it.
	lastWrite, lastClose atomic.Int64
	// shownCurrent and shownStatus are copies of current and status for
	// readers that must not wait for a load (Current, Status).
	shownCurrent atomic.Pointer[model.Snapshot]
	shownStatus  atomic.Pointer[Status]
}

// StableInterval is how long apart the two reads of a changed file are:
// a file whose two reads differ is still being written and is read again
// (up to stableReads times) before anything is parsed.
const StableInterval = 20 * time.Millisecond

// stableReads, with StableInterval, bounds how long a file that keeps
// changing is read again (besides writeQuiet for an open writer).
const stableReads = 10

// fileStamp is what the polling compares before reading a file: its size,
// modification time and inode (a replaced file or a swapped symlink gets
// a new inode).
type fileStamp struct {
	size  int64
	mtime time.Time
	ino   uint64
}

func stampOf(fi os.FileInfo) fileStamp {
	return fileStamp{size: fi.Size(), mtime: fi.ModTime(), ino: inode(fi)}
}

// New returns a Reloader for the file at path. interval is how often the
// file is checked for changes (0 disables polling; Trigger still works).
func New(path string, opts config.Options, interval time.Duration, log *slog.Logger, sinks ...Sink) *Reloader {
	if log == nil {
		log = slog.Default()
	}
	return &Reloader{path: path, opts: opts, sinks: sinks, log: log, interval: interval, trigger: make(chan struct{}, 1), seed: maphash.MakeSeed()}
}

// SetAddresses makes later loads use these listen addresses (see
// config.Options.GRPCAddress) and forgets the last content, so that the
// next Prime or Load rebuilds the snapshot with them.
func (r *Reloader) SetAddresses(grpcAddr, adminAddr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opts.GRPCAddress, r.opts.AdminAddress = grpcAddr, adminAddr
	r.digest = 0
	r.current = nil
	r.status = Status{}
	r.publishState()
}

// SetComposer makes later loads compose the file's configuration with c
// (nil: build the file alone). Call it before Prime; Recompose changes it
// afterwards.
func (r *Reloader) SetComposer(c *Composer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.composer = c
}

// Recompose builds the file content in use composed with c and publishes
// it through the sinks; c then composes every later load. A refusal (a
// composition or build failure, a sink's refusal) is logged and returned,
// and changes nothing: the last good snapshot and its composer stay. The
// share of APIs it removes is not limited: a composer's new content is a
// deliberate act (a publish or a rollback), not a truncated file.
func (r *Reloader) Recompose(ctx context.Context, c *Composer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current == nil || r.data == nil {
		return r.refuse(fmt.Errorf("config %s refused: no configuration file accepted yet", r.sourceWith(c)))
	}
	start := time.Now()
	source := r.sourceWith(c)
	snap, err := r.parser.Compose(source, r.data, r.opts, c.Compose)
	if err != nil {
		return r.refuse(err)
	}
	if err := r.commit(ctx, snap, source, start, true); err != nil {
		return err
	}
	r.composer = c
	return nil
}

// build builds the configuration data holds, composed by the composer if
// there is one.
func (r *Reloader) build(data []byte) (*model.Snapshot, error) {
	if r.composer == nil {
		return r.parser.Load(r.path, data, r.opts)
	}
	return r.parser.Compose(r.source(), data, r.opts, r.composer.Compose)
}

// source names the configuration in messages: the file, and what the
// composer adds.
func (r *Reloader) source() string { return r.sourceWith(r.composer) }

// sourceWith names the file composed with c.
func (r *Reloader) sourceWith(c *Composer) string {
	if c == nil {
		return r.path
	}
	return r.path + " with " + c.Name
}

// Prime loads the file without publishing it and makes it the current
// snapshot: the caller builds its services from it, and later loads publish
// only changes. A refusal is returned, not logged: the caller reports it
// (there is no previous configuration that keeps serving).
func (r *Reloader) Prime(ctx context.Context) (*model.Snapshot, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.priming = true
	defer func() { r.priming = false }()
	if err := r.load(ctx, false); err != nil {
		return nil, err
	}
	return r.current, nil
}

// Load loads the file and publishes it if it changed since the last
// accepted load. It returns the refusal, if any.
func (r *Reloader) Load(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.load(ctx, true)
}

// readStable reads the file until two reads StableInterval apart agree.
func (r *Reloader) readStable(ctx context.Context) ([]byte, fileStamp, error) {
	var stamp fileStamp
	read := func() ([]byte, error) {
		fi, err := os.Stat(r.path)
		if err != nil {
			return nil, err
		}
		if fi.Size() > config.MaxFileSize {
			return nil, fmt.Errorf("file is %d bytes, larger than the %d allowed", fi.Size(), config.MaxFileSize)
		}
		stamp = stampOf(fi)
		r.reads.Add(1)
		return os.ReadFile(r.path)
	}
	data, err := read()
	if err != nil {
		return nil, stamp, err
	}
	// A file renamed into place (an atomic save) was complete before it
	// appeared under its name: one read is
	// enough if nothing wrote to it meanwhile — the same size,
	// modification time and inode after the read, and no write event.
	if r.replaced && !r.beingWritten() {
		if fi, err := os.Stat(r.path); err == nil && stampOf(fi) == stamp {
			return data, stamp, nil
		}
	}
	// Two equal reads are not enough while a writer holds the file open
	// after writing to it (it may be pausing mid-file): then wait for its
	// close, or for writeQuiet without a write.
	deadline := time.Now().Add(writeQuiet + stableReads*StableInterval)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, stamp, ctx.Err()
		case <-time.After(StableInterval):
		}
		again, err := read()
		if err != nil {
			return nil, stamp, err
		}
		if bytes.Equal(again, data) && !r.beingWritten() {
			return data, stamp, nil
		}
		data = again
	}
	return nil, stamp, fmt.Errorf("the file is still being written (%v without two equal reads %v apart and a closed writer)", writeQuiet+stableReads*StableInterval, StableInterval)
}

// beingWritten reports whether the watcher saw a write to the file that no
// close followed, less than writeQuiet ago (Linux: IN_MODIFY without
// IN_CLOSE_WRITE; elsewhere never).
func (r *Reloader) beingWritten() bool {
	m := r.lastWrite.Load()
	return m != 0 && m > r.lastClose.Load() && time.Since(time.Unix(0, m)) < writeQuiet
}

func (r *Reloader) load(ctx context.Context, publish bool) error {
	start := time.Now()
	data, stamp, err := r.readStable(ctx)
	if err != nil && ctx.Err() != nil {
		return err // shutting down: not a refusal
	}
	if err != nil {
		return r.refuse(&config.Error{Source: r.path, Problems: []config.Problem{{Message: fmt.Sprintf("cannot read: %v", err)}}})
	}
	digest := maphash.Bytes(r.seed, data)
	if r.current != nil && digest == r.digest {
		r.stat = stamp
		return nil
	}
	// Whatever happens next, the same content is not tried again every
	// tick.
	r.digest, r.stat = digest, stamp
	if publish {
		// The collection this reload's garbage makes due runs once the
		// sinks have the change (commit releases the hold), not during it.
		r.release = gcpace.Hold()
		defer r.releaseHold()
	}
	snap, err := r.build(data)
	if err != nil {
		return r.refuse(err)
	}
	if publish && !r.force {
		if err := removalAllowed(r.current, snap); err != nil {
			return r.refuse(fmt.Errorf("config %s refused: %w", r.source(), err))
		}
	}
	r.force = false
	if err := r.commit(ctx, snap, r.source(), start, publish); err != nil {
		return err
	}
	if r.composer != nil {
		r.data = data
	}
	return nil
}

// commit hands snap, built from source since start, to the sinks in order
// (unless !publish: Prime) and makes it current, or refuses it when a sink
// does. The caller holds r.mu.
func (r *Reloader) commit(ctx context.Context, snap *model.Snapshot, source string, start time.Time, publish bool) error {
	loaded := time.Now()
	if publish && len(r.sinks) > 0 {
		r.status.Applying = snap.Version
		r.publishState()
	}
	for _, sink := range r.sinks {
		if !publish {
			break
		}
		if err := sink(ctx, snap); err != nil {
			r.status.Applying = ""
			return r.refuse(fmt.Errorf("config %s refused: %w", source, err))
		}
	}
	r.status.Applying = ""
	r.releaseHold()
	prev := r.current
	r.current = snap
	r.status.Version = snap.Version
	r.status.LoadedAt = time.Now()
	r.status.Reloads++
	r.status.LoadMillis = millis(loaded.Sub(start))
	r.status.ApplyMillis = 0
	if publish {
		r.status.ApplyMillis = millis(time.Since(loaded))
	}
	r.status.LastError = ""
	r.status.LastErrorAt = time.Time{}
	r.publishState()
	attrs := []any{"path", r.path}
	if source != r.path {
		attrs = append(attrs, "source", source)
	}
	if prev == nil {
		r.log.Info("config loaded", append(attrs, "version", snap.Version, "apis", snap.APICount())...)
	} else {
		// load: read, parse and validate the file; apply: prepare and
		// publish it everywhere.
		r.log.Info("config reloaded", append(attrs, "version", snap.Version, "previous", prev.Version, "apis", snap.APICount(),
			"load_ms", r.status.LoadMillis, "apply_ms", r.status.ApplyMillis)...)
	}
	for _, w := range r.warnings.Warnings(snap) {
		r.log.Warn("config warning", "path", r.path, "version", snap.Version, "warning", w)
	}
	return nil
}

// releaseHold releases the load's gcpace hold, if any. The caller holds
// r.mu.
func (r *Reloader) releaseHold() {
	if r.release != nil {
		r.release()
		r.release = nil
	}
}

// removalAllowed refuses next when it would remove more of prev's APIs
// than next's settings.max_api_removal_percent allows.
func removalAllowed(prev, next *model.Snapshot) error {
	if prev == nil || len(prev.APIs) == 0 {
		return nil
	}
	limit := next.Settings.MaxAPIRemovalPercent
	if limit <= 0 || limit >= 100 {
		return nil
	}
	// APIs count by id: the variants of an API are one API (the first
	// variant is keyed by the id).
	total, removed := 0, 0
	for _, api := range prev.APIs {
		if api.Variant != "" {
			continue
		}
		total++
		if next.APIs[api.ID] == nil {
			removed++
		}
	}
	if total == 0 || removed*100 <= limit*total {
		return nil
	}
	return fmt.Errorf("it would remove %d of the %d published APIs (%d%%), more than settings.max_api_removal_percent (%d%%); "+
		"force it with POST /debug/reload?force=true on the admin port", removed, total, removed*100/total, limit)
}

// millis is d in milliseconds, to a tenth.
func millis(d time.Duration) float64 {
	return float64(d.Round(100*time.Microsecond)) / float64(time.Millisecond)
}

func (r *Reloader) refuse(err error) error {
	r.status.Failures++
	r.status.LastError = err.Error()
	r.status.LastErrorAt = time.Now()
	r.publishState()
	if r.priming {
		return err
	}
	attrs := []any{"path", r.path, "error", err.Error()}
	if r.current != nil {
		attrs = append(attrs, "serving", r.current.Version)
	}
	r.log.Error("config refused; the previous configuration keeps serving", attrs...)
	return err
}

// publishState makes the current snapshot and status visible to Current
// and Status. The caller holds r.mu.
func (r *Reloader) publishState() {
	st := r.status
	r.shownStatus.Store(&st)
	r.shownCurrent.Store(r.current)
}

// Current returns the snapshot in use (nil before the first success). It
// never waits for a load in progress (the admin endpoints call it).
func (r *Reloader) Current() *model.Snapshot { return r.shownCurrent.Load() }

// Status returns the reload history. It never waits for a load in
// progress.
func (r *Reloader) Status() Status {
	if st := r.shownStatus.Load(); st != nil {
		return *st
	}
	return Status{}
}

// Force reloads now, accepting a configuration that removes more APIs than
// settings.max_api_removal_percent allows (every other rule still
// applies). It returns the refusal, if any.
func (r *Reloader) Force(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.digest = 0
	r.force = true
	defer func() { r.force = false }()
	return r.load(ctx, true)
}

// LoadNow loads the file and publishes it even if its content is
// unchanged (the secrets it names may have changed). It returns the
// refusal, if any.
func (r *Reloader) LoadNow(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.digest = 0
	return r.load(ctx, true)
}

// loadReplaced is Load of a file the watcher saw replaced: its content is
// read once (see readStable).
func (r *Reloader) loadReplaced(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.replaced = true
	defer func() { r.replaced = false }()
	return r.load(ctx, true)
}

// Trigger asks Run to reload now (e.g. on SIGHUP). It never blocks.
func (r *Reloader) Trigger() {
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// fileEvent is what a file-system event says about the configuration file.
type fileEvent uint8

const (
	// eventSettled: a writer closed the file, or the directory changed
	// (rename, creation, deletion, symlink swap): read it after debounce.
	eventSettled fileEvent = iota
	// eventWriting: the file is being written; wait for the writer to close
	// it (eventSettled) or to stay quiet for writeQuiet.
	eventWriting
	// eventReplaced: the file was renamed into place (an atomic save):
	// read it once after replacedDebounce, unless another event follows.
	eventReplaced
)

// debounce lets a burst of file events (an editor's write, truncate and
// rename) settle into one reload.
const debounce = 10 * time.Millisecond

// replacedDebounce is the debounce after the file was replaced: a rename
// is one event, not a burst, so only the events queued with it wait.
const replacedDebounce = time.Millisecond

// writeQuiet is how long a file written without a close event must stay
// unwritten before it is read anyway; polling does not read a file written
// less than writeQuiet ago.
const writeQuiet = time.Second

// Run watches the file until ctx ends: file-system events on its directory
// (which also catch atomic renames and Kubernetes ConfigMap symlink swaps)
// reload within milliseconds of the writer closing the file; the polling
// interval is the fallback where events are unavailable (a poll only
// stats the file, and reads it when its size, modification time or inode
// changed). Triggered reloads happen even when the file content is
// unchanged (the secrets it names may have changed).
func (r *Reloader) Run(ctx context.Context) {
	var tick <-chan time.Time
	if r.interval > 0 {
		t := time.NewTicker(r.interval)
		defer t.Stop()
		tick = t.C
	}
	events, closeWatch := r.watch()
	defer closeWatch()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	var writing time.Time // when a write without a close was last seen
	// replaced: the last event was the file's replacement (see
	// eventReplaced).
	replaced := false
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			replaced = ev == eventReplaced
			if ev == eventWriting {
				writing = time.Now()
				settle.Reset(writeQuiet)
				continue
			}
			writing = time.Time{}
			if replaced {
				settle.Reset(replacedDebounce)
			} else {
				settle.Reset(debounce)
			}
		case <-settle.C:
			writing = time.Time{}
			if replaced {
				replaced = false
				_ = r.loadReplaced(ctx)
			} else {
				_ = r.Load(ctx)
			}
		case <-tick:
			// Events already queued decide first (select picks at random
			// among ready cases).
			for drained := false; !drained; {
				select {
				case ev, ok := <-events:
					if !ok {
						events = nil
						continue
					}
					replaced = false // the poll below reads twice
					if ev == eventWriting {
						writing = time.Now()
						settle.Reset(writeQuiet)
					}
				default:
					drained = true
				}
			}
			if !writing.IsZero() && time.Since(writing) < writeQuiet {
				continue // a writer is at work; its close (or silence) reloads
			}
			_ = r.poll(ctx)
		case <-r.trigger:
			r.mu.Lock()
			r.digest = 0
			r.mu.Unlock()
			_ = r.Load(ctx)
		}
	}
}

// poll loads the file if its size, modification time or inode changed,
// and stayed so for one polling interval (a file caught mid-write by a
// poll is left to the next one).
func (r *Reloader) poll(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	fi, err := os.Stat(r.path)
	if err == nil {
		stamp := stampOf(fi)
		if r.current != nil && stamp == r.stat {
			return nil
		}
		if stamp != r.polled {
			r.polled = stamp
			return nil
		}
	}
	return r.load(ctx, true)
}
