package main

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// defaultMemoryLimitRatio is serve's --memory-limit-ratio: the share of
// a container's memory limit the Go heap may use before the collector
// works harder (the rest is for the runtime, stacks and what the kernel
// counts besides the heap). It is what Prometheus chose for the same
// setting (--auto-gomemlimit.ratio).
const defaultMemoryLimitRatio = 0.9

// memoryLimitRefresh is how often serve reads its container's memory
// limit again (setMemoryLimit): a few cgroup files a minute.
const memoryLimitRefresh = time.Minute

// setMemoryLimit sets the Go runtime's soft memory limit to ratio of the
// limit that limit reports (the container's: memlimit.FromCgroup), and
// logs it. It does nothing when ratio is 0, when GOMEMLIMIT is set (the
// runtime applied it) or when there is no limit to follow (no cgroup, or
// one without a memory limit).
//
// Why: the Go collector lets the heap grow to twice what is live (GOGC
// 100) and knows nothing of the container. At 100,000 APIs the first
// load is about 0.95 GB live and 1.8 GB resident at its peak; in a
// 1.3 GiB memory cgroup the kernel then held the process at its limit,
// reclaiming, and it became ready after 57 s instead of 9 s. With the
// soft limit at 90 % of the cgroup's, the collector runs more often
// near it instead: ready after 10-11 s, peak 1.26 GB
// (docs/performance.md, "Session 13").
//
// When it set a limit, it reads the container's again every refresh
// until ctx is done, so that a container resized in place (Kubernetes'
// in-place pod resize) gets the new limit.
func setMemoryLimit(ctx context.Context, logger *slog.Logger, ratio float64, limit memlimit.Provider, refresh time.Duration) {
	if ratio == 0 {
		return
	}
	if v, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		logger.Debug("memory limit from GOMEMLIMIT", "GOMEMLIMIT", v)
		return
	}
	got, err := memlimit.Set(memlimit.WithProvider(limit), memlimit.WithRatio(ratio))
	switch {
	case errors.Is(err, memlimit.ErrNoCgroup), errors.Is(err, memlimit.ErrCgroupsNotSupported):
		logger.Debug("no container memory limit to follow", "reason", err)
	case err != nil:
		logger.Warn("cannot read the container's memory limit; the Go runtime has none", "error", err)
	case got != math.MaxInt64: // else no limit (memlimit.ErrNoLimit)
		logger.Info("memory limit set from the container's", "go_memory_limit_bytes", got, "ratio", ratio)
		if refresh > 0 {
			// Again, with the refresh (the library starts it even when
			// the first reading fails, which it did not).
			_, _ = memlimit.Set(memlimit.WithProvider(limit), memlimit.WithRatio(ratio), memlimit.WithRefreshInterval(ctx, refresh))
		}
	}
}
