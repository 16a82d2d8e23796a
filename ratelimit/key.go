package ratelimit

import (
	"crypto/sha256"
	"encoding/base64"
)

// MaxValueLen is the longest escaped entry value kept readable in a counter
// key; a longer value is replaced by '#' and 22 characters of its SHA-256
// (128 bits, base64url), so a huge header value cannot make a huge key.
const MaxValueLen = 64

// hashedValueLen is the length of a hashed value in a key.
const hashedValueLen = 1 + 22

// keySafe marks the bytes written as they are in a counter key: printable
// ASCII except the separators '|' and '=', the hash mark '#' and the escape
// '%'. Every other byte is written %XX, which keeps the encoding injective:
// two different entry lists never share a key (hashed values aside).
var keySafe = func() (t [256]bool) {
	for b := 0x21; b <= 0x7e; b++ {
		t[b] = true
	}
	for _, b := range "|=#%" {
		t[b] = false
	}
	return t
}()

const hexDigits = "0123456789ABCDEF"

// counterKey returns domain|key=value|key=value with every part escaped and
// long values hashed. It allocates only the returned string for keys up to
// 256 bytes.
func counterKey(domain string, entries []Entry) string {
	var buf [256]byte
	b := appendEscaped(buf[:0], domain)
	for i := range entries {
		b = append(b, '|')
		b = appendEscaped(b, entries[i].Key)
		b = append(b, '=')
		b = appendValue(b, entries[i].Value)
	}
	return string(b)
}

// escapedLen is the length of s once escaped.
func escapedLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		if !keySafe[s[i]] {
			n += 2
		}
	}
	return n
}

func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if keySafe[c] {
			b = append(b, c)
		} else {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&0xf])
		}
	}
	return b
}

func appendValue(b []byte, v string) []byte {
	if len(v) <= MaxValueLen && escapedLen(v) <= MaxValueLen {
		return appendEscaped(b, v)
	}
	sum := sha256.Sum256([]byte(v))
	b = append(b, '#')
	return base64.RawURLEncoding.AppendEncode(b, sum[:16])
}
