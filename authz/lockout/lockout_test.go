package lockout

import (
	"context"
	"fmt"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLockAfterMoreThanMaxFailures(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	m := NewMemory(Policy{MaxFailures: 5, Duration: 5 * time.Minute, MaxKeys: 100}, c.now)
	for i := 1; i <= 5; i++ {
		locked, _ := m.Failure(ctx, "ak")
		if locked {
			t.Fatalf("failure %d locked the key; only more than 5 may", i)
		}
	}
	if locked, _ := m.Failure(ctx, "ak"); !locked {
		t.Fatal("6th consecutive failure did not lock the key")
	}
	if locked, _ := m.Locked(ctx, "ak"); !locked {
		t.Fatal("key not reported locked")
	}
	// A success during the lock does not unlock it.
	_ = m.Success(ctx, "ak")
	if locked, _ := m.Locked(ctx, "ak"); !locked {
		t.Fatal("success unlocked a locked key")
	}
	c.t = c.t.Add(5*time.Minute - time.Second)
	if locked, _ := m.Locked(ctx, "ak"); !locked {
		t.Fatal("lock expired early")
	}
	c.t = c.t.Add(time.Second)
	if locked, _ := m.Locked(ctx, "ak"); locked {
		t.Fatal("lock did not expire after 5 minutes")
	}
	// After expiry the count starts again from zero.
	if locked, _ := m.Failure(ctx, "ak"); locked {
		t.Fatal("first failure after expiry locked the key")
	}
}

func TestSuccessResetsCount(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(Policy{MaxFailures: 2, Duration: time.Minute, MaxKeys: 100}, nil)
	for round := 0; round < 3; round++ {
		for i := 0; i < 2; i++ {
			if locked, _ := m.Failure(ctx, "k"); locked {
				t.Fatalf("round %d failure %d locked", round, i)
			}
		}
		if err := m.Success(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if m.Len() != 0 {
		t.Errorf("success should forget the key, %d tracked", m.Len())
	}
}

func TestKeysAreIndependentAndBounded(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(Policy{MaxFailures: 1, Duration: time.Minute, MaxKeys: 100}, nil)
	m.Failure(ctx, "a")
	m.Failure(ctx, "a")
	if locked, _ := m.Locked(ctx, "b"); locked {
		t.Fatal("locking a locked b")
	}
	for i := 0; i < 1000; i++ {
		m.Failure(ctx, fmt.Sprint("k", i))
	}
	if m.Len() > 100 {
		t.Fatalf("store grew to %d keys, bound is 100", m.Len())
	}
}

func BenchmarkLockedAndSuccess(b *testing.B) {
	ctx := context.Background()
	m := NewMemory(Policy{MaxFailures: 5, Duration: time.Minute, MaxKeys: 1000}, nil)
	b.ReportAllocs()
	for b.Loop() {
		m.Locked(ctx, "ak")
		m.Success(ctx, "ak")
	}
}

// TestFailuresExpire: failures older than Duration no longer count.
func TestFailuresExpire(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	m := NewMemory(Policy{MaxFailures: 2, Duration: time.Minute, MaxKeys: 100}, c.now)
	m.Failure(ctx, "k")
	m.Failure(ctx, "k")
	c.t = c.t.Add(time.Minute)
	for i, wantLocked := range []bool{false, false, true} {
		if locked, _ := m.Failure(ctx, "k"); locked != wantLocked {
			t.Fatalf("failure %d after the old ones expired: locked %v, want %v", i+1, locked, wantLocked)
		}
	}
}

// TestSetPolicy: a reload's policy applies to the existing store: a longer
// Duration is honoured even past the Duration the store was created with,
// and MaxKeys resizes it.
func TestSetPolicy(t *testing.T) {
	ctx := context.Background()
	m := NewMemory(Policy{MaxFailures: 1, Duration: 50 * time.Millisecond, MaxKeys: 100}, nil)
	m.SetPolicy(Policy{MaxFailures: 1, Duration: time.Hour, MaxKeys: 100})
	m.Failure(ctx, "k")
	if locked, _ := m.Failure(ctx, "k"); !locked {
		t.Fatal("second failure did not lock")
	}
	time.Sleep(150 * time.Millisecond) // three times the creation Duration
	if locked, _ := m.Locked(ctx, "k"); !locked {
		t.Fatal("a one-hour lock was forgotten after the store's original 50ms")
	}
	for i := 0; i < 100; i++ {
		m.Failure(ctx, fmt.Sprint("k", i))
	}
	m.SetPolicy(Policy{MaxFailures: 1, Duration: time.Hour, MaxKeys: 10})
	if m.Len() > 10 {
		t.Fatalf("%d keys tracked after shrinking to 10", m.Len())
	}
	m.SetPolicy(Policy{MaxFailures: 1, Duration: time.Hour, MaxKeys: 1000})
	for i := 0; i < 500; i++ {
		m.Failure(ctx, fmt.Sprint("n", i))
	}
	if m.Len() < 500 {
		t.Fatalf("%d keys tracked after growing to 1000, want at least 500", m.Len())
	}
}
