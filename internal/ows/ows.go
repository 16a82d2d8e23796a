// Package ows handles HTTP optional whitespace (RFC 9110, Section 5.6.3),
// shared by the Authorization parsers of authz/signing and authz/keypair.
package ows

// Trim returns s without leading and trailing spaces and horizontal tabs.
func Trim(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}
