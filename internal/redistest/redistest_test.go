package redistest

import (
	"context"
	"testing"
	"time"
)

func TestStartStopRestart(t *testing.T) {
	srv := Start(t)
	c := srv.Client()
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	if err := ping(srv.Addr, 100*time.Millisecond); err == nil {
		t.Fatal("server still answers after Stop")
	}
	srv.Stop() // no-op
	srv.Restart()
	if err := ping(srv.Addr, time.Second); err != nil {
		t.Fatalf("no PONG after Restart: %v", err)
	}
	// Same address, nothing persisted; the client reconnects by itself.
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := c.Exists(ctx, "k").Result()
		if err == nil {
			if n != 0 {
				t.Fatal("data survived a restart with persistence off")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("client did not reconnect: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPauseResume(t *testing.T) {
	srv := Start(t)
	c := srv.Client()
	srv.Pause()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("paused server answered")
	}
	srv.Resume()
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("resumed server: %v", err)
	}
}

func TestTwoServersAreIndependent(t *testing.T) {
	a, b := Start(t), Start(t)
	if a.Addr == b.Addr {
		t.Fatalf("both on %s", a.Addr)
	}
	ctx := context.Background()
	a.Client().Set(ctx, "k", "a", 0)
	if n := b.Client().Exists(ctx, "k").Val(); n != 0 {
		t.Fatal("servers share data")
	}
}
