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
