package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/apigwio/apigw/xds"
)

// largeAPIs is how many mock APIs testLargeRouteConfig adds: enough for a
// route configuration over the 256 KiB from which apigw sends it without
// copying it (the served encoding, and grpccodec's delta encoding with the
// resource as its own buffer).
const largeAPIs = 2000

// testLargeRouteConfig adds largeAPIs APIs, so that Envoy receives a
// route configuration encoded on the large-resource path, checks Envoy
// ACKed it and routes by it, then puts base back.
func testLargeRouteConfig(t *testing.T, g *gateway, base params) {
	var b strings.Builder
	for i := range largeAPIs {
		fmt.Fprintf(&b, "      - {name: bulk%d, method: GET, path: /bulk/%d, auth: none, backend: {mock: {status: 200, body: \"bulk %d\"}}}\n", i, i, i)
	}
	p := base
	p.ExtraAPIs = strings.TrimSuffix(b.String(), "\n")
	g.rewrite(t, p) // waits for Envoy's ACK of the routes (no NACK)

	res, err := xds.Translate(g.srv.Reloader().Current(), xds.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if size := proto.Size(res.Routes[0]); size < 256<<10 {
		t.Fatalf("test premise: the route configuration is %d bytes, under 256 KiB", size)
	}
	for _, i := range []int{0, largeAPIs / 2, largeAPIs - 1} {
		code, _, body, err := g.do(g.request(t, "GET", fmt.Sprintf("/bulk/%d", i), nil))
		if err != nil || code != http.StatusOK || body != fmt.Sprintf("bulk %d", i) {
			t.Errorf("GET /bulk/%d through Envoy = %d %q %v, want 200 %q", i, code, body, err, fmt.Sprintf("bulk %d", i))
		}
	}
	g.rewrite(t, base)
	g.expectError(t, g.request(t, "GET", "/bulk/0", nil), http.StatusNotFound, "APIG.0101")
}
