package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

func TestSetMemoryLimit(t *testing.T) {
	const gib = 1 << 30
	tests := []struct {
		name      string
		env       string // GOMEMLIMIT, when not empty
		ratio     float64
		limit     memlimit.Provider
		want      int64 // the runtime's limit after; 0: unchanged
		wantLog   string
		wantLevel string
	}{
		{"90 % of the container's", "", 0.9, memlimit.Limit(10 * gib), 9663676416, "memory limit set from the container's", "INFO"},
		{"the ratio given", "", 0.5, memlimit.Limit(2 * gib), gib, "go_memory_limit_bytes=1073741824", "INFO"},
		{"off", "", 0, memlimit.Limit(2 * gib), 0, "", ""},
		{"GOMEMLIMIT wins", "1GiB", 0.9, memlimit.Limit(2 * gib), 0, "memory limit from GOMEMLIMIT", "DEBUG"},
		{"no cgroup", "", 0.9, func() (uint64, error) { return 0, memlimit.ErrNoCgroup }, 0, "no container memory limit to follow", "DEBUG"},
		{"a cgroup without a limit", "", 0.9, func() (uint64, error) { return 0, memlimit.ErrNoLimit }, 0, "", ""},
		{"an unreadable limit", "", 0.9, func() (uint64, error) { return 0, errors.New("permission denied") }, 0, "cannot read the container's memory limit", "WARN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := debug.SetMemoryLimit(-1)
			t.Cleanup(func() { debug.SetMemoryLimit(before) })
			if before != math.MaxInt64 {
				t.Fatalf("the test runs with a memory limit already set (%d): unset GOMEMLIMIT", before)
			}
			if tt.env != "" {
				t.Setenv("GOMEMLIMIT", tt.env)
			}
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			setMemoryLimit(context.Background(), logger, tt.ratio, tt.limit, 0)
			want := tt.want
			if want == 0 {
				want = before
			}
			if got := debug.SetMemoryLimit(-1); got != want {
				t.Errorf("memory limit = %d, want %d", got, want)
			}
			switch out := logs.String(); {
			case tt.wantLog == "" && out != "":
				t.Errorf("logged %q, want nothing", out)
			case tt.wantLog != "" && (!strings.Contains(out, tt.wantLog) || !strings.Contains(out, "level="+tt.wantLevel)):
				t.Errorf("logged %q, want %s %q", out, tt.wantLevel, tt.wantLog)
			}
		})
	}
}

// TestSetMemoryLimitRefresh: the container's limit is read again, and a
// new one applied, until the context is done.
func TestSetMemoryLimitRefresh(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	if before != math.MaxInt64 {
		t.Fatalf("the test runs with a memory limit already set (%d): unset GOMEMLIMIT", before)
	}
	var container atomic.Uint64
	container.Store(10 << 30)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		time.Sleep(50 * time.Millisecond) // a refresh under way ends
		debug.SetMemoryLimit(before)
	})
	setMemoryLimit(ctx, slog.New(slog.DiscardHandler), 0.5, func() (uint64, error) { return container.Load(), nil }, 5*time.Millisecond)
	if got := debug.SetMemoryLimit(-1); got != 5<<30 {
		t.Fatalf("memory limit = %d, want %d", got, 5<<30)
	}
	container.Store(4 << 30) // resized in place
	deadline := time.Now().Add(5 * time.Second)
	for debug.SetMemoryLimit(-1) != 2<<30 {
		if time.Now().After(deadline) {
			t.Fatalf("memory limit = %d 5 s after the container's changed, want %d", debug.SetMemoryLimit(-1), 2<<30)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	time.Sleep(50 * time.Millisecond)
	container.Store(8 << 30)
	time.Sleep(50 * time.Millisecond)
	if got := debug.SetMemoryLimit(-1); got != 2<<30 {
		t.Errorf("memory limit = %d after the context ended, want it left at %d", got, 2<<30)
	}
}
