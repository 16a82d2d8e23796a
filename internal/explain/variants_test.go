package explain_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/explain"
)

// TestExplainVariants: explaining a request to an API with variants shows
// the variant published in the request's environment.
func TestExplainVariants(t *testing.T) {
	snap, err := config.Load("variants", []byte(`
environments: [{name: BETA}]
groups:
  - name: shop
    apis:
      - {name: getUser, method: GET, path: /users, auth: app, environments: [RELEASE], backend: {url: "http://10.0.0.1:8080/v1"}}
      - {name: getUser, method: GET, path: /users, auth: none, environments: [BETA], backend: {url: "http://10.0.0.2:8080/v2"}}
`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := explain.New(context.Background(), snap, explain.Options{Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, tt := range []struct {
		stage, auth, outcome, url string
	}{
		{"", "app", explain.OutcomeDenied, ""},
		{"BETA", "none", explain.OutcomeForwarded, "http://10.0.0.2:8080/v2"},
	} {
		h := http.Header{}
		if tt.stage != "" {
			h.Set("X-Stage", tt.stage)
		}
		u, _ := url.Parse("http://gw.example.com/users")
		rep, err := e.Explain(context.Background(), explain.Request{Method: "GET", URL: u, Header: h})
		if err != nil {
			t.Fatal(err)
		}
		if rep.API == nil || rep.API.ID != "shop/getUser" || rep.API.Auth != tt.auth || rep.Outcome != tt.outcome {
			t.Fatalf("stage %q: api %+v outcome %s", tt.stage, rep.API, rep.Outcome)
		}
		if tt.url != "" && (rep.Upstream == nil || rep.Upstream.URL != tt.url) {
			t.Errorf("stage %q: upstream %+v, want %s", tt.stage, rep.Upstream, tt.url)
		}
	}
}
