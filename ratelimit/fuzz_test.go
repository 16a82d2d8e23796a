package ratelimit

import (
	"strings"
	"testing"
)

// referenceMatch is the matching rule written plainly on the Descriptor
// tree, as envoyproxy/ratelimit describes it: walk one level per entry,
// exact value first, then the wildcard; the limit of the node reached by
// the last entry applies.
func referenceMatch(ds []*Descriptor, entries []Entry) *Limit {
	if len(entries) == 0 {
		return nil
	}
	level := ds
	for i, e := range entries {
		var found *Descriptor
		for _, d := range level {
			if d.Key == e.Key && d.Value == e.Value {
				found = d
				break
			}
		}
		if found == nil {
			for _, d := range level {
				if d.Key == e.Key && d.Value == "" {
					found = d
					break
				}
			}
		}
		if found == nil {
			return nil
		}
		if i == len(entries)-1 {
			return found.Limit
		}
		level = found.Children
	}
	return nil
}

// FuzzMatch matches arbitrary descriptors (up to 4 entries, keys drawn
// from the configured ones or arbitrary) against the test config: no
// panic, the reference rule's answer, and a bounded, printable,
// deterministic counter key.
func FuzzMatch(f *testing.F) {
	f.Add(uint8(1), "generic_key", "api-1", "user", "alice", "", "", "", "")
	f.Add(uint8(2), "generic_key", "api-1", "user", "vip", "", "", "", "")
	f.Add(uint8(2), "generic_key", "api-1", "remote_address", "10.0.0.1", "", "", "", "")
	f.Add(uint8(3), "generic_key", "", "app", strings.Repeat("|", 100), "x", "y", "", "")
	f.Add(uint8(4), "", "", "", "", "", "", "", "")
	f.Add(uint8(1), "generic_key", "\xff\x00%|=#", "", "", "", "", "", "")
	cfg := testConfig()
	maxKey := escapedLen(cfg.Domain) + 4*(1+len("remote_address")+1+MaxValueLen)
	f.Fuzz(func(t *testing.T, n uint8, k1, v1, k2, v2, k3, v3, k4, v4 string) {
		all := []Entry{{k1, v1}, {k2, v2}, {k3, v3}, {k4, v4}}
		entries := all[:int(n)%5]
		limit, key := cfg.Match(entries)
		if want := referenceMatch(cfg.Descriptors, entries); limit != want {
			t.Fatalf("Match(%q) = %+v, reference %+v", entries, limit, want)
		}
		if limit == nil {
			if key != "" {
				t.Fatalf("key %q without a limit", key)
			}
			return
		}
		if len(key) > maxKey {
			t.Fatalf("key of %d bytes > %d: %q", len(key), maxKey, key)
		}
		for i := 0; i < len(key); i++ {
			if key[i] < 0x21 || key[i] > 0x7e {
				t.Fatalf("key %q has byte %#x", key, key[i])
			}
		}
		if _, again := cfg.Match(entries); again != key {
			t.Fatalf("key not deterministic: %q then %q", key, again)
		}
		// Changing the last value changes the key (it is part of it).
		changed := append([]Entry(nil), entries...)
		changed[len(changed)-1].Value += "x"
		if l, k := cfg.Match(changed); l != nil && k == key {
			t.Fatalf("%q and %q share key %q", entries, changed, key)
		}
	})
}
