package lockout

import (
	"context"
	"testing"
	"time"

	"github.com/apigwio/apigw/internal/redistest"
)

// TestRedisSharedBetweenReplicas: a key locked through replica A is locked
// on replica B, and a success on B resets the count A sees.
func TestRedisSharedBetweenReplicas(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	p := Policy{MaxFailures: 3, Duration: 2 * time.Second}
	a := NewRedis(srv.Client(), "test:", p)
	b := NewRedis(srv.Client(), "test:", p)

	for i := 0; i < 3; i++ {
		if locked, err := a.Failure(ctx, "ak"); err != nil || locked {
			t.Fatalf("failure %d: %v %v", i, locked, err)
		}
	}
	// B sees the failures (Locked marks the key) and its success resets them.
	if locked, _ := b.Locked(ctx, "ak"); locked {
		t.Fatal("locked too early")
	}
	if err := b.Success(ctx, "ak"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if locked, _ := a.Failure(ctx, "ak"); locked {
			t.Fatalf("count not reset by the other replica's success (failure %d locked)", i)
		}
	}
	if locked, _ := b.Failure(ctx, "ak"); !locked {
		t.Fatal("4th consecutive failure across replicas did not lock")
	}
	for _, s := range []*Redis{a, b} {
		if locked, err := s.Locked(ctx, "ak"); err != nil || !locked {
			t.Fatalf("lock not visible to a replica: %v %v", locked, err)
		}
	}
	// A success during the lock does not unlock.
	_ = a.Success(ctx, "ak")
	if locked, _ := b.Locked(ctx, "ak"); !locked {
		t.Fatal("success unlocked")
	}
	time.Sleep(2100 * time.Millisecond)
	if locked, _ := a.Locked(ctx, "ak"); locked {
		t.Fatal("lock did not expire")
	}
}

func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s := NewRedis(srv.Client(), "test:", Policy{MaxFailures: 1, Duration: time.Minute})
	srv.Stop()
	if _, err := s.Locked(ctx, "k"); err == nil {
		t.Fatal("no error with Redis down")
	}
	if _, err := s.Failure(ctx, "k"); err == nil {
		t.Fatal("no error with Redis down")
	}
	srv.Restart()
	if locked, err := s.Locked(ctx, "k"); err != nil || locked {
		t.Fatalf("did not recover after restart: %v %v", locked, err)
	}
}

// TestRedisCluster runs two stores (two replicas) on a three-master Redis
// Cluster: the counter and lock keys of one key share a hash tag, so the
// MGET and the script work (no CROSSSLOT), N failures through either lock
// the key for both, and keys with braces stay in one slot.
func TestRedisCluster(t *testing.T) {
	c := redistest.StartCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := Policy{MaxFailures: 2, Duration: time.Minute}
	a := NewRedis(c.Client(), "apigw:lockout:", p)
	b := NewRedis(c.Client(), "apigw:lockout:", p)
	nodes := map[int]bool{}
	for i, key := range []string{"iam:AK1", "iam:AK2", "iam:AK3", "hmac:x", "app:y", "}", "{", "{}", "a{b}c", "%7B", ""} {
		counter, lock := a.keys(key)
		if c.NodeOf(counter) != c.NodeOf(lock) {
			t.Fatalf("%q: %s and %s on different masters", key, counter, lock)
		}
		nodes[c.NodeOf(counter)] = true
		// Failures alternate between the replicas: the third locks.
		for f := 0; f < 2; f++ {
			s := []*Redis{a, b}[(i+f)%2]
			if locked, err := s.Failure(ctx, key); err != nil || locked {
				t.Fatalf("%q failure %d: %v %v", key, f, locked, err)
			}
			if locked, err := s.Locked(ctx, key); err != nil || locked {
				t.Fatalf("%q locked after %d failures: %v %v", key, f+1, locked, err)
			}
		}
		if locked, err := []*Redis{a, b}[i%2].Failure(ctx, key); err != nil || !locked {
			t.Fatalf("%q third failure: %v %v", key, locked, err)
		}
		for _, s := range []*Redis{a, b} {
			if locked, err := s.Locked(ctx, key); err != nil || !locked {
				t.Fatalf("%q: lock not seen by a replica: %v %v", key, locked, err)
			}
		}
	}
	if len(nodes) < 2 {
		t.Fatalf("keys all on one master (%v): the test proves nothing about slots", nodes)
	}
	// Distinct keys keep distinct entries ("{" and "%7B" are not confused).
	if locked, err := a.Locked(ctx, "other"); err != nil || locked {
		t.Fatalf("an untouched key: %v %v", locked, err)
	}
}
