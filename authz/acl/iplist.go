package acl

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/apigwio/apigw/internal/echo"
)

// MaxEntryBytes is the longest accepted IP list entry (after trimming
// spaces). The longest meaningful entry, an IPv6 range written out in full,
// is well under it.
const MaxEntryBytes = 100

// maxEcho is the most of an offending entry repeated in an [EntryError].
const maxEcho = 64

// u128 is an IPv6 address as a big-endian 128-bit number.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

func (a u128) isMax() bool { return a.hi == ^uint64(0) && a.lo == ^uint64(0) }

func (a u128) next() u128 {
	lo := a.lo + 1
	hi := a.hi
	if lo == 0 {
		hi++
	}
	return u128{hi, lo}
}

func u128From(a netip.Addr) u128 {
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func u32From(a netip.Addr) uint32 {
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

// range4 and range6 are inclusive address ranges.
type range4 struct{ lo, hi uint32 }
type range6 struct{ lo, hi u128 }

// IPList is a compiled set of IPv4 and IPv6 addresses, CIDR prefixes and
// address ranges. It is immutable once compiled and safe for concurrent use.
//
// Internally every entry becomes an inclusive range; overlapping and adjacent
// ranges are merged, and the disjoint ranges are kept sorted per family, so
// [IPList.Contains] is a binary search: at most about log2(entries)+1
// comparisons and no allocation.
//
// The nil *IPList is empty.
type IPList struct {
	v4 []range4
	v6 []range6
}

// EntryError reports one bad entry given to [CompileIPs].
type EntryError struct {
	// Index is the entry's position in the input, from 0.
	Index int
	// Entry is the entry as given, clipped to 64 bytes with non-printable
	// bytes replaced.
	Entry string
	// Reason says what is wrong with it.
	Reason string
}

// Error returns `entry <index> "<entry>": <reason>`.
func (e *EntryError) Error() string {
	return "entry " + strconv.Itoa(e.Index) + " " + strconv.Quote(e.Entry) + ": " + e.Reason
}

// CompileIPs compiles entries into an IPList. An entry is one of
//
//	203.0.113.7                 a single IPv4 address
//	2001:db8::1                 a single IPv6 address
//	203.0.113.0/24              an IPv4 CIDR prefix (/0 to /32)
//	2001:db8::/32               an IPv6 CIDR prefix (/0 to /128)
//	203.0.113.10-203.0.113.20   an inclusive range, both ends of one family
//
// with surrounding spaces ignored. Host bits after the prefix length are
// ignored ("10.1.2.3/8" is 10.0.0.0/8). IPv4-mapped IPv6 forms
// (::ffff:203.0.113.7, ::ffff:203.0.113.0/120) are the IPv4 entries they map;
// an IPv6 prefix shorter than /96 never covers IPv4 addresses, so "::/0"
// means every IPv6 address and "0.0.0.0/0" every IPv4 address. Zones
// ("fe80::1%eth0"), leading zeros in IPv4 octets and entries longer than
// [MaxEntryBytes] are rejected.
//
// Every bad entry is reported, in input order, as an *[EntryError]; the
// returned list is never nil and holds the good entries, but a caller that
// gets errors should treat the configuration as invalid.
func CompileIPs(entries []string) (*IPList, []error) {
	var errs []error
	b := builder{}
	for i, raw := range entries {
		if reason := b.add(raw); reason != "" {
			errs = append(errs, &EntryError{Index: i, Entry: clip(raw), Reason: reason})
		}
	}
	return b.build(), errs
}

// Contains reports whether addr is in the list. IPv4-mapped IPv6 addresses
// (::ffff:a.b.c.d) are looked up as the IPv4 address; an IPv6 zone is
// ignored. The invalid (zero) Addr is in no list. Contains does not allocate.
func (l *IPList) Contains(addr netip.Addr) bool {
	if l == nil || !addr.IsValid() {
		return false
	}
	if addr.Is4() || addr.Is4In6() {
		return contains4(l.v4, u32From(addr.Unmap()))
	}
	return contains6(l.v6, u128From(addr))
}

func contains4(rs []range4, x uint32) bool {
	// n = number of ranges whose start is <= x.
	lo, hi := 0, len(rs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if rs[m].lo <= x {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo > 0 && x <= rs[lo-1].hi
}

func contains6(rs []range6, x u128) bool {
	lo, hi := 0, len(rs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if !x.less(rs[m].lo) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo > 0 && !rs[lo-1].hi.less(x)
}

// Len returns the number of disjoint address ranges the list was compiled
// into (a measure of its size, not of the entries given).
func (l *IPList) Len() int {
	if l == nil {
		return 0
	}
	return len(l.v4) + len(l.v6)
}

// Empty reports whether the list contains no address.
func (l *IPList) Empty() bool { return l.Len() == 0 }

// builder collects ranges before sorting and merging.
type builder struct {
	v4 []range4
	v6 []range6
}

// add parses one entry and returns "" or the reason it is bad.
func (b *builder) add(raw string) string {
	s := strings.TrimSpace(raw)
	switch {
	case s == "":
		return "empty entry"
	case len(s) > MaxEntryBytes:
		return "entry longer than " + strconv.Itoa(MaxEntryBytes) + " bytes"
	case strings.IndexByte(s, '%') >= 0:
		return "IPv6 zones are not allowed"
	}
	if from, to, ok := strings.Cut(s, "-"); ok {
		return b.addRange(strings.TrimSpace(from), strings.TrimSpace(to))
	}
	if strings.IndexByte(s, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return "not a valid CIDR prefix"
		}
		b.addPrefix(p)
		return ""
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "not an IP address, CIDR prefix or range"
	}
	a = a.Unmap()
	b.addAddrRange(a, a)
	return ""
}

func (b *builder) addRange(from, to string) string {
	lo, err1 := netip.ParseAddr(from)
	hi, err2 := netip.ParseAddr(to)
	if err1 != nil || err2 != nil {
		return "range ends must be IP addresses"
	}
	lo, hi = lo.Unmap(), hi.Unmap()
	if lo.Is4() != hi.Is4() {
		return "range ends must be of the same address family"
	}
	if hi.Less(lo) {
		return "range start is after its end"
	}
	b.addAddrRange(lo, hi)
	return ""
}

func (b *builder) addAddrRange(lo, hi netip.Addr) {
	if lo.Is4() {
		b.v4 = append(b.v4, range4{u32From(lo), u32From(hi)})
	} else {
		b.v6 = append(b.v6, range6{u128From(lo), u128From(hi)})
	}
}

// addPrefix adds a valid prefix, mapping ::ffff:0:0/96 and longer to IPv4.
func (b *builder) addPrefix(p netip.Prefix) {
	p = p.Masked()
	a, bits := p.Addr(), p.Bits()
	if a.Is4In6() && bits >= 96 {
		a, bits = a.Unmap(), bits-96
	}
	if a.Is4() {
		lo := u32From(a)
		var host uint32
		if bits < 32 {
			host = ^uint32(0) >> bits
		}
		b.v4 = append(b.v4, range4{lo, lo | host})
		return
	}
	lo := u128From(a)
	hi := lo
	switch {
	case bits == 0:
		hi = u128{^uint64(0), ^uint64(0)}
	case bits < 64:
		hi = u128{lo.hi | ^uint64(0)>>bits, ^uint64(0)}
	case bits < 128:
		hi = u128{lo.hi, lo.lo | ^uint64(0)>>(bits-64)}
	}
	b.v6 = append(b.v6, range6{lo, hi})
}

// build sorts and merges the collected ranges into an IPList.
func (b *builder) build() *IPList {
	return &IPList{v4: merge4(b.v4), v6: merge6(b.v6)}
}

func merge4(rs []range4) []range4 {
	if len(rs) == 0 {
		return nil
	}
	slices.SortFunc(rs, func(a, b range4) int {
		switch {
		case a.lo < b.lo:
			return -1
		case a.lo > b.lo:
			return 1
		}
		return 0
	})
	out := make([]range4, 0, len(rs))
	cur := rs[0]
	for _, r := range rs[1:] {
		// Overlapping or adjacent: extend.
		if cur.hi == ^uint32(0) || r.lo <= cur.hi+1 {
			cur.hi = max(cur.hi, r.hi)
			continue
		}
		out = append(out, cur)
		cur = r
	}
	return slices.Clip(append(out, cur))
}

func merge6(rs []range6) []range6 {
	if len(rs) == 0 {
		return nil
	}
	slices.SortFunc(rs, func(a, b range6) int {
		switch {
		case a.lo.less(b.lo):
			return -1
		case b.lo.less(a.lo):
			return 1
		}
		return 0
	})
	out := make([]range6, 0, len(rs))
	cur := rs[0]
	for _, r := range rs[1:] {
		if cur.hi.isMax() || !cur.hi.next().less(r.lo) {
			if cur.hi.less(r.hi) {
				cur.hi = r.hi
			}
			continue
		}
		out = append(out, cur)
		cur = r
	}
	return slices.Clip(append(out, cur))
}

// union merges lists into one new list.
func union(lists []*IPList) *IPList {
	var b builder
	for _, l := range lists {
		if l == nil {
			continue
		}
		b.v4 = append(b.v4, l.v4...)
		b.v6 = append(b.v6, l.v6...)
	}
	return b.build()
}

// clip makes s safe to echo: at most maxEcho bytes, non-printable bytes as
// '?'.
func clip(s string) string { return echo.Clip(s, maxEcho, "...") }
