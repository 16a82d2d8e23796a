package hashtag

import (
	"strings"
	"testing"
)

func TestOfIsOneToOne(t *testing.T) {
	seen := map[string]string{}
	for _, k := range []string{"", "%", "%25", "{", "%7B", "}", "%7D", "{}", "a", "a{b}", "a%7Bb%7D"} {
		tag := Of(k)
		if strings.ContainsAny(tag, "{}") || tag == "" {
			t.Errorf("Of(%q) = %q", k, tag)
		}
		if prev, ok := seen[tag]; ok {
			t.Errorf("Of(%q) = Of(%q) = %q", k, prev, tag)
		}
		seen[tag] = k
	}
}
