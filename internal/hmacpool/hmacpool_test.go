package hmacpool

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"hash"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestSumMatchesHMAC(t *testing.T) {
	for _, h := range []func() hash.Hash{sha256.New, sha512.New} {
		p := New(h)
		var buf [64]byte
		// The same pool with changing keys and messages, twice over so that
		// both the re-keying and the reuse path run.
		for range 2 {
			for _, n := range []int{0, 1, 32, 63, 64, 65, 128, 129, 200} {
				key := []byte(strings.Repeat("k", n))
				msg := []byte("message " + strconv.Itoa(n))
				m := hmac.New(h, key)
				m.Write(msg)
				want := m.Sum(nil)
				for range 2 {
					if got := p.Sum(buf[:], key, msg); !hmac.Equal(got, want) {
						t.Fatalf("key len %d: got %x want %x", n, got, want)
					}
				}
			}
		}
	}
}

func TestSumConcurrent(t *testing.T) {
	p := New(sha256.New)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			var buf [32]byte
			for i := range 200 {
				key := []byte("secret" + strconv.Itoa((g+i)%3))
				msg := []byte(strconv.Itoa(i))
				m := hmac.New(sha256.New, key)
				m.Write(msg)
				if got := p.Sum(buf[:], key, msg); !hmac.Equal(got, m.Sum(nil)) {
					t.Error("mismatch")
					return
				}
			}
		})
	}
	wg.Wait()
}

var msg = []byte(strings.Repeat("m", 100))

// BenchmarkSumSameKey is the pooled case: every call uses the same secret.
func BenchmarkSumSameKey(b *testing.B) {
	p := New(sha256.New)
	key := []byte("secret")
	var buf [32]byte
	b.ReportAllocs()
	for b.Loop() {
		p.Sum(buf[:], key, msg)
	}
}

// BenchmarkSumKeyPerCall is the worst case: the secret changes every call.
func BenchmarkSumKeyPerCall(b *testing.B) {
	p := New(sha256.New)
	keys := [][]byte{[]byte("secret-a"), []byte("secret-b")}
	var buf [32]byte
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.Sum(buf[:], keys[i&1], msg)
		i++
	}
}

// BenchmarkNewPerCall is hmac.New for every call, for comparison.
func BenchmarkNewPerCall(b *testing.B) {
	key := []byte("secret")
	var buf [32]byte
	b.ReportAllocs()
	for b.Loop() {
		m := hmac.New(sha256.New, key)
		m.Write(msg)
		m.Sum(buf[:0])
	}
}
