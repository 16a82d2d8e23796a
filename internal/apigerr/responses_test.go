package apigerr

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestEveryCodeHasAType: every catalogue entry maps to exactly one known
// type (explicitly, not by the status fallback), and docs/errors.md lists
// that mapping.
func TestEveryCodeHasAType(t *testing.T) {
	doc, err := os.ReadFile("../../docs/errors.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range Catalogue {
		typ, ok := typeOf[c]
		if !ok {
			t.Errorf("%s %d has no response type", c.ID, c.Status)
			continue
		}
		if !typ.Valid() {
			t.Errorf("%s %d: type %q is not in ResponseTypes", c.ID, c.Status, typ)
		}
		row := fmt.Sprintf("| %s | %d | %s |", c.ID, c.Status, typ)
		if !strings.Contains(string(doc), row) {
			t.Errorf("docs/errors.md lacks the row %q", row)
		}
	}
	if len(typeOf) != len(Catalogue) {
		t.Errorf("%d types for %d catalogue entries", len(typeOf), len(Catalogue))
	}
	for _, typ := range ResponseTypes {
		if !strings.Contains(string(doc), "`"+string(typ)+"`") {
			t.Errorf("docs/errors.md does not describe `%s`", typ)
		}
		if p := typ.Parent(); p != "" && !p.Valid() {
			t.Errorf("%s: parent %q unknown", typ, p)
		}
	}
}

func TestErrorType(t *testing.T) {
	e := WithDetail(AppAuthFailed, "Authorization not found")
	if e.Type() != TypeAuthFailure {
		t.Errorf("type %s", e.Type())
	}
	e.CredentialMissing = true
	if e.Type() != TypeAuthHeaderMissing || TypeAuthHeaderMissing.Parent() != TypeAuthFailure {
		t.Errorf("type %s", e.Type())
	}
	if TypeOf(Code{"X", 503, ""}) != TypeDefault5XX || TypeOf(Code{"X", 418, ""}) != TypeDefault4XX {
		t.Error("fallback by status")
	}
	// A catalogue code whose message carries a detail keeps its type.
	for _, tt := range []struct {
		code Code
		want ResponseType
	}{
		{Code{RequestError.ID, RequestError.Status, WithDetail(RequestError, "the path contains ;").Msg()}, TypeRequestParameters},
		{Code{RequestURITooLarge.ID, RequestURITooLarge.Status, "other words"}, TypeURITooLong},
		{Code{RequestError.ID, 499, "x"}, TypeDefault4XX}, // the code with another status is not the entry
	} {
		if got := TypeOf(tt.code); got != tt.want {
			t.Errorf("TypeOf(%v) = %s, want %s", tt.code, got, tt.want)
		}
	}
}
