package xds

import (
	"regexp"
	"testing"

	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
)

func TestPrefixExceptRegex(t *testing.T) {
	for _, tt := range []struct {
		except []string
		match  []string
		not    []string
	}{
		{
			except: []string{"x-apig-appcode"},
			match:  []string{"x-apig-", "x-apig-a", "x-apig-app", "x-apig-app-id", "x-apig-appcod", "x-apig-appcodes", "x-apig-appcode-x", "x-apig-context-role", "x-apig-b", "x-apig-api-id"},
			not:    []string{"x-apig-appcode", "x-apig", "x-apigw-dialect", "authorization", "x-apig-appcode\n", "y-apig-app-id"},
		},
		{
			except: []string{"x-apig-appcode", "x-apig-token", "x-apig-token-id", "x-apig-a"},
			match:  []string{"x-apig-", "x-apig-ab", "x-apig-tok", "x-apig-tokens", "x-apig-token-", "x-apig-token-idx", "x-apig-appcodex", "x-apig-b"},
			not:    []string{"x-apig-appcode", "x-apig-token", "x-apig-token-id", "x-apig-a"},
		},
		{
			except: nil,
			match:  []string{"x-apig-", "x-apig-appcode"},
			not:    []string{"x-apig"},
		},
	} {
		expr := prefixExceptRegex("x-apig-", tt.except)
		re := regexp.MustCompile("^(?:" + expr + ")$")
		for _, s := range tt.match {
			if !re.MatchString(s) {
				t.Errorf("except %v: %s does not match %q", tt.except, expr, s)
			}
		}
		for _, s := range tt.not {
			if re.MatchString(s) {
				t.Errorf("except %v: %s matches %q", tt.except, expr, s)
			}
		}
	}
}

// TestStripClientHeaders: the first filter removes client x-apig-* headers
// but X-Apig-AppCode and authorizer identity headers in the namespace.
func TestStripClientHeaders(t *testing.T) {
	snap := loadYAML(t, "strip", `
authorizers:
  - name: auth
    url: http://127.0.0.1:9000/auth
    identity_headers: [X-Apig-Token, authorization]
groups:
  - name: g
    apis:
      - {name: a, path: /a, auth: authorizer, authorizer: auth, backend: {mock: {body: a}}}
`)
	fs := hcmOf(t, translate(t, snap)).GetHttpFilters()
	if fs[0].GetName() != FilterStripClientHeaders {
		t.Fatalf("first filter %s", fs[0].GetName())
	}
	cfg := &headermutationv3.HeaderMutation{}
	if err := fs[0].GetTypedConfig().UnmarshalTo(cfg); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile("^(?:" + cfg.GetMutations().GetRequestMutations()[0].GetRemoveOnMatch().GetKeyMatcher().GetSafeRegex().GetRegex() + ")$")
	for h, removed := range map[string]bool{
		"x-apig-app-id": true, "x-apig-context-role": true, "x-apig-tokens": true,
		"x-apig-token": false, "x-apig-appcode": false, "authorization": false, "x-apigw-ip-tags": false,
	} {
		if re.MatchString(h) != removed {
			t.Errorf("%s removed: %v, want %v (regex %s)", h, !removed, removed, re)
		}
	}
}
