package keypair

import (
	"net/http"
	"testing"
)

// FuzzParseHTTPDate: the Date / X-Date parser accepts only what
// net/http.ParseTime accepts (it may be stricter) and never panics.
func FuzzParseHTTPDate(f *testing.F) {
	for _, s := range []string{"Mon, 23 Nov 2026 03:00:00 GMT", "Monday, 23-Nov-26 03:00:00 GMT", "Mon Nov 23 03:00:00 2026", "", "Mon, 99 Nov 2026 03:00:00 GMT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseHTTPDate(s)
		if !ok {
			return
		}
		want, err := http.ParseTime(s)
		if err != nil || !got.Equal(want) {
			t.Fatalf("parseHTTPDate(%q) = %v; http.ParseTime = %v, %v", s, got, want, err)
		}
	})
}
