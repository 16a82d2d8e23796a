package reload

import (
	"testing"

	"github.com/apigwio/apigw/internal/config"
)

// TestRemovalCountsVariantsOnce: the variants of an API count as one API
// in settings.max_api_removal_percent, and an API that keeps any variant
// is not removed.
func TestRemovalCountsVariantsOnce(t *testing.T) {
	const head = `
settings: {max_api_removal_percent: 50}
environments: [{name: BETA}]
groups:
  - name: g
    apis:
`
	prev, err := config.Load("prev", []byte(head+`
      - {name: a, path: /a, auth: none, environments: [RELEASE], backend: {url: "http://10.0.0.1"}}
      - {name: a, path: /a, auth: none, environments: [BETA], backend: {url: "http://10.0.0.2"}}
      - {name: b, path: /b, auth: none, backend: {url: "http://10.0.0.1"}}
`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, apis string
		ok         bool
	}{
		// One variant left: nothing removed.
		{"variant dropped", `
      - {name: a, path: /a, auth: none, environments: [RELEASE], backend: {url: "http://10.0.0.1"}}
      - {name: b, path: /b, auth: none, backend: {url: "http://10.0.0.1"}}`, true},
		// b removed: 1 of 2 APIs (not 1 of 3 definitions) is 50 %.
		{"half removed", `
      - {name: a, path: /a, auth: none, environments: [BETA], backend: {url: "http://10.0.0.2"}}
      - {name: c, path: /c, auth: none, backend: {url: "http://10.0.0.1"}}`, true},
		{"all removed", `
      - {name: c, path: /c, auth: none, backend: {url: "http://10.0.0.1"}}`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			next, err := config.Load("next", []byte(head+tt.apis+"\n"), config.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := removalAllowed(prev, next); (err == nil) != tt.ok {
				t.Errorf("removalAllowed = %v, want ok %v", err, tt.ok)
			}
		})
	}
}
