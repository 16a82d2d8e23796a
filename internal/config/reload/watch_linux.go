//go:build linux

package reload

import (
	"os"
	"path/filepath"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watch returns a channel of events on the configuration file's directory
// (nil, never ready, when events are unavailable: polling then does the
// work) and a function that stops watching.
//
// On Linux it uses inotify directly, because the event that matters most —
// IN_CLOSE_WRITE, the writer closed the file — is not among fsnotify's
// portable events: a write to the file (IN_MODIFY) only says a writer is at
// work, and the file is read once it closes it (or once it has been quiet
// for writeQuiet). Renames into the directory (editors' atomic saves,
// Kubernetes ConfigMap symlink swaps), creations and deletions settle at
// once.
func (r *Reloader) watch() (<-chan fileEvent, func()) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		r.log.Warn("config file events unavailable; polling only", "error", err.Error())
		return nil, func() {}
	}
	const mask = unix.IN_MODIFY | unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM |
		unix.IN_CREATE | unix.IN_DELETE | unix.IN_ATTRIB | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF
	if _, err := unix.InotifyAddWatch(fd, filepath.Dir(r.path), mask); err != nil {
		_ = unix.Close(fd)
		r.log.Warn("config file events unavailable; polling only", "error", err.Error())
		return nil, func() {}
	}
	// A non-blocking descriptor in an os.File is served by the runtime's
	// poller: Read parks the goroutine, Close wakes it.
	f := os.NewFile(uintptr(fd), "inotify")
	events := make(chan fileEvent, 16)
	base := filepath.Base(r.path)
	go func() {
		defer close(events)
		buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
		for {
			n, err := f.Read(buf)
			if err != nil {
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				nameBytes := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
				off += unix.SizeofInotifyEvent + int(ev.Len)
				name := string(trimNUL(nameBytes))
				kind := eventSettled
				if ev.Mask&unix.IN_MODIFY != 0 {
					if name != base {
						continue // another file of the directory is being written
					}
					kind = eventWriting
					r.lastWrite.Store(time.Now().UnixNano())
				} else if name == base || name == "" {
					// Closed after writing, replaced, created or removed:
					// no writer holds this file's content open any more.
					r.lastClose.Store(time.Now().UnixNano())
					// A rename into place, unlike a creation, brings a
					// whole file.
					if name == base && ev.Mask&unix.IN_MOVED_TO != 0 {
						kind = eventReplaced
					}
				}
				select {
				case events <- kind:
				default: // the reloader is behind; it will read the file anyway
				}
			}
		}
	}()
	return events, func() { _ = f.Close() }
}

func trimNUL(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

// inode is fi's inode number (0 when unknown).
func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
