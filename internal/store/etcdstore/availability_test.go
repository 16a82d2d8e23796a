package etcdstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/apigwio/apigw/internal/etcdtest"
	"github.com/apigwio/apigw/internal/release"
)

// TestWatchAvailability: etcd stopped, the store says it is unavailable;
// restarted, that it is available again.
func TestWatchAvailability(t *testing.T) {
	c := etcdtest.StartSingle(t)
	s := open(t, storeURL(c, "avail"), Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Current(ctx); err != nil {
		t.Fatal(err)
	}
	states := make(chan error, 16)
	wctx, wcancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.WatchAvailability(wctx, func(err error) { states <- err })
	}()
	next := func() error {
		t.Helper()
		select {
		case err := <-states:
			return err
		case <-time.After(15 * time.Second):
			t.Fatal("no availability change within 15s")
			return nil
		}
	}
	c.StopAll()
	if err := next(); !errors.Is(err, release.ErrUnavailable) {
		t.Fatalf("etcd stopped: %v", err)
	}
	c.RestartAll()
	if err := next(); err != nil {
		t.Fatalf("etcd restarted: %v", err)
	}
	wcancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("WatchAvailability did not return when its context ended")
	}
}
