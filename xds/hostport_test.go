package xds

import (
	"testing"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// TestHostKeepsItsPort: clients sign "host:port", so Envoy must not strip
// the port from Host before the ext_authz filter; domains still match
// without the port.
func TestHostKeepsItsPort(t *testing.T) {
	res := translate(t, loadYAML(t, "hostport", `
groups: [{name: g, domains: [api.example.com], apis: [{name: a, path: /a, backend: {url: "http://10.0.0.1"}}]}]
`))
	hcm := &hcmv3.HttpConnectionManager{}
	if err := res.Listeners[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	if hcm.GetStripPortMode() != nil {
		t.Errorf("listener strips the Host port (%v): signatures over host:port would fail", hcm.GetStripPortMode())
	}
	if !res.Routes[0].GetIgnorePortInHostMatching() {
		t.Error("route configuration does not ignore the port when matching domains")
	}
}
