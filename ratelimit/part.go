package ratelimit

import (
	"maps"
	"sync"
	"unicode/utf8"
)

// Part is a run of top-level descriptors that the configurations of
// successive reloads share unchanged (the descriptors of one API group, say).
// A Config made by Compose remembers its parts: Prepare validates and
// compiles each part once, however many configurations it is part of, and
// builds the lookup index from the one in use, changing only the entries of
// the parts that differ. A Part and its descriptors must not be modified
// once made.
type Part struct {
	descriptors []*Descriptor

	once  sync.Once
	valid bool               // the descriptors alone validate
	level map[entryKey]*node // compileLevel(descriptors)
	keys  []entryKey         // the top-level entries, in order
}

// NewPart returns a part of the descriptors ds (kept, not copied).
func NewPart(ds []*Descriptor) *Part { return &Part{descriptors: ds} }

// Descriptors returns the part's descriptors (read-only).
func (p *Part) Descriptors() []*Descriptor { return p.descriptors }

// compiled validates and compiles p on first use.
func (p *Part) compiled() *Part {
	p.once.Do(func() {
		p.valid = len(validateLevel(nil, p.descriptors, "descriptors", 1)) == 0
		p.level = compileLevel(p.descriptors)
		p.keys = make([]entryKey, 0, len(p.level))
		for _, d := range p.descriptors {
			if d != nil {
				p.keys = append(p.keys, entryKey{d.Key, d.Value})
			}
		}
	})
	return p
}

// Compose returns the Config of domain whose top-level descriptors are
// those of parts, in order (Descriptors holds them all, as any Config). It
// validates and indexes as that Config would; Service.Prepare reuses what
// it compiled for the parts it already has.
func Compose(domain string, mode FailureMode, parts ...*Part) *Config {
	n := 0
	for _, p := range parts {
		n += len(p.descriptors)
	}
	c := &Config{Domain: domain, FailureMode: mode, Descriptors: make([]*Descriptor, 0, n)}
	for _, p := range parts {
		c.Descriptors = append(c.Descriptors, p.descriptors...)
	}
	c.parts = parts
	return c
}

// composedIndex returns the index of c, a Config made by Compose, and
// whether c validates, using the parts' own validation and compilation.
// prev is the configuration in use (nil: none): when it was composed too,
// its index is copied and only the entries of the parts c does not share
// with it are removed and added. The index is the one c.index() would
// build. ok is false when c does not validate (a part alone, the domain or
// failure mode, or a top-level entry repeated across parts): Validate
// then says why.
func composedIndex(c *Config, prev *state) (idx *index, ok bool) {
	if c.Domain == "" || !utf8.ValidString(c.Domain) || c.FailureMode != FailOpen && c.FailureMode != FailClosed {
		return nil, false
	}
	for _, p := range c.parts {
		if !p.compiled().valid {
			return nil, false
		}
	}
	var root map[entryKey]*node
	added := c.parts
	if prev != nil && prev.cfg.parts != nil {
		kept := make(map[*Part]bool, len(c.parts))
		for _, p := range c.parts {
			if kept[p] && len(p.keys) > 0 {
				return nil, false // its entries twice
			}
			kept[p] = true
		}
		root = maps.Clone(prev.idx.root)
		if root == nil {
			root = map[entryKey]*node{}
		}
		for _, p := range prev.cfg.parts {
			if kept[p] {
				delete(kept, p) // in both: its entries stay
				continue
			}
			for _, k := range p.keys {
				delete(root, k)
			}
		}
		added = added[:0:0]
		for _, p := range c.parts {
			if kept[p] {
				added = append(added, p)
			}
		}
	} else {
		root = make(map[entryKey]*node, len(c.Descriptors))
	}
	for _, p := range added {
		for _, k := range p.keys {
			if _, dup := root[k]; dup {
				return nil, false
			}
			root[k] = p.level[k]
		}
	}
	if len(root) == 0 {
		root = nil // as compileLevel of no descriptors
	}
	return &index{root: root}, true
}
