package benchconfig_test

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/apigwio/apigw/authz"
	"github.com/apigwio/apigw/internal/benchconfig"
	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/ratelimit"
	"github.com/apigwio/apigw/ratelimit/throttle"
	"github.com/apigwio/apigw/xds"
)

// BenchmarkReloadPhases times, in process, each phase of a one-API change
// of the realistic 10,000-API configuration (what make bench-reload
// measures through a running service, without the file event, the stable
// read and the delivery):
//
//	go test ./internal/benchconfig -run '^$' -bench ReloadPhases -benchmem -count 5
//
// load: config.Parser.Load of the changed file (parse the changed group,
// build, reusing the unchanged groups); stage: the Check side's tables;
// prepare: the xDS translation, validation and snapshot; warnings: the
// warnings logged after each reload (a config.WarningsMemo, as the
// reloader); limits: the rate-limit configuration
// (throttle.Builder and ratelimit.Service.Prepare, as the service). Each iteration
// alternates between two files that differ by one API. cpu-ms/op is the
// process's CPU time (user + system, all threads, the garbage collector's
// included) per iteration: on a shared machine it moves less than ns/op.
// live-MB (stage, prepare) is the live heap once the loop ends (after a
// garbage collection), with the two snapshots, the parser and the service
// alive: compare it between versions, not with the service's.
//
// APIGW_BENCH_APIS sets the number of APIs (default 10,000; 10 groups
// either way), e.g. the 100,000-API figures of the reload target:
//
//	APIGW_BENCH_APIS=100000 go test ./internal/benchconfig -run '^$' -bench 'ReloadPhases/(stage|limits)' -benchmem -count 5
func BenchmarkReloadPhases(b *testing.B) {
	loadFile, err := benchconfig.ChangeLoader(10000)
	if err != nil {
		b.Fatal(err)
	}
	snaps := [2]*model.Snapshot{}
	load := func(i int) *model.Snapshot {
		snap, err := loadFile(i)
		if err != nil {
			b.Fatal(err)
		}
		return snap
	}
	snaps[0], snaps[1] = load(0), load(1)
	b.Run("load", func(b *testing.B) {
		defer cpuPerOp(b)()
		for i := 0; b.Loop(); i++ {
			load(i)
		}
	})
	snaps[0], snaps[1] = load(0), load(1)
	b.Run("warnings", func(b *testing.B) {
		var m config.WarningsMemo // as the reloader: unchanged groups' parts reused
		m.Warnings(snaps[1])
		defer cpuPerOp(b)()
		for i := 0; b.Loop(); i++ {
			m.Warnings(snaps[i%2])
		}
	})
	b.Run("limits", func(b *testing.B) {
		rl := ratelimit.New(ratelimit.Options{})
		var limits throttle.Builder // as the service: unchanged groups' descriptors reused
		if err := rl.Update(limits.Config(snaps[0])); err != nil {
			b.Fatal(err)
		}
		defer cpuPerOp(b)()
		for i := 0; b.Loop(); i++ {
			commit, err := rl.Prepare(limits.Config(snaps[(i+1)%2]))
			if err != nil {
				b.Fatal(err)
			}
			commit()
		}
	})
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	b.Run("stage", func(b *testing.B) {
		s, err := authz.New(ctx, snaps[0], authz.Options{Logger: quiet})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		defer cpuPerOp(b)()
		for i := 0; b.Loop(); i++ {
			snap := snaps[(i+1)%2]
			if err := s.Stage(ctx, snap); err != nil {
				b.Fatal(err)
			}
			if err := s.Activate(ctx, snap); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		liveHeap(b)
	})
	b.Run("prepare", func(b *testing.B) {
		x := xds.NewServer(quiet, xds.Options{})
		if err := x.Publish(ctx, snaps[0]); err != nil {
			b.Fatal(err)
		}
		defer cpuPerOp(b)()
		for i := 0; b.Loop(); i++ {
			commit, err := x.Prepare(ctx, snaps[(i+1)%2])
			if err != nil {
				b.Fatal(err)
			}
			if err := commit(); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		liveHeap(b)
		runtime.KeepAlive(x)
	})
}

// cpuPerOp starts counting the process's CPU time; the function it returns
// reports it per iteration as cpu-ms/op.
func cpuPerOp(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// liveHeap reports the live heap after a collection as live-MB.
func liveHeap(b *testing.B) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/1e6, "live-MB")
}
