package release

import (
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	configv1 "github.com/apigwio/apigw/proto/apigw/config/v1"
)

// TestDiff: the changes between two configurations, in the
// configuration's vocabulary and a stable order (golden), secrets named
// and never shown.
func TestDiff(t *testing.T) {
	a := readConfig(t, "gateway.yaml")
	b := proto.Clone(a).(*configv1.Gateway)
	b.Settings.ClockSkew = "5m"
	b.Environments[0].Variables["backend"] = "10.0.0.20"
	b.Groups[0].Apis[0].Backend.Url = "http://10.0.0.1:8080/v2/users"
	b.Groups[0].Apis[0].Auth = "none"
	b.Groups[0].Apis = slices.Delete(b.Groups[0].Apis, 1, 2) // listOrders
	b.Groups[0].Apis = append(b.Groups[0].Apis, &configv1.Api{Name: "newApi", Path: "/new", Backend: &configv1.Backend{Url: "http://10.0.0.1"}})
	b.Groups[1].Domains = append(b.Groups[1].Domains, "admin.example.org")
	b.Apps[0].Secret = &configv1.Secret{Source: &configv1.Secret_Value{Value: "a-new-secret-value-0002"}}
	b.Apps[1].Grants = nil
	b.Apps = append(b.Apps, &configv1.App{Name: "partner", Key: "partner-key", Secret: &configv1.Secret{Source: &configv1.Secret_Env{Env: "PARTNER_SECRET"}}})
	b.Channels[1].Members[0].Weight = 5
	b.UsagePlans = b.UsagePlans[:1]
	b.ThrottlePolicies[0].Bindings[0].Environments = []string{"BETA"}

	var lines []string
	for _, c := range Diff(a, b) {
		lines = append(lines, c.String())
	}
	got := strings.Join(lines, "\n") + "\n"
	for _, s := range []string{"a-new-secret-value-0002", "web-secret-0001-abcdef", "PARTNER_SECRET"} {
		if strings.Contains(got, s) {
			t.Errorf("the diff shows a secret (%s):\n%s", s, got)
		}
	}
	// Variants: one definition becomes two.
	v := proto.Clone(a).(*configv1.Gateway)
	v.Groups[0].Apis[0].Environments = []string{"RELEASE"}
	v2 := proto.Clone(v.Groups[0].Apis[0]).(*configv1.Api)
	v2.Environments = []string{"BETA"}
	v2.Backend.Url = "http://10.0.0.1:8080/v2/users"
	v.Groups[0].Apis = append(v.Groups[0].Apis, v2)
	got += "--- variants\n"
	for _, c := range Diff(a, v) {
		got += c.String() + "\n"
	}
	golden(t, "diff.golden", got)

	if d := Diff(a, proto.Clone(a).(*configv1.Gateway)); d != nil {
		t.Errorf("Diff of equal configurations = %v", d)
	}
	if d := Diff(nil, nil); d != nil {
		t.Errorf("Diff(nil, nil) = %v", d)
	}
	// Everything added from nothing, removed to nothing.
	for _, c := range Diff(nil, a) {
		if c.Kind != Added && c.Kind != Changed {
			t.Errorf("Diff(nil, a): %v", c)
		}
	}
}
