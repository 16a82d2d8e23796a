package ows

import "testing"

func TestTrim(t *testing.T) {
	for in, want := range map[string]string{
		"":               "",
		" \t ":           "",
		"a":              "a",
		" \ta b\t ":      "a b",
		"\r\na\n":        "\r\na\n", // only SP and HTAB are OWS
		"\t\tSHA-256=x ": "SHA-256=x",
	} {
		if got := Trim(in); got != want {
			t.Errorf("Trim(%q) = %q, want %q", in, got, want)
		}
	}
}
