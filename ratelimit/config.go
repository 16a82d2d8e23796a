package ratelimit

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
)

// Unit is the length of a rate-limit window. The values are those of
// Envoy's RateLimitResponse.RateLimit.Unit for the units they share; the zero
// Unit is invalid.
type Unit uint8

// The units of a Limit.
const (
	Second Unit = iota + 1
	Minute
	Hour
	Day
)

var unitNames = [...]string{Second: "second", Minute: "minute", Hour: "hour", Day: "day"}

var unitSeconds = [...]int64{Second: 1, Minute: 60, Hour: 3600, Day: 86400}

// ParseUnit parses "second", "minute", "hour" or "day" (any case, as
// envoyproxy/ratelimit accepts them).
func ParseUnit(s string) (Unit, error) {
	for u := Second; u <= Day; u++ {
		if strings.EqualFold(s, unitNames[u]) {
			return u, nil
		}
	}
	return 0, fmt.Errorf("unknown rate-limit unit %q: use second, minute, hour or day", s)
}

// Valid reports whether u is one of Second, Minute, Hour, Day.
func (u Unit) Valid() bool { return u >= Second && u <= Day }

// String returns the unit's name as ParseUnit reads it, or "unit(N)" for an
// invalid unit.
func (u Unit) String() string {
	if !u.Valid() {
		return fmt.Sprintf("unit(%d)", uint8(u))
	}
	return unitNames[u]
}

// Window returns the length of one window of u, or 0 for an invalid unit.
func (u Unit) Window() time.Duration { return time.Duration(u.seconds()) * time.Second }

func (u Unit) seconds() int64 {
	if !u.Valid() {
		return 0
	}
	return unitSeconds[u]
}

// Limit allows Requests hits per Unit for each counter it applies to.
type Limit struct {
	// Name is reported to Envoy in the descriptor status (current_limit) and
	// written as rate_limit.name in the envoyproxy/ratelimit YAML. Optional.
	Name string
	// Requests allowed per window; must be greater than zero.
	Requests uint32
	// Unit is the window length.
	Unit Unit
}

// Descriptor is one node of a domain's descriptor tree, as in
// envoyproxy/ratelimit. The nesting mirrors the order of the entries Envoy
// sends, that is the order of the route's rate-limit actions: a request
// descriptor [{generic_key, api-1}, {user, alice}] is matched by a top-level
// Descriptor {Key: generic_key, Value: api-1} whose child is {Key: user}.
//
// A Descriptor with an empty Value matches any value of its key, and each
// distinct value gets its own counter; a sibling with the exact value takes
// precedence. A Limit applies only to request descriptors with exactly as
// many entries as the node's depth. A node without a Limit matches but does
// not limit, which exempts an exact value from its wildcard sibling's limit.
type Descriptor struct {
	// Key is the entry key (generic_key, remote_address, header_match, a
	// request_headers descriptor_key, ...). Required.
	Key string
	// Value is the exact value matched; empty matches any value.
	Value string
	// Limit applies to request descriptors that end at this node. Optional.
	Limit *Limit
	// Children match the next entry of the request descriptor.
	Children []*Descriptor
}

// Config is the rate-limit configuration of one domain. A Config must not
// be modified once it has been matched against or handed to a Service: the
// lookup index is built on first use.
type Config struct {
	// Domain is the domain Envoy's rate-limit filter sends. Required.
	Domain string
	// Descriptors are the top-level descriptor nodes.
	Descriptors []*Descriptor
	// FailureMode is what the Service answers for the descriptors it could
	// not count because its Backend failed. Default FailOpen. It belongs to
	// the configuration so that Update changes it with the limits. (It has
	// no counterpart in the envoyproxy/ratelimit YAML.)
	FailureMode FailureMode

	once sync.Once
	idx  *index
	// parts are the parts Descriptors was composed of (Compose); nil
	// otherwise.
	parts []*Part
}

// Entry is one key/value entry of a request descriptor.
type Entry struct {
	Key, Value string
}

// maxDepth bounds the descriptor tree; Envoy route actions rarely go past 4.
const maxDepth = 16

// Validate reports every problem in c, each naming the descriptor by its
// path (descriptors[0].children[1]) and saying how to fix it. A nil or empty
// result means c is valid.
func (c *Config) Validate() []error {
	if c == nil {
		return []error{errors.New("rate-limit config is nil")}
	}
	var errs []error
	if c.Domain == "" {
		errs = append(errs, errors.New("domain: must not be empty"))
	} else if !utf8.ValidString(c.Domain) {
		errs = append(errs, errors.New("domain: must be valid UTF-8"))
	}
	if c.FailureMode != FailOpen && c.FailureMode != FailClosed {
		errs = append(errs, fmt.Errorf("failure_mode: %d is not FailOpen or FailClosed", c.FailureMode))
	}
	return validateLevel(errs, c.Descriptors, "descriptors", 1)
}

func validateLevel(errs []error, ds []*Descriptor, path string, depth int) []error {
	type kv struct{ k, v string }
	seen := make(map[kv]int, len(ds))
	for i, d := range ds {
		// The path is only written for an error or for children (a
		// large configuration has one descriptor per deployment).
		p := lazyPath{path, i}
		if d == nil {
			errs = append(errs, fmt.Errorf("%s: descriptor is nil", p))
			continue
		}
		if depth > maxDepth {
			errs = append(errs, fmt.Errorf("%s: descriptors nest deeper than %d levels", p, maxDepth))
			continue
		}
		if d.Key == "" {
			errs = append(errs, fmt.Errorf("%s: key must not be empty", p))
		} else if !utf8.ValidString(d.Key) {
			errs = append(errs, fmt.Errorf("%s: key must be valid UTF-8", p))
		}
		if !utf8.ValidString(d.Value) {
			errs = append(errs, fmt.Errorf("%s (key %q): value must be valid UTF-8", p, d.Key))
		} else if strings.HasSuffix(d.Value, "*") {
			errs = append(errs, fmt.Errorf("%s (key %q): value %q ends with '*', which envoyproxy/ratelimit reads as a prefix wildcard; match the exact value or leave the value empty to match any", p, d.Key, d.Value))
		}
		if j, dup := seen[kv{d.Key, d.Value}]; dup {
			what := fmt.Sprintf("value %q", d.Value)
			if d.Value == "" {
				what = "any value"
			}
			errs = append(errs, fmt.Errorf("%s: duplicates %s[%d] (key %q, %s); merge the two", p, path, j, d.Key, what))
		} else {
			seen[kv{d.Key, d.Value}] = i
		}
		if l := d.Limit; l != nil {
			if l.Requests == 0 {
				errs = append(errs, fmt.Errorf("%s (key %q): limit requests must be greater than 0", p, d.Key))
			}
			if !l.Unit.Valid() {
				errs = append(errs, fmt.Errorf("%s (key %q): limit unit %s is unknown: use second, minute, hour or day", p, d.Key, l.Unit))
			}
			if !utf8.ValidString(l.Name) {
				errs = append(errs, fmt.Errorf("%s (key %q): limit name must be valid UTF-8", p, d.Key))
			}
		}
		if len(d.Children) > 0 {
			errs = validateLevel(errs, d.Children, p.String()+".children", depth+1)
		}
	}
	return errs
}

// lazyPath is the path of a descriptor, "<parent>[<i>]", formatted when
// printed.
type lazyPath struct {
	parent string
	i      int
}

// String formats the path.
func (p lazyPath) String() string { return fmt.Sprintf("%s[%d]", p.parent, p.i) }

// Match finds the Limit for a request descriptor and the key of its counter.
// It returns a nil Limit when no configured descriptor matches the entries
// (or the matching node has no Limit): the request is not limited by this
// descriptor.
//
// The counter key names the domain and every entry with its actual value,
// so each distinct value of a wildcard entry has its own counter. It is
// printable ASCII and bounded: its length is at most the escaped lengths of
// the domain and the configured keys plus 66 bytes per entry, because values
// that escape to more than 64 bytes are replaced by a hash.
func (c *Config) Match(entries []Entry) (*Limit, string) {
	if c == nil {
		return nil, ""
	}
	n := c.index().lookup(entries)
	if n == nil {
		return nil, ""
	}
	return n.limit, counterKey(c.Domain, entries)
}

// index is the compiled lookup form of a Config.
type index struct {
	root map[entryKey]*node
}

// entryKey is a node's key and value; value "" is the wildcard.
type entryKey struct{ key, value string }

// node is a compiled Descriptor.
type node struct {
	limit    *Limit
	status   *rlsv3.RateLimitResponse_RateLimit // current_limit, shared and read-only
	children map[entryKey]*node
}

func (c *Config) index() *index {
	c.once.Do(func() { c.idx = &index{root: compileLevel(c.Descriptors)} })
	return c.idx
}

// compileLevel builds one level; on duplicates (an invalid config) the first
// sibling wins.
func compileLevel(ds []*Descriptor) map[entryKey]*node {
	if len(ds) == 0 {
		return nil
	}
	m := make(map[entryKey]*node, len(ds))
	// The level's nodes and their statuses in one block each, not one
	// allocation each among the children's: they live as long as the
	// index, and apart they left the spans they shared with a reload's
	// garbage mostly empty (docs/performance.md). The capacities are
	// exact: a pointer into a block stays valid.
	limits := 0
	for _, d := range ds {
		if d != nil && d.Limit != nil {
			limits++
		}
	}
	nodes := make([]node, 0, len(ds))
	statuses := make([]rlsv3.RateLimitResponse_RateLimit, limits)
	for _, d := range ds {
		if d == nil {
			continue
		}
		k := entryKey{d.Key, d.Value}
		if _, dup := m[k]; dup {
			continue
		}
		nodes = append(nodes, node{limit: d.Limit, children: compileLevel(d.Children)})
		n := &nodes[len(nodes)-1]
		if l := d.Limit; l != nil {
			st := &statuses[0]
			statuses = statuses[1:]
			st.Name, st.RequestsPerUnit, st.Unit = l.Name, l.Requests, envoyUnit(l.Unit)
			n.status = st
		}
		m[k] = n
	}
	return m
}

// envoyUnit maps u to Envoy's enum (same numbers for the shared units).
func envoyUnit(u Unit) rlsv3.RateLimitResponse_RateLimit_Unit {
	if !u.Valid() {
		return rlsv3.RateLimitResponse_RateLimit_UNKNOWN
	}
	return rlsv3.RateLimitResponse_RateLimit_Unit(u)
}

// lookup walks the tree along entries: at each level the exact value first,
// then the wildcard. It returns the node reached by the last entry when that
// node has a limit, else nil.
func (x *index) lookup(entries []Entry) *node {
	if len(entries) == 0 {
		return nil
	}
	level := x.root
	for i := range entries {
		e := &entries[i]
		n := level[entryKey{e.Key, e.Value}]
		if n == nil && e.Value != "" {
			n = level[entryKey{e.Key, ""}]
		}
		if n == nil {
			return nil
		}
		if i == len(entries)-1 {
			if n.limit == nil {
				return nil
			}
			return n
		}
		level = n.children
	}
	return nil
}
