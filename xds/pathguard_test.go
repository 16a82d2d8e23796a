package xds

import (
	"path/filepath"
	"regexp"
	"testing"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
)

// TestPathGuard pins the path-confusion defences: encoded slashes refused
// by the listener, and the first route of every virtual host answering
// paths with ";", "\" or an encoded slash or dot with 400 APIG.0201
// without calling Check.
func TestPathGuard(t *testing.T) {
	res := translate(t, load(t, filepath.Join("testdata", "dialect.input.yaml")))
	h := hcmOf(t, res)
	if h.GetPathWithEscapedSlashesAction() != hcmv3.HttpConnectionManager_REJECT_REQUEST || !h.GetNormalizePath().GetValue() || !h.GetMergeSlashes() {
		t.Errorf("listener: escaped slashes %v, normalize_path %v, merge_slashes %v; want REJECT_REQUEST, true, true",
			h.GetPathWithEscapedSlashesAction(), h.GetNormalizePath().GetValue(), h.GetMergeSlashes())
	}
	vhs := res.Routes[0].GetVirtualHosts()
	if len(vhs) < 2 {
		t.Fatalf("want at least two virtual hosts, got %d", len(vhs))
	}
	for _, vh := range vhs {
		r := vh.GetRoutes()[0]
		dr := r.GetDirectResponse()
		if r.GetName() != PathRejectedRouteName || dr.GetStatus() != 400 || dr.GetBodyFormat() == nil {
			t.Errorf("virtual host %s: first route %s (%v), want %s answering 400", vh.GetName(), r.GetName(), dr, PathRejectedRouteName)
		}
		fields := dr.GetBodyFormat().GetJsonFormat().GetFields()
		msg := fields["error_msg"].GetStringValue() + fields["message"].GetStringValue()
		if msg != "API request error: "+PathRejectedDetail {
			t.Errorf("virtual host %s: message %q", vh.GetName(), msg)
		}
	}
	re := regexp.MustCompile(`^(?:` + vhs[0].GetRoutes()[0].GetMatch().GetSafeRegex().GetRegex() + `)$`)
	for path, refused := range map[string]bool{
		"/a;b": true, "/a/..;/b": true, `/a\b`: true, "/a/%2e%2e/b": true, "/a/%2E": true,
		"/a%2fb": true, "/a%2Fb": true, "/a%5cb": true, "/a%5Cb": true,
		"/a/b": false, "/a%20b": false, "/": false, "/a/.b/c..d": false, "/a%25b": false,
	} {
		if re.MatchString(path) != refused {
			t.Errorf("path %q: refused %v, want %v", path, !refused, refused)
		}
	}
}
