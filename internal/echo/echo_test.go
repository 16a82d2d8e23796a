package echo

import (
	"strings"
	"testing"
)

func TestClip(t *testing.T) {
	tests := []struct {
		in     string
		max    int
		suffix string
		want   string
	}{
		{"plain", 64, "...", "plain"},
		{strings.Repeat("a", 70), 64, "...", strings.Repeat("a", 64) + "..."},
		{strings.Repeat("a", 70), 64, "", strings.Repeat("a", 64)},
		{"a\x00b\xffc\n", 64, "...", "a?b?c?"},
		{"日本", 64, "", "??????"},
		{"", 8, "...", ""},
	}
	for _, tt := range tests {
		if got := Clip(tt.in, tt.max, tt.suffix); got != tt.want {
			t.Errorf("Clip(%q, %d, %q) = %q, want %q", tt.in, tt.max, tt.suffix, got, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { Clip("clean text", 64, "...") }); n != 0 {
		t.Errorf("Clip of clean text allocates %v times", n)
	}
}

func TestDigits(t *testing.T) {
	tests := []struct {
		s    string
		i, n int
		want int
		ok   bool
	}{
		{"20221208", 0, 4, 2022, true}, {"20221208", 4, 2, 12, true}, {"2022x208", 2, 3, 0, false},
		{"12", 1, 5, 0, false}, {"12", -1, 1, 0, false}, {"", 0, 0, 0, true},
	}
	for _, tt := range tests {
		got, ok := Digits(tt.s, tt.i, tt.n)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Digits(%q, %d, %d) = %d, %v", tt.s, tt.i, tt.n, got, ok)
		}
	}
}

func FuzzClip(f *testing.F) {
	f.Add("x\xff", 4)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 || max > 1<<10 {
			return
		}
		out := Clip(s, max, "...")
		for i := 0; i < len(out); i++ {
			if out[i] < 0x20 || out[i] > 0x7e {
				t.Fatalf("non-printable byte in %q", out)
			}
		}
		if len(out) > max+3 {
			t.Fatalf("%d bytes > %d", len(out), max+3)
		}
	})
}
