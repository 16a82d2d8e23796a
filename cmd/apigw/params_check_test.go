package main

import (
	"encoding/json"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apigwio/apigw/internal/explain"
)

// TestCheckParameters: apigw check follows a URI-template route, its path
// rewrite, Check's query mutations and the route's parameter headers.
func TestCheckParameters(t *testing.T) {
	cfg := filepath.Join("..", "..", "xds", "testdata", "parameters.input.yaml")
	code, out, errOut := runCLI("", "check", "--config", cfg, "-o", "json", "--url", "http://h/orders/7/lines/2?page=3&rid=forged&x=1")
	if code != 0 {
		t.Fatalf("exit %d; stderr %s; stdout %s", code, errOut, out)
	}
	var r explain.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Route.Name != "shop/order|RELEASE" || r.Upstream == nil {
		t.Fatalf("%+v", r)
	}
	path, query, _ := strings.Cut(r.Upstream.Path, "?")
	q, err := url.ParseQuery(query)
	if path != "/v1/v2/items/7/l/2" || err != nil || q.Has("page") || q.Get("x") != "1" || len(q["rid"]) != 1 || q.Get("rid") == "forged" {
		t.Errorf("upstream %q: want /v1/v2/items/7/l/2, page moved, rid the gateway's, x kept", r.Upstream.Path)
	}
	if r.Upstream.HeadersAdded["x-page"] != "3" || r.Upstream.HeadersAdded["x-source-ip"] != "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%" {
		t.Errorf("headers added %v", r.Upstream.HeadersAdded)
	}
	code, out, _ = runCLI("", "check", "--config", cfg, "-o", "json", "--url", "http://h/orders/x/lines/2")
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 3 || r.Auth.Code != "APIG.0201" {
		t.Errorf("invalid id: exit %d, %+v", code, r.Auth)
	}
}
