package xds

import (
	"regexp"
	"testing"
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
