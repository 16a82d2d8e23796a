package token

import "strings"

// MaxTokenBytes is the longest token [ExtractToken] returns and [Verifier.Verify]
// accepts (16 KiB). Real JWTs are a few hundred bytes to a few KiB.
const MaxTokenBytes = 16 << 10

// ExtractToken returns the bearer token of a request from its X-Auth-Token
// and Authorization header values.
//
// X-Auth-Token wins when it is present and not blank: its value, trimmed of
// spaces and tabs, is the token. Otherwise Authorization must be
// "Bearer <token>": the scheme is matched case-insensitively and may be
// followed by several spaces or tabs. The token must be 1 to [MaxTokenBytes]
// bytes of visible ASCII (no spaces, no control bytes); ok is false
// otherwise. A non-blank but unacceptable X-Auth-Token does not fall back to
// Authorization, so that a request never carries two tokens that disagree.
//
// ExtractToken does not allocate.
func ExtractToken(xAuthToken, authorization string) (tok string, ok bool) {
	if t := strings.Trim(xAuthToken, " \t"); t != "" {
		return checkToken(t)
	}
	a := strings.Trim(authorization, " \t")
	const scheme = "bearer"
	if len(a) <= len(scheme) || !strings.EqualFold(a[:len(scheme)], scheme) {
		return "", false
	}
	if c := a[len(scheme)]; c != ' ' && c != '\t' {
		return "", false
	}
	return checkToken(strings.TrimLeft(a[len(scheme):], " \t"))
}

func checkToken(t string) (string, bool) {
	if t == "" || len(t) > MaxTokenBytes {
		return "", false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c > '~' {
			return "", false
		}
	}
	return t, true
}
