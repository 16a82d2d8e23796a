package e2e

// The static Envoy configuration of docs/deployment.md ("Using apigw from
// your own Envoy configuration"): checked against Envoy's schema and the
// gateway's contracts here, and run with a real Envoy when there is one.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	earlymutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/http/early_header_mutation/header_mutation/v3"
	"google.golang.org/protobuf/proto"

	"github.com/apigwio/apigw/authz/signing"
	"github.com/apigwio/apigw/examples/echo/echoserver"
	"github.com/apigwio/apigw/internal/envoybin"
	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/internal/server"
	"github.com/apigwio/apigw/ratelimit/throttle"
	"github.com/apigwio/apigw/xds"
)

// The quickstart app (examples/quickstart/gateway.yaml), which the static
// configuration's route serves.
const (
	quickstartAppName   = "demo-app"
	quickstartAppKey    = "4f5a1c2e9b8d4e6f8a7b6c5d4e3f2a1b"
	quickstartAppSecret = "quickstart-app-secret-change-me"
)

// staticConfig returns the YAML block between the static-envoy-config
// markers of docs/deployment.md, with its ports replaced as given.
func staticConfig(t *testing.T, ports map[int]int) []byte {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(repo, "docs", "deployment.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- static-envoy-config: begin -->\n```yaml\n(.*?)```\n<!-- static-envoy-config: end -->").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/deployment.md: no static-envoy-config block")
	}
	out := string(m[1])
	for from, to := range ports {
		re := regexp.MustCompile(fmt.Sprintf(`port_value: %d\b`, from))
		if !re.MatchString(out) {
			t.Fatalf("docs/deployment.md static configuration: no port_value %d", from)
		}
		out = re.ReplaceAllString(out, fmt.Sprintf("port_value: %d", to))
	}
	return []byte(out)
}

// staticHCM returns the HTTP connection manager of the static configuration.
func staticHCM(t *testing.T, b *bootstrapv3.Bootstrap) *hcmv3.HttpConnectionManager {
	t.Helper()
	ls := b.GetStaticResources().GetListeners()
	if len(ls) != 1 || len(ls[0].GetFilterChains()) != 1 || len(ls[0].GetFilterChains()[0].GetFilters()) != 1 {
		t.Fatal("static configuration: want one listener with one filter")
	}
	hcm := &hcmv3.HttpConnectionManager{}
	if err := ls[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	return hcm
}

// TestDeploymentStaticConfig: the static configuration of the deployment
// guide is a valid Envoy bootstrap, and follows the contracts the guide
// states — the same as the generated configuration's.
func TestDeploymentStaticConfig(t *testing.T) {
	b, err := xds.ParseBootstrap(staticConfig(t, nil))
	if err != nil {
		t.Fatalf("docs/deployment.md static configuration: %v", err)
	}
	hcm := staticHCM(t, b)
	if hcm.GetStripAnyHostPort() || hcm.GetStripMatchingHostPort() {
		t.Error("the static configuration strips the Host port: Check would not see what the client signed")
	}
	rc := hcm.GetRouteConfig()
	if !slices.Equal(rc.GetInternalOnlyHeaders(), model.IdentityHeaders) {
		t.Errorf("internal_only_headers %v, want model.IdentityHeaders %v", rc.GetInternalOnlyHeaders(), model.IdentityHeaders)
	}

	// Before the filters, the client-header strip; then ext_authz, the
	// rate-limit filter and the router.
	strip := earlyStrip(t, hcm)
	var names []string
	var authz *extauthzv3.ExtAuthz
	var rl *ratelimitv3.RateLimit
	for _, f := range hcm.GetHttpFilters() {
		names = append(names, f.GetName())
		switch f.GetName() {
		case xds.FilterExtAuthz:
			authz = &extauthzv3.ExtAuthz{}
			if err := f.GetTypedConfig().UnmarshalTo(authz); err != nil {
				t.Fatal(err)
			}
		case "envoy.filters.http.ratelimit":
			rl = &ratelimitv3.RateLimit{}
			if err := f.GetTypedConfig().UnmarshalTo(rl); err != nil {
				t.Fatal(err)
			}
		}
	}
	if want := []string{xds.FilterExtAuthz, "envoy.filters.http.ratelimit", xds.FilterRouter}; !slices.Equal(names, want) {
		t.Fatalf("HTTP filters %v, want %v", names, want)
	}
	if rl.GetDomain() != throttle.Domain {
		t.Errorf("rate-limit domain %q, want %q", rl.GetDomain(), throttle.Domain)
	}

	// The ext_authz settings that matter match the generated listener's.
	snap := loadAndTranslate(t, quickstartPath("gateway.yaml"))
	res, err := xds.Translate(snap, xds.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if genStrip := earlyStrip(t, staticHCMOf(t, res)); !proto.Equal(strip, genStrip) {
		t.Errorf("strip_client_headers differs from the generated listener's:\n%v\n%v", strip, genStrip)
	}
	var gen *extauthzv3.ExtAuthz
	for _, f := range staticHCMOf(t, res).GetHttpFilters() {
		if f.GetName() == xds.FilterExtAuthz {
			gen = &extauthzv3.ExtAuthz{}
			if err := f.GetTypedConfig().UnmarshalTo(gen); err != nil {
				t.Fatal(err)
			}
		}
	}
	if gen == nil {
		t.Fatal("no ext_authz filter in the generated listener")
	}
	for what, pair := range map[string][2]proto.Message{
		"with_request_body":    {authz.GetWithRequestBody(), gen.GetWithRequestBody()},
		"status_on_error":      {authz.GetStatusOnError(), gen.GetStatusOnError()},
		"grpc_service.timeout": {authz.GetGrpcService().GetTimeout(), gen.GetGrpcService().GetTimeout()},
	} {
		if !proto.Equal(pair[0], pair[1]) {
			t.Errorf("ext_authz %s: the guide has %v, the generated listener %v", what, pair[0], pair[1])
		}
	}
	if authz.GetFailureModeAllow() || authz.GetTransportApiVersion() != gen.GetTransportApiVersion() {
		t.Error("ext_authz must fail closed, transport V3")
	}

	// The route tells Check the API and environment, and sends the API
	// descriptor that throttle.Descriptors defines for it.
	route := rc.GetVirtualHosts()[0].GetRoutes()[0]
	per := &extauthzv3.ExtAuthzPerRoute{}
	if err := route.GetTypedPerFilterConfig()[xds.FilterExtAuthz].UnmarshalTo(per); err != nil {
		t.Fatal(err)
	}
	ext := per.GetCheckSettings().GetContextExtensions()
	api := snap.LookupAPI(ext[model.ContextKeyAPI], ext[model.ContextKeyEnv])
	if api == nil || !slices.Contains(api.Environments, ext[model.ContextKeyEnv]) {
		t.Fatalf("context extensions %v: not an API published in that environment of the quickstart", ext)
	}
	descs := throttle.Descriptors(snap, api, ext[model.ContextKeyEnv])
	if len(descs) == 0 || len(route.GetRoute().GetRateLimits()) == 0 {
		t.Fatalf("no descriptors (%v) or route rate limits", descs)
	}
	first := route.GetRoute().GetRateLimits()[0].GetActions()
	want := descs[0]
	if len(first) != len(want) || first[0].GetGenericKey().GetDescriptorKey() != want[0].Key || first[0].GetGenericKey().GetDescriptorValue() != want[0].Value {
		t.Errorf("first route rate limit %v, want the descriptor %v", first, want)
	}
	for _, rl := range route.GetRoute().GetRateLimits() {
		for _, a := range rl.GetActions() {
			if md := a.GetMetadata(); md != nil && (md.GetMetadataKey().GetKey() != xds.FilterExtAuthz || md.GetSource() != routev3.RateLimit_Action_MetaData_DYNAMIC) {
				t.Errorf("metadata action %v: want the ext_authz dynamic metadata", md)
			}
		}
	}
}

func staticHCMOf(t *testing.T, res *xds.Resources) *hcmv3.HttpConnectionManager {
	t.Helper()
	hcm := &hcmv3.HttpConnectionManager{}
	if err := res.Listeners[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	return hcm
}

// TestStaticEnvoyConfig runs Envoy with the deployment guide's static
// configuration against apigw (Check and rate limits only, no xDS) on the
// quickstart configuration.
func TestStaticEnvoyConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end suite skipped in -short mode")
	}
	bin := envoybin.Require(t)
	backend := httptest.NewServer(echoserver.Handler("release"))
	defer backend.Close()
	backendPort := backend.Listener.Addr().(*net.TCPAddr).Port

	ports := freePorts(t, 2)
	grpcPort, adminPort := ports[0], ports[1]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := server.Start(ctx, server.Options{
		ConfigPath:    quickstartPath("gateway.yaml"),
		GRPCAddress:   fmt.Sprintf("127.0.0.1:%d", grpcPort),
		AdminAddress:  fmt.Sprintf("127.0.0.1:%d", adminPort),
		WatchInterval: -1,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()

	envoy, listenerPort := startStaticEnvoy(t, bin, grpcPort, backendPort)
	g := &gateway{envoyPort: listenerPort, client: &http.Client{Timeout: requestTimeout}}
	url := fmt.Sprintf("http://127.0.0.1:%d/hello", listenerPort)
	sign := func() *http.Request {
		req := mustRequest(t, "GET", url, nil)
		if err := signing.SignRequest(req, nil, signing.SignOptions{Access: quickstartAppKey, Secret: quickstartAppSecret}); err != nil {
			t.Fatal(err)
		}
		return req
	}
	g.eventually(t, envoyReadyTimeout, "Envoy serves the static configuration", func() (bool, string) {
		if envoy.exited() {
			t.Fatalf("Envoy exited: %v", envoy.err)
		}
		code, _, body, err := g.do(sign())
		return err == nil && code == http.StatusOK, fmt.Sprintf("%d %s %v", code, body, err)
	})
	req := sign()
	req.Header.Set("X-Apig-Context-Role", "admin") // forged, unsigned
	r := g.echoed(t, req)
	if r.Headers["x-apig-app-id"] != quickstartAppName || r.Headers["x-apig-api-id"] != "demo/hello" || r.Path != "/echo/hello" {
		t.Errorf("backend saw %s with headers %v", r.Path, r.Headers)
	}
	if v, ok := r.Headers["x-apig-context-role"]; ok {
		t.Errorf("backend saw the forged x-apig-context-role %q", v)
	}
	g.expectError(t, mustRequest(t, "GET", url, nil), http.StatusUnauthorized, "APIG.0303")
}

// startStaticEnvoy runs Envoy on the guide's static configuration with
// the listener and admin ports picked here, stopped at the test's end, and
// waits until its admin says LIVE. It starts Envoy again on other ports,
// at most envoyBindAttempts times, when another process bound a picked
// port first. It returns Envoy and its listener port.
func startStaticEnvoy(t *testing.T, bin string, grpcPort, backendPort int) (*envoyProcess, int) {
	t.Helper()
	dir := t.TempDir()
	for attempt := 1; ; attempt++ {
		ports := freePorts(t, 2)
		listenerPort, envoyAdmin := ports[0], ports[1]
		cfg := staticConfig(t, map[int]int{10080: listenerPort, 18000: grpcPort, 18080: backendPort, 9901: envoyAdmin})
		path := filepath.Join(dir, fmt.Sprintf("envoy-%d.yaml", attempt))
		if err := os.WriteFile(path, cfg, 0o600); err != nil {
			t.Fatal(err)
		}
		// The static listener binds 0.0.0.0 (as in the guide); the test
		// talks to it on loopback.
		envoy := runEnvoy(t, bin, path, filepath.Join(dir, fmt.Sprintf("envoy-%d.log", attempt)))
		t.Cleanup(func() {
			if t.Failed() {
				if b, err := os.ReadFile(envoy.log); err == nil {
					t.Logf("Envoy log:\n%s", b)
				}
			}
		})
		if envoy.waitLive(t, envoyAdmin) {
			return envoy, listenerPort
		}
		if attempt == envoyBindAttempts || !envoy.couldNotBind() {
			t.Fatalf("Envoy exited during start-up: %v", envoy.err)
		}
		t.Logf("Envoy could not bind (another process took a port): starting it again on other ports")
	}
}

// earlyStrip returns the configuration of the connection manager's
// strip_client_headers early header mutation, its only one.
func earlyStrip(t *testing.T, hcm *hcmv3.HttpConnectionManager) *earlymutationv3.HeaderMutation {
	t.Helper()
	early := hcm.GetEarlyHeaderMutationExtensions()
	if len(early) != 1 || early[0].GetName() != xds.FilterStripClientHeaders {
		t.Fatalf("early header mutations %v, want %s only", early, xds.FilterStripClientHeaders)
	}
	strip := &earlymutationv3.HeaderMutation{}
	if err := early[0].GetTypedConfig().UnmarshalTo(strip); err != nil {
		t.Fatal(err)
	}
	return strip
}
