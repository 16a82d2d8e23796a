package signing

import (
	"testing"
	"time"
)

// FuzzParseDate: the X-Sdk-Date parser agrees with time.Parse on every
// input and never panics.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"20221208T015751Z", "20221308T015751Z", "2022120801575Z", "", "99999999T999999Z", "20220229T000000Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseDate(s)
		want, err := time.Parse(DateFormat, s)
		if ok != (err == nil) || (ok && !got.Equal(want)) {
			t.Fatalf("parseDate(%q) = %v, %v; time.Parse = %v, %v", s, got, ok, want, err)
		}
	})
}
