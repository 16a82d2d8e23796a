package etcdstore

import (
	"context"
	"errors"
	"maps"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/apigwio/apigw/internal/release"
)

// Backoff of Watch between failed attempts.
const (
	watchBackoffMin = 100 * time.Millisecond
	watchBackoffMax = 5 * time.Second
)

// Watch calls fn with the new Current each time the current release of an
// environment changes after revision after, until ctx ends; it then
// returns nil (an error only when the store is closed first). With after
// 0, it first calls fn with the current releases as read. A change to a value that does not decode leaves the
// environment's release as it was, so fn is not called for it. Watch
// reconnects by itself, with backoff, when etcd is unreachable, loses its
// leader or has compacted the revisions it needs (it then rereads Current
// and calls fn if anything changed meanwhile). fn runs on Watch's
// goroutine; Watch waits for it.
func (s *Store) Watch(ctx context.Context, after int64, fn func(*release.Current)) error {
	var last map[string]uint64 // what fn saw last (nil: unknown)
	if after > 0 {
		if cur, err := s.currentAt(ctx, after); err == nil {
			last = cur.Numbers()
		}
	}
	deliver := func(cur *release.Current) {
		n := cur.Numbers()
		if last != nil && maps.Equal(n, last) {
			return
		}
		last = n
		fn(cur)
	}
	rev := after
	wait := watchBackoffMin
	for ctx.Err() == nil {
		if s.ctx.Err() != nil {
			return errors.New("store closed")
		}
		if rev <= 0 || last == nil {
			// No starting point: read one, and deliver it.
			cur, err := s.currentAt(ctx, 0)
			if err != nil {
				s.log.Warn("etcd store: watch: cannot read the current releases; retrying", "error", err.Error(), "retry_in", wait.String())
				sleep(ctx, wait)
				wait = min(2*wait, watchBackoffMax)
				continue
			}
			deliver(cur)
			rev = cur.Revision
		}
		next, err := s.watchFrom(ctx, rev, deliver)
		if next > rev {
			rev = next
			wait = watchBackoffMin
		}
		if ctx.Err() != nil {
			break
		}
		if errors.Is(err, errCompacted) {
			s.log.Warn("etcd store: watch: revisions compacted; rereading the current releases", "revision", rev)
			rev = 0
			continue
		}
		s.log.Warn("etcd store: watch interrupted; reconnecting", "error", errString(err), "retry_in", wait.String())
		sleep(ctx, wait)
		wait = min(2*wait, watchBackoffMax)
	}
	return nil
}

var errCompacted = errors.New("compacted")

// watchFrom watches the current keys after rev until the stream ends, and
// returns the last revision handled.
func (s *Store) watchFrom(ctx context.Context, rev int64, deliver func(*release.Current)) (int64, error) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wch := s.cli.Watch(wctx, s.prefix+"current/", clientv3.WithPrefix(), clientv3.WithRev(rev+1))
	for resp := range wch {
		if resp.CompactRevision != 0 {
			return rev, errCompacted
		}
		if err := resp.Err(); err != nil {
			return rev, err
		}
		if len(resp.Events) == 0 {
			continue
		}
		at := resp.Header.Revision
		cur, err := s.currentAt(ctx, at)
		if err != nil {
			return rev, err
		}
		deliver(cur)
		rev = at
	}
	return rev, ctx.Err()
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func errString(err error) string {
	if err == nil {
		return "stream closed"
	}
	return err.Error()
}
