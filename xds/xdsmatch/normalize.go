package xdsmatch

import "strings"

// NormalizePath is the path (without the query) as Envoy routes it with
// normalize_path and merge_slashes on: backslashes become slashes,
// percent-encoded unreserved characters are decoded (other escapes keep
// their byte, in upper-case hex), "." and ".." segments are resolved
// (RFC 3986 remove_dot_segments, never above the root), and runs of
// slashes become one. It follows Envoy's canonicaliser (Chromium's) for
// the paths clients send; exotic inputs (invalid escapes, control
// characters) are left as they are rather than guessed.
func NormalizePath(p string) string {
	if p == "" {
		return "/"
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\':
			b.WriteByte('/')
		case c == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]):
			d := unhex(p[i+1])<<4 | unhex(p[i+2])
			if unreserved(d) {
				b.WriteByte(d)
			} else {
				b.WriteByte('%')
				b.WriteString(strings.ToUpper(p[i+1 : i+3]))
			}
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	out := removeDotSegments(b.String())
	if !strings.HasPrefix(out, "/") {
		out = "/" + out
	}
	return mergeSlashes(out)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// removeDotSegments resolves "." and ".." segments of an absolute path.
func removeDotSegments(p string) string {
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
			if last {
				out = append(out, "")
			}
		case "..":
			if len(out) > 1 {
				out = out[:len(out)-1]
			}
			if last {
				out = append(out, "")
			}
		default:
			out = append(out, s)
		}
	}
	return strings.Join(out, "/")
}

func mergeSlashes(p string) string {
	for strings.Contains(p, "//") {
		p = strings.ReplaceAll(p, "//", "/")
	}
	return p
}
