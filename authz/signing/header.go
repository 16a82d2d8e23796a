package signing

import "strings"

// Header gives the values of a request header by lower-case name, in
// received order, or nil when the header is absent.
//
// Implementations that can fill a caller-provided slice should also
// implement [ValueAppender]; the verifier then looks headers up without
// allocating. [MapHeader] and [PairHeader] do.
type Header interface {
	Values(name string) []string
}

// ValueAppender is an optional interface for a [Header]: AppendValues appends
// the values of the header called name (lower case) to dst and returns the
// extended slice. It must not retain dst.
type ValueAppender interface {
	AppendValues(dst []string, name string) []string
}

// MapHeader is a Header over Envoy's CheckRequest headers map: keys are
// lower-case names, and a header sent several times arrives as a single
// comma-joined value (so it is one value here). Use [PairHeader] when repeated
// headers must be kept apart.
type MapHeader map[string]string

// Values returns the value of the header called name as a one-element slice,
// or nil. It allocates the slice; the verifier uses AppendValues instead.
func (h MapHeader) Values(name string) []string {
	if v, ok := h[name]; ok {
		return []string{v}
	}
	return nil
}

// AppendValues implements [ValueAppender] without allocating (beyond growing
// dst).
func (h MapHeader) AppendValues(dst []string, name string) []string {
	if v, ok := h[name]; ok {
		return append(dst, v)
	}
	return dst
}

// HeaderPair is one received header line.
type HeaderPair struct {
	Name, Value string
}

// PairHeader is a Header over a list of header lines, such as Envoy's
// header_map with repeated headers kept apart. Names are compared
// case-insensitively (ASCII).
type PairHeader []HeaderPair

// Values returns the values of every line called name, in order, or nil.
func (h PairHeader) Values(name string) []string {
	return h.AppendValues(nil, name)
}

// AppendValues implements [ValueAppender].
func (h PairHeader) AppendValues(dst []string, name string) []string {
	for i := range h {
		if len(h[i].Name) == len(name) && strings.EqualFold(h[i].Name, name) {
			dst = append(dst, h[i].Value)
		}
	}
	return dst
}

// appendHeaderValues looks name up in h, using the allocation-free path when
// h provides one.
func appendHeaderValues(dst []string, h Header, name string) []string {
	switch h := h.(type) {
	case nil:
		return dst
	case MapHeader:
		if v, ok := h[name]; ok {
			return append(dst, v)
		}
		return dst
	case PairHeader:
		return h.AppendValues(dst, name)
	case ValueAppender:
		return h.AppendValues(dst, name)
	default:
		return append(dst, h.Values(name)...)
	}
}

// FirstValue returns the first value of the lower-case header name in h,
// without allocating for MapHeader and PairHeader.
func FirstValue(h Header, name string) (string, bool) {
	switch h := h.(type) {
	case nil:
		return "", false
	case MapHeader:
		v, ok := h[name]
		return v, ok
	case PairHeader:
		for i := range h {
			if len(h[i].Name) == len(name) && strings.EqualFold(h[i].Name, name) {
				return h[i].Value, true
			}
		}
		return "", false
	default:
		var buf [2]string
		vs := appendHeaderValues(buf[:0], h, name)
		if len(vs) == 0 {
			return "", false
		}
		return vs[0], true
	}
}
