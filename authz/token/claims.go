package token

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// The payload is decoded without a map[string]any: json.Valid checks it
// (no allocation), a small scanner lists the top-level members as byte spans,
// and only the claims Verify needs are decoded from their spans.

// member is one top-level member of the payload object.
type member struct {
	key []byte // unescaped
	val []byte // the raw JSON value
}

// maxMembers bounds the number of top-level claims looked at. A payload
// with more members is rejected; real tokens have a few dozen at most.
const maxMembers = 256

// payload is the scanned payload object. The first members live in buf,
// so a payload on the stack stays there for ordinary tokens.
type payload struct {
	buf   [16]member
	n     int
	extra []member // members beyond len(buf)
}

func (pl *payload) add(m member) {
	if pl.n < len(pl.buf) {
		pl.buf[pl.n] = m
	} else {
		pl.extra = append(pl.extra, m)
	}
	pl.n++
}

func (pl *payload) member(i int) *member {
	if i < len(pl.buf) {
		return &pl.buf[i]
	}
	return &pl.extra[i-len(pl.buf)]
}

// scan lists the members of the JSON object p. It returns "" or a reason.
func (pl *payload) scan(p []byte) string {
	pl.n, pl.extra = 0, pl.extra[:0]
	if !json.Valid(p) {
		return "payload is not valid JSON"
	}
	i := skipWS(p, 0)
	if i >= len(p) || p[i] != '{' {
		return "payload is not a JSON object"
	}
	i = skipWS(p, i+1)
	for i < len(p) && p[i] != '}' {
		if p[i] == ',' {
			i = skipWS(p, i+1)
		}
		if i >= len(p) || p[i] != '"' {
			return "payload is not a JSON object"
		}
		kEnd, esc := stringEnd(p, i)
		if kEnd > len(p) {
			return "payload is not a JSON object"
		}
		key := p[i+1 : kEnd-1]
		if esc || !utf8.Valid(key) {
			// Rare: an escaped member name ("\u0069ss" is "iss"), or
			// invalid UTF-8, which decoders replace with U+FFFD.
			var k string
			if json.Unmarshal(p[i:kEnd], &k) != nil {
				return "payload is not a JSON object"
			}
			key = []byte(k)
		}
		i = skipWS(p, kEnd)
		if i >= len(p) || p[i] != ':' {
			return "payload is not a JSON object"
		}
		i = skipWS(p, i+1)
		vEnd := valueEnd(p, i)
		if vEnd > len(p) || vEnd <= i {
			return "payload is not a JSON object"
		}
		if pl.n == maxMembers {
			return "payload has more than " + strconv.Itoa(maxMembers) + " claims"
		}
		pl.add(member{key, p[i:vEnd]})
		i = skipWS(p, vEnd)
	}
	return ""
}

// get returns the value of claim name, and whether it appears more than
// once (which Verify rejects for the claims it uses). A null value counts as
// absent, as it does for decoders into pointers.
func (pl *payload) get(name string) (val []byte, dup bool) {
	for i := 0; i < pl.n; i++ {
		m := pl.member(i)
		if string(m.key) == name && string(m.val) != "null" {
			if val != nil {
				return val, true
			}
			val = m.val
		}
	}
	return val, false
}

func skipWS(p []byte, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index just past the string starting at p[i] == '"'
// and whether it holds escapes. It returns len(p)+1 when unterminated.
func stringEnd(p []byte, i int) (int, bool) {
	esc := false
	for j := i + 1; j < len(p); j++ {
		switch p[j] {
		case '\\':
			esc = true
			j++
		case '"':
			return j + 1, esc
		}
	}
	return len(p) + 1, esc
}

// valueEnd returns the index just past the JSON value starting at p[i].
func valueEnd(p []byte, i int) int {
	if i >= len(p) {
		return len(p) + 1
	}
	switch p[i] {
	case '"':
		end, _ := stringEnd(p, i)
		return end
	case '{', '[':
		depth := 0
		for j := i; j < len(p); j++ {
			switch p[j] {
			case '"':
				end, _ := stringEnd(p, j)
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(p) + 1
	default:
		j := i
		for j < len(p) {
			switch p[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return j
			}
			j++
		}
		return j
	}
}

// jsonString decodes a JSON string value. ok is false when v is not a
// string.
func jsonString(v []byte) (s string, ok bool) {
	if b, simple, isStr := rawString(v); simple {
		return string(b), true
	} else if !isStr {
		return "", false
	}
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// rawString returns the contents of the JSON string v without copying when
// it needs no decoding (no escapes, valid UTF-8): simple is then true. isStr
// is false when v is not a string.
func rawString(v []byte) (b []byte, simple, isStr bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, false, false
	}
	inner := v[1 : len(v)-1]
	for _, c := range inner {
		if c == '\\' {
			return nil, false, true
		}
	}
	if !utf8.Valid(inner) {
		return nil, false, true
	}
	return inner, true, true
}

// claimText decodes a mapped identity claim: a string as is, a number as its
// JSON text; anything else (null, booleans, objects, arrays) as "".
func claimText(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	if s, ok := jsonString(v); ok {
		return s
	}
	if c := v[0]; c == '-' || (c >= '0' && c <= '9') {
		return string(v)
	}
	return ""
}

// maxNumericDate bounds NumericDate values (about the year 33658) so that
// the conversion to time.Time is well defined.
const maxNumericDate = 1e12

// numericDate decodes a JSON number of seconds since the epoch. ok is false
// when v is not a number.
func numericDate(v []byte) (time.Time, bool) {
	if len(v) == 0 || !(v[0] == '-' || (v[0] >= '0' && v[0] <= '9')) {
		return time.Time{}, false
	}
	// Fast path: a plain integer.
	if len(v) <= 15 {
		n, plain := int64(0), true
		for _, c := range v {
			if c < '0' || c > '9' {
				plain = false
				break
			}
			n = n*10 + int64(c-'0')
		}
		if plain {
			return time.Unix(n, 0), true
		}
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil && !isRangeErr(err) {
		return time.Time{}, false
	}
	f = math.Max(-maxNumericDate, math.Min(maxNumericDate, f))
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// audienceMatch reports whether the aud value v (a string or an array of
// strings) names one of want. ok is false when v is not of that shape.
func audienceMatch(v []byte, want []string) (match, ok bool) {
	if s, isStr := jsonString(v); isStr {
		return contains(want, s), true
	}
	if len(v) < 2 || v[0] != '[' {
		return false, false
	}
	i := skipWS(v, 1)
	for i < len(v) && v[i] != ']' {
		if v[i] == ',' {
			i = skipWS(v, i+1)
		}
		end := valueEnd(v, i)
		if end > len(v) || end <= i {
			return false, false
		}
		s, isStr := jsonString(v[i:end])
		if !isStr {
			return false, false
		}
		if contains(want, s) {
			match = true
		}
		i = skipWS(v, end)
	}
	return match, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
