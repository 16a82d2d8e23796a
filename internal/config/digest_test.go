package config

import (
	"testing"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// TestGroupDigestChanges: a group's digest changes with anything in the
// group (its own fields, any API, the APIs' order or number) or outside
// it, and only then; with the memo, unchanged API messages are not
// marshalled again but the digest is the same as without it.
func TestGroupDigestChanges(t *testing.T) {
	base, err := Parse([]byte(`
environments: [{name: BETA}]
groups:
  - name: g
    domains: [g.example.com]
    apis:
      - {name: a, path: /a, auth: none, backend: {url: "http://10.0.0.1"}}
      - {name: b, path: /b, auth: none, backend: {url: "http://10.0.0.2"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	digestOf := func(gw *configv1.Gateway) string { return groupDigests(gw).groups[0] }
	want := digestOf(base)
	if again := digestOf(proto.Clone(base).(*configv1.Gateway)); again != want {
		t.Fatalf("an equal configuration has digest %s, want %s", again, want)
	}
	tests := []struct {
		name   string
		change func(gw *configv1.Gateway)
	}{
		{"an API's field", func(gw *configv1.Gateway) { gw.Groups[0].Apis[1].Path = "/b2" }},
		{"the APIs' order", func(gw *configv1.Gateway) {
			apis := gw.Groups[0].Apis
			apis[0], apis[1] = apis[1], apis[0]
		}},
		{"an API removed", func(gw *configv1.Gateway) { gw.Groups[0].Apis = gw.Groups[0].Apis[:1] }},
		{"the group's own field", func(gw *configv1.Gateway) { gw.Groups[0].Domains = []string{"h.example.com"} }},
		{"outside the groups", func(gw *configv1.Gateway) { gw.Environments[0].Name = "TEST" }},
	}
	_, memo := groupDigestsReusing(base, nil)
	for _, tt := range tests {
		gw := proto.Clone(base).(*configv1.Gateway)
		tt.change(gw)
		got := digestOf(gw)
		if got == want {
			t.Errorf("%s changed: the group digest did not", tt.name)
		}
		// With the base's memo: a new group message holding the base's
		// unchanged API messages (as the parser gives them).
		reparsed := proto.Clone(gw).(*configv1.Gateway)
		for i, a := range reparsed.Groups[0].Apis {
			for _, old := range base.Groups[0].Apis {
				if proto.Equal(a, old) {
					reparsed.Groups[0].Apis[i] = old
				}
			}
		}
		if d, _ := groupDigestsReusing(reparsed, memo); d.groups[0] != got {
			t.Errorf("%s changed: digest %s through the memo, %s without", tt.name, d.groups[0], got)
		}
	}
}
