package ratelimit

import (
	"fmt"
	"reflect"
	"testing"
)

// partOf is a part of n API descriptors named prefix-0..n-1, each with a
// per-user child, plus extra descriptors.
func partOf(prefix string, n int, extra ...*Descriptor) *Part {
	ds := make([]*Descriptor, 0, n+len(extra))
	for i := range n {
		ds = append(ds, &Descriptor{Key: "api", Value: fmt.Sprintf("%s-%d", prefix, i), Limit: &Limit{Name: "api " + prefix, Requests: uint32(i + 1), Unit: Second},
			Children: []*Descriptor{{Key: "user", Limit: &Limit{Requests: 7, Unit: Minute}}}})
	}
	return NewPart(append(ds, extra...))
}

// TestComposePrepare: Prepare of a composed configuration, after another
// composed one sharing some parts, accepts exactly what Validate accepts
// and serves an index equal to the one compiled from all the descriptors.
func TestComposePrepare(t *testing.T) {
	a, b, c := partOf("a", 50), partOf("b", 30), partOf("c", 5)
	bad := partOf("bad", 2, &Descriptor{Key: "api", Value: "x*"})
	dupInside := partOf("d", 2, &Descriptor{Key: "api", Value: "d-0"})
	dupOfA := NewPart([]*Descriptor{{Key: "api", Value: "a-3", Limit: &Limit{Requests: 1, Unit: Second}}})
	empty := NewPart(nil)
	for _, tt := range []struct {
		name       string
		prev, next []*Part
		mode       FailureMode
		ok         bool
	}{
		{"first", nil, []*Part{a, b}, FailOpen, true},
		{"same parts", []*Part{a, b}, []*Part{a, b}, FailOpen, true},
		{"one part replaced", []*Part{a, b}, []*Part{a, c}, FailOpen, true},
		{"a part added", []*Part{a}, []*Part{c, a, b}, FailClosed, true},
		{"a part removed", []*Part{a, b, c}, []*Part{a, c}, FailOpen, true},
		{"everything replaced", []*Part{a}, []*Part{b, c}, FailOpen, true},
		{"an empty part", []*Part{a, empty}, []*Part{empty, b, empty}, FailOpen, true},
		{"an invalid descriptor", []*Part{a}, []*Part{a, bad}, FailOpen, false},
		{"a duplicate inside a part", []*Part{a}, []*Part{a, dupInside}, FailOpen, false},
		{"a duplicate of a kept part", []*Part{a, b}, []*Part{a, b, dupOfA}, FailOpen, false},
		{"a duplicate between new parts", []*Part{b}, []*Part{b, c, partOf("c", 1)}, FailOpen, false},
		{"a part twice", []*Part{a}, []*Part{a, a}, FailOpen, false},
		{"a new part twice", []*Part{a}, []*Part{a, c, c}, FailOpen, false},
		{"an invalid failure mode", []*Part{a}, []*Part{a}, FailureMode(7), false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{})
			if tt.prev != nil {
				if err := s.Update(Compose("d", FailOpen, tt.prev...)); err != nil {
					t.Fatal(err)
				}
			}
			cfg := Compose("d", tt.mode, tt.next...)
			var all []*Descriptor
			for _, p := range tt.next {
				all = append(all, p.Descriptors()...)
			}
			plain := &Config{Domain: "d", FailureMode: tt.mode, Descriptors: all}
			if !reflect.DeepEqual(cfg.Descriptors, plain.Descriptors) {
				t.Fatal("Compose: descriptors differ")
			}
			if valid := len(plain.Validate()) == 0; valid != tt.ok {
				t.Fatalf("test case: Validate ok = %v", valid)
			}
			commit, err := s.Prepare(cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("Prepare: %v, want ok %v", err, tt.ok)
			}
			if err != nil {
				if want := fmt.Sprintf("rate-limit config for domain %q rejected: %v", "d", joined(plain.Validate())); err.Error() != want {
					t.Errorf("Prepare: %v\nwant %s", err, want)
				}
				return
			}
			commit()
			if got, want := s.state.Load().idx.root, compileLevel(plain.Descriptors); !equalLevels(got, want) {
				t.Error("the index differs from the one compiled from all descriptors")
			}
			if cfg.index() != s.state.Load().idx {
				t.Error("the Config's own index is not the one served")
			}
			// Every part's nodes are compiled once, whatever uses them.
			for _, p := range tt.next {
				for _, k := range p.keys {
					if s.state.Load().idx.root[k] != p.level[k] {
						t.Errorf("%v: not the part's compiled node", k)
					}
				}
			}
		})
	}
}

func joined(errs []error) string {
	s := ""
	for i, e := range errs {
		if i > 0 {
			s += "\n"
		}
		s += e.Error()
	}
	return s
}

// equalLevels compares two compiled levels by value.
func equalLevels(a, b map[entryKey]*node) bool {
	if len(a) != len(b) || (a == nil) != (b == nil) {
		return false
	}
	for k, x := range a {
		y := b[k]
		if y == nil || !reflect.DeepEqual(x.limit, y.limit) || !equalLevels(x.children, y.children) {
			return false
		}
		if (x.status == nil) != (y.status == nil) || x.status != nil && (x.status.GetName() != y.status.GetName() || x.status.GetRequestsPerUnit() != y.status.GetRequestsPerUnit() || x.status.GetUnit() != y.status.GetUnit()) {
			return false
		}
	}
	return true
}
