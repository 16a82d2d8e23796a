package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apigwio/apigw/internal/model"
)

func replayDoc(group, api string) string {
	return `
settings: {clock_skew: 5m, hmac: {clock_skew: 20m}}
groups:
  - name: g
    ` + group + `
    apis:
      - {name: a, path: /a, auth: app, ` + api + ` backend: {url: "http://10.0.0.1"}}
      - {name: h, path: /h, auth: hmac, backend: {url: "http://10.0.0.1"}}
      - {name: o, path: /o, auth: none, backend: {url: "http://10.0.0.1"}}
`
}

func TestReplayProtectionResolved(t *testing.T) {
	snap, err := Load("t", []byte(replayDoc("replay_protection: {required: true}", "")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, h, n := snap.APIs["g/a"].Replay, snap.APIs["g/h"].Replay, snap.APIs["g/o"].Replay
	if a == nil || a.Header != "x-sdk-nonce" || a.Window != 10*time.Minute || !a.Required {
		t.Errorf("app API: %+v (want x-sdk-nonce, twice settings.clock_skew, required)", a)
	}
	if h == nil || h.Window != 40*time.Minute {
		t.Errorf("hmac API: %+v (want twice the hmac clock skew)", h)
	}
	if n != nil {
		t.Errorf("auth none API got the group's replay protection: %+v", n)
	}
	snap, err = Load("t", []byte(replayDoc("replay_protection: {required: true}", "replay_protection: {header: X-Nonce, window: 90s},")), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a := snap.APIs["g/a"].Replay; a.Header != "x-nonce" || a.Window != 90*time.Second || a.Required {
		t.Errorf("the API's own replaces the group's: %+v", a)
	}
	if len(snap.Warnings) != 1 || !strings.Contains(snap.Warnings[0], "groups[0].apis[0].replay_protection.window: 1m30s is shorter than twice the clock skew") {
		t.Errorf("warnings = %q", snap.Warnings)
	}
}

func TestReplayProtectionRefused(t *testing.T) {
	tests := []struct{ group, api, path, msg string }{
		{"", "replay_protection: {header: Authorization},", "groups[0].apis[0].replay_protection.header", "carry the nonce in its own header"},
		{"replay_protection: {header: x-sdk-date}", "", "groups[0].replay_protection.header", "carry the nonce in its own header"},
		{"replay_protection: {header: Date}", "", "groups[0].replay_protection.header", "carry the nonce in its own header"},
		{"replay_protection: {header: X-Date}", "", "groups[0].replay_protection.header", "carry the nonce in its own header"},
		{"replay_protection: {header: X-Apig-Nonce}", "", "groups[0].replay_protection.header", "carry the nonce in its own header"},
		{"replay_protection: {header: 'bad header'}", "", "groups[0].replay_protection.header", "is not a header name"},
		{"replay_protection: {window: 25h}", "", "groups[0].replay_protection.window", "out of range"},
		{"", "replay_protection: {window: 0s},", "groups[0].apis[0].replay_protection.window", "must be positive"},
		{"", "replay_protection: {window: soon},", "groups[0].apis[0].replay_protection.window", ""},
	}
	for _, tt := range tests {
		_, err := Load("t", []byte(replayDoc(tt.group, tt.api)), Options{})
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("%s %s: err = %v", tt.group, tt.api, err)
			continue
		}
		found := false
		for _, p := range ce.Problems {
			found = found || (p.Path == tt.path && strings.Contains(p.Message, tt.msg))
		}
		if !found {
			t.Errorf("%s %s: problems %v, want %s: ...%s", tt.group, tt.api, ce.Problems, tt.path, tt.msg)
		}
	}
	// On an API that is not signed.
	doc := strings.Replace(replayDoc("", ""), "{name: o, path: /o, auth: none,", "{name: o, path: /o, auth: none, replay_protection: {},", 1)
	_, err := Load("t", []byte(doc), Options{})
	if err == nil || !strings.Contains(err.Error(), "groups[0].apis[2].replay_protection: replay protection applies to signed requests only") {
		t.Errorf("auth none: %v", err)
	}
}

func TestReplayProtectionTencentWindow(t *testing.T) {
	doc := strings.Replace(replayDoc("error_dialect: tencent\n    replay_protection: {window: 45m}", ""), "settings: {clock_skew: 5m,", "settings: {clock_skew: 30m,", 1)
	snap, err := Load("t", []byte(doc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := "groups[0].replay_protection.window: 45m0s is longer than 30m0s, the window Tencent-style clients are built for"
	n := 0
	for _, w := range snap.Warnings {
		if strings.Contains(w, want) {
			n++
		}
	}
	if n != 2 { // the app and the hmac API
		t.Errorf("warnings = %q", snap.Warnings)
	}
}

// TestReplayWarningsSurviveReuse: a reload that reuses an unchanged
// group's model repeats its warnings.
func TestReplayWarningsSurviveReuse(t *testing.T) {
	doc := replayDoc("replay_protection: {window: 1m}", "")
	first, err := Load("t", []byte(doc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Warnings) != 2 { // the app and the hmac API: 1m < 2 x skew
		t.Fatalf("warnings = %q", first.Warnings)
	}
	gw, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	reuse := map[string]*model.Group{first.Groups[0].Digest: first.Groups[0]}
	again, err := build("t", gw, Options{}, reuse, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Reused (shared or copied): the environments are the same slice.
	if &again.Groups[0].APIs[0].Environments[0] != &first.Groups[0].APIs[0].Environments[0] {
		t.Fatal("the unchanged group's model was not reused")
	}
	if !slices.Equal(again.Warnings, first.Warnings) {
		t.Fatalf("reused build: warnings %q, want %q", again.Warnings, first.Warnings)
	}
}
