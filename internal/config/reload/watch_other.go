//go:build !linux

package reload

import (
	"os"
	"path/filepath"

	"github.com/fsnotify/fsnotify"
)

// watch returns a channel of events on the configuration file's directory
// (nil, never ready, when events are unavailable: polling then does the
// work) and a function that stops watching. fsnotify has no portable
// close-after-write event, so every event settles after the debounce and
// the stable read (two reads StableInterval apart) is the only guard
// against a half-written file on these platforms.
func (r *Reloader) watch() (<-chan fileEvent, func()) {
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
	events := make(chan fileEvent, 16)
	go func() {
		defer close(events)
		for {
			select {
			case _, ok := <-w.Events:
				if !ok {
					return
				}
				select {
				case events <- eventSettled:
				default:
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				r.log.Warn("config file events", "error", err.Error())
			}
		}
	}()
	return events, func() { _ = w.Close() }
}

// inode is unknown here: size and modification time decide alone.
func inode(os.FileInfo) uint64 { return 0 }
