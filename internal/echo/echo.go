// Package echo makes client-supplied text safe to repeat in an error
// message, and parses fixed-width decimal fields without allocating.
package echo

// Clip returns s cut to at most max bytes, with every byte outside
// printable ASCII replaced by '?', and suffix appended when s was cut. It
// allocates only when s needs changing.
func Clip(s string, max int, suffix string) string {
	cut := false
	if len(s) > max {
		s, cut = s[:max], true
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] < 0x20 || b[j] > 0x7e {
					b[j] = '?'
				}
			}
			s = string(b)
			break
		}
	}
	if cut {
		s += suffix
	}
	return s
}

// Digits parses the n ASCII digits of s starting at i. It reports false
// when s is too short or a byte is not a digit.
func Digits(s string, i, n int) (int, bool) {
	if i < 0 || n < 0 || i+n > len(s) {
		return 0, false
	}
	v := 0
	for j := i; j < i+n; j++ {
		c := s[j]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}
