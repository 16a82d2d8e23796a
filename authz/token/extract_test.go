package token

import (
	"strings"
	"testing"
)

func TestExtractToken(t *testing.T) {
	long := strings.Repeat("a", MaxTokenBytes)
	cases := []struct {
		name      string
		xAuth     string
		authz     string
		want      string
		wantFound bool
	}{
		{"x-auth-token", "abc.def.ghi", "", "abc.def.ghi", true},
		{"x-auth-token trimmed", "  abc.def.ghi\t", "", "abc.def.ghi", true},
		{"x-auth-token wins", "xat", "Bearer bt", "xat", true},
		{"blank x-auth-token falls back", "   ", "Bearer bt", "bt", true},
		{"bad x-auth-token does not fall back", "a b", "Bearer bt", "", false},
		{"x-auth-token too long", long + "a", "Bearer bt", "", false},
		{"x-auth-token at the limit", long, "", long, true},
		{"x-auth-token control byte", "abc\x00", "", "", false},
		{"x-auth-token non-ascii", "abcé", "", "", false},
		{"bearer", "", "Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer lower case", "", "bearer abc", "abc", true},
		{"bearer mixed case", "", "BeArEr abc", "abc", true},
		{"bearer several spaces", "", "Bearer   \tabc  ", "abc", true},
		{"bearer base64 padding", "", "Bearer ab+/c==", "ab+/c==", true},
		{"bearer no token", "", "Bearer", "", false},
		{"bearer only spaces", "", "Bearer    ", "", false},
		{"bearer no separator", "", "Bearerabc", "", false},
		{"bearer two tokens", "", "Bearer a b", "", false},
		{"bearer too long", "", "Bearer " + long + "a", "", false},
		{"basic scheme", "", "Basic dXNlcjpwYXNz", "", false},
		{"sdk scheme", "", "SDK-HMAC-SHA256 Access=AK, SignedHeaders=host, Signature=00", "", false},
		{"nothing", "", "", "", false},
		{"bearer prefix of another scheme", "", "Bearer-Token abc", "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := ExtractToken(c.xAuth, c.authz)
			if got != c.want || ok != c.wantFound {
				t.Fatalf("ExtractToken(%q, %q) = %q, %v; want %q, %v", clip(c.xAuth), clip(c.authz), clip(got), ok, clip(c.want), c.wantFound)
			}
		})
	}
}

func TestExtractTokenNoAlloc(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		if _, ok := ExtractToken("", "Bearer abc.def.ghi"); !ok {
			t.Fatal("not found")
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
