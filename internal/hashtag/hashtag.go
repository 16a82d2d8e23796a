// Package hashtag makes strings fit for a Redis Cluster hash tag, the part
// of a key between the first "{" and the next "}" that decides its slot.
// The lockout, nonce and quota stores put a credential there so that all of
// one credential's keys live in one slot.
package hashtag

import "strings"

// Of returns s fit for a hash tag: '%', '{' and '}' are percent-encoded
// (a brace would end the tag early), and "" becomes "%" (an empty tag is
// no tag). Distinct strings give distinct results.
func Of(s string) string {
	if s != "" && !strings.ContainsAny(s, "%{}") {
		return s
	}
	var b strings.Builder
	Write(&b, s)
	return b.String()
}

// Write writes Of(s) to b.
func Write(b *strings.Builder, s string) {
	if s == "" {
		b.WriteByte('%')
		return
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			b.WriteString("%25")
		case '{':
			b.WriteString("%7B")
		case '}':
			b.WriteString("%7D")
		default:
			b.WriteByte(c)
		}
	}
}
