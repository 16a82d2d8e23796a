// Package reload keeps the running configuration in step with its file.
//
// A Reloader loads the file, validates it whole and hands the resulting
// snapshot to its sinks (the xDS cache, the Check service) in order. A change
// is picked up by polling the file's content (robust to editors that replace
// files and to Kubernetes ConfigMap symlink swaps) or on demand (SIGHUP). A
// configuration that fails to load, or that a sink refuses, is logged with
// every problem and changes nothing: the last good snapshot keeps serving.
package reload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
)

// Sink receives every accepted snapshot. A sink that returns an error
// rejects the snapshot; sinks after it are not called. Sinks that can refuse
// (the xDS translator) must come first and must not change anything when
// they refuse.
type Sink func(ctx context.Context, snap *model.Snapshot) error

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
	// xDS, rate limits; not for the first load, which the service applies
	// itself while starting).
	LoadMillis  float64 `json:"load_ms"`
	ApplyMillis float64 `json:"apply_ms,omitempty"`
	// LastError is the last refusal, with every problem; empty after a success.
	LastError string `json:"last_error,omitempty"`
	// LastErrorAt is when it happened.
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
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

	mu      sync.Mutex // serialises loads and guards the fields below
	priming bool       // in Prime: refusals are returned, not logged
	digest  [32]byte
	current *model.Snapshot
	status  Status
}

// New returns a Reloader for the file at path. interval is how often the
// file is checked for changes (0 disables polling; Trigger still works).
func New(path string, opts config.Options, interval time.Duration, log *slog.Logger, sinks ...Sink) *Reloader {
	if log == nil {
		log = slog.Default()
	}
	return &Reloader{path: path, opts: opts, sinks: sinks, log: log, interval: interval, trigger: make(chan struct{}, 1)}
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

func (r *Reloader) load(ctx context.Context, publish bool) error {
	start := time.Now()
	data, err := os.ReadFile(r.path)
	if err != nil {
		return r.refuse(&config.Error{Source: r.path, Problems: []config.Problem{{Message: fmt.Sprintf("cannot read: %v", err)}}})
	}
	digest := sha256.Sum256(data)
	if r.current != nil && bytes.Equal(digest[:], r.digest[:]) {
		return nil
	}
	if len(data) > config.MaxFileSize {
		return r.refuse(&config.Error{Source: r.path, Problems: []config.Problem{{Message: "file too large"}}})
	}
	snap, err := r.parser.Load(r.path, data, r.opts)
	if err != nil {
		r.digest = digest // do not retry the same bad content every tick
		return r.refuse(err)
	}
	loaded := time.Now()
	for _, sink := range r.sinks {
		if !publish {
			break
		}
		if err := sink(ctx, snap); err != nil {
			r.digest = digest
			return r.refuse(fmt.Errorf("config %s refused: %w", r.path, err))
		}
	}
	r.digest = digest
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
	if prev == nil {
		r.log.Info("config loaded", "path", r.path, "version", snap.Version, "apis", len(snap.APIs))
	} else {
		// load: read, parse and validate the file; apply: prepare and
		// publish it everywhere.
		r.log.Info("config reloaded", "path", r.path, "version", snap.Version, "previous", prev.Version, "apis", len(snap.APIs),
			"load_ms", r.status.LoadMillis, "apply_ms", r.status.ApplyMillis)
	}
	return nil
}

// millis is d in milliseconds, to a tenth.
func millis(d time.Duration) float64 {
	return float64(d.Round(100*time.Microsecond)) / float64(time.Millisecond)
}

// watch returns a channel of file-system events on the configuration
// file's directory (nil, never ready, when events are unavailable: polling
// then does the work) and a function that stops watching.
func (r *Reloader) watch() (<-chan fsnotify.Event, func()) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		r.log.Warn("config file events unavailable; polling only", "error", err.Error())
		return nil, func() {}
	}
	if err := w.Add(filepath.Dir(r.path)); err != nil {
		_ = w.Close()
		r.log.Warn("config file events unavailable; polling only", "error", err.Error())
		return nil, func() {}
	}
	go func() {
		for err := range w.Errors {
			r.log.Warn("config file events", "error", err.Error())
		}
	}()
	return w.Events, func() { _ = w.Close() }
}

func (r *Reloader) refuse(err error) error {
	r.status.Failures++
	r.status.LastError = err.Error()
	r.status.LastErrorAt = time.Now()
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

// Current returns the snapshot in use (nil before the first success).
func (r *Reloader) Current() *model.Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.current
}

// Status returns the reload history.
func (r *Reloader) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status
}

// Trigger asks Run to reload now (e.g. on SIGHUP). It never blocks.
func (r *Reloader) Trigger() {
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// debounce lets a burst of file events (an editor's write, truncate and
// rename) settle into one reload.
const debounce = 10 * time.Millisecond

// Run watches the file until ctx ends: file-system events on its directory
// (which also catch atomic renames and Kubernetes ConfigMap symlink swaps)
// reload within milliseconds; the polling interval is the fallback where
// events are unavailable. Triggered reloads happen even when the file
// content is unchanged (the secrets it names may have changed).
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
	for {
		select {
		case <-ctx.Done():
			return
		case <-events:
			settle.Reset(debounce)
		case <-settle.C:
			_ = r.Load(ctx)
		case <-tick:
			_ = r.Load(ctx)
		case <-r.trigger:
			r.mu.Lock()
			r.digest = [32]byte{}
			r.mu.Unlock()
			_ = r.Load(ctx)
		}
	}
}
