package xds

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// TestValidateLooksInsideAny: defects inside packed messages, which
// ValidateAll alone does not see, are found and located.
func TestValidateLooksInsideAny(t *testing.T) {
	tests := []struct {
		name   string
		breakR func(t *testing.T, r *Resources)
		want   string
	}{
		{"HCM without stat prefix", func(t *testing.T, r *Resources) {
			h := hcmOf(t, r)
			h.StatPrefix = ""
			r.Listeners[0].FilterChains[0].Filters[0].GetTypedConfig().Value = mustMarshal(t, h)
		}, "listener[apigw_http].filter_chains[0].filters[0].typed_config (envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager): invalid HttpConnectionManager.StatPrefix"},
		{"ext_authz nested two Anys deep", func(t *testing.T, r *Resources) {
			h := hcmOf(t, r)
			e := &extauthzv3.ExtAuthz{StatusOnError: &typev3.HttpStatus{}} // status 0
			for _, f := range h.HttpFilters {
				if f.Name == FilterExtAuthz {
					f.ConfigType = &hcmv3.HttpFilter_TypedConfig{TypedConfig: mustAny(t, e)}
				}
			}
			r.Listeners[0].FilterChains[0].Filters[0].GetTypedConfig().Value = mustMarshal(t, h)
		}, "http_filters[0].typed_config (envoy.extensions.filters.http.ext_authz.v3.ExtAuthz)"},
		{"per-route config", func(t *testing.T, r *Resources) {
			rt := r.Routes[0].VirtualHosts[0].Routes[0]
			rt.TypedPerFilterConfig[FilterExtAuthz] = mustAny(t, &extauthzv3.ExtAuthzPerRoute{}) // no override
		}, "typed_per_filter_config[envoy.filters.http.ext_authz]"},
		{"unknown Any type", func(t *testing.T, r *Resources) {
			r.Routes[0].VirtualHosts[0].Routes[0].TypedPerFilterConfig["x"] = &anypb.Any{TypeUrl: "type.googleapis.com/no.such.Type"}
		}, "cannot unpack type.googleapis.com/no.such.Type"},
		{"plain ValidateAll", func(t *testing.T, r *Resources) {
			r.Clusters[0].ConnectTimeout = nil
			r.Clusters[0].LbPolicy = 99
		}, "cluster[apigw_authz]: invalid Cluster.LbPolicy"},
		{"duplicate name", func(t *testing.T, r *Resources) {
			r.Clusters = append(r.Clusters, r.Clusters[0])
		}, `cluster "apigw_authz" is defined twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := translate(t, load(t, filepath.Join("testdata", "mock.input.yaml")))
			tt.breakR(t, res)
			err := res.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate = %v\nwant an error containing %q", err, tt.want)
			}
		})
	}
}

func TestSnapshotConsistency(t *testing.T) {
	res := translate(t, load(t, filepath.Join("testdata", "channels.input.yaml")))
	missing := *res
	missing.Endpoints = nil
	if _, err := missing.Snapshot("v"); err == nil || !strings.Contains(err.Error(), "inconsistent") {
		t.Errorf("missing EDS resource: %v", err)
	}
	extra := *res
	extra.Endpoints = append(append([]*endpointv3.ClusterLoadAssignment(nil), res.Endpoints...), &endpointv3.ClusterLoadAssignment{ClusterName: "orphan"})
	if _, err := extra.Snapshot("v"); err == nil {
		t.Error("unreferenced EDS resource accepted")
	}
	noRoutes := *res
	noRoutes.Routes = []*routev3.RouteConfiguration{}
	if _, err := noRoutes.Snapshot("v"); err == nil {
		t.Error("missing RDS resource accepted")
	}
}

// TestPublishRefusesUnmarshalable: a resource that cannot be marshalled
// (invalid UTF-8 in a string) fails Publish before the cache changes.
func TestPublishRefusesUnmarshalable(t *testing.T) {
	s := NewServer(nil, Options{})
	good := loadYAML(t, "good", `groups: [{name: g, apis: [{name: a, path: /a, backend: {mock: {}}}]}]`)
	if err := s.Publish(context.Background(), good); err != nil {
		t.Fatal(err)
	}
	bad := loadYAML(t, "bad", `groups: [{name: g, apis: [{name: a, path: /b, backend: {mock: {}}}]}]`)
	bad.Groups[0].Name = "g\xff"
	if err := s.Publish(context.Background(), bad); err == nil {
		t.Fatal("published a snapshot that cannot be marshalled")
	}
	if v := s.Status().Version; v != good.Version {
		t.Errorf("version %s after a refused Publish, want %s", v, good.Version)
	}
}

func mustAny(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestIncrementalValidation: a validation that knows the hashes of a
// previous one skips only messages with the same bytes; a changed message
// is validated in full, and versions change exactly for changed resources.
func TestIncrementalValidation(t *testing.T) {
	in := filepath.Join("testdata", "policies.input.yaml")
	first, err := translate(t, load(t, in)).validate(&validSet{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		change    func(t *testing.T, r *Resources)
		wantErr   string
		unchanged []string // type URLs whose versions stay
	}{
		{"same configuration", func(*testing.T, *Resources) {}, "", []string{resourcev3.ListenerType, resourcev3.RouteType, resourcev3.ClusterType}},
		{"broken route revalidated", func(t *testing.T, r *Resources) {
			rt := r.Routes[0].VirtualHosts[0].Routes[1]
			rt.TypedPerFilterConfig = map[string]*anypb.Any{FilterExtAuthz: mustAny(t, &extauthzv3.ExtAuthzPerRoute{})}
		}, "route_configuration[apigw].virtual_hosts[0].routes[1].typed_per_filter_config[envoy.filters.http.ext_authz]", nil},
		{"broken virtual host revalidated", func(t *testing.T, r *Resources) {
			r.Routes[0].VirtualHosts[0].Domains = nil
		}, "route_configuration[apigw].virtual_hosts[0]: invalid VirtualHost.Domains", nil},
		{"one route changed", func(t *testing.T, r *Resources) {
			r.Routes[0].VirtualHosts[0].Routes[0].Name += "-x"
		}, "", []string{resourcev3.ListenerType, resourcev3.ClusterType}},
		{"one cluster changed", func(t *testing.T, r *Resources) {
			r.Clusters[0].ConnectTimeout = durationpb.New(7 * time.Second)
		}, "", []string{resourcev3.ListenerType, resourcev3.RouteType}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := translate(t, load(t, in))
			tt.change(t, res)
			v, err := res.validate(first.valid, nil, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("validate = %v, want an error containing %q", err, tt.wantErr)
				}
				if plain := res.Validate(); plain == nil || plain.Error() != err.Error() {
					t.Errorf("Validate = %v, want the same error", plain)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for typ, versions := range first.versions {
				same := maps.Equal(versions, v.versions[typ])
				if want := slices.Contains(tt.unchanged, typ); same != want {
					t.Errorf("%s versions unchanged %v, want %v", typ, same, want)
				}
			}
		})
	}
}

// TestVersionsMatchContent: resource versions are equal for equal
// resources and differ otherwise, across translations.
func TestVersionsMatchContent(t *testing.T) {
	a, err := translate(t, syntheticSnapshot(t, 300, 0)).validate(&validSet{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := translate(t, syntheticSnapshot(t, 300, 0)).validate(&validSet{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := translate(t, syntheticSnapshot(t, 300, 1)).validate(a.valid, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(a.versions, b.versions, maps.Equal) || a.version() != b.version() {
		t.Error("equal configurations have different versions")
	}
	if maps.Equal(a.versions[resourcev3.RouteType], c.versions[resourcev3.RouteType]) || a.version() == c.version() {
		t.Error("a changed route configuration kept its version")
	}
	if !maps.Equal(a.versions[resourcev3.ClusterType], c.versions[resourcev3.ClusterType]) {
		t.Error("unchanged clusters changed versions")
	}
}

// TestReusedVirtualHosts: validating a translation that reused groups of a
// previous one (the very virtual-host messages) skips those virtual hosts
// yet learns exactly what validating from scratch learns: the same
// versions, and a wire route configuration that decodes to the
// translation.
func TestReusedVirtualHosts(t *testing.T) {
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*.input.yaml"))
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			snap := load(t, in)
			res, memo, err := translateReusing(snap, Options{}, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			first, err := res.validatePlans(&validSet{}, nil, nil, memo.plans(), nil)
			if err != nil {
				t.Fatal(err)
			}
			wireDecodesTo(t, first, res.Routes[0], translate(t, snap).Routes[0])
			again, _, err := translateReusing(load(t, in), Options{}, 0, memo)
			if err != nil {
				t.Fatal(err)
			}
			// A broken reused virtual host shows that it is not validated
			// again: the translation never changes a message it reused.
			vh := again.Routes[0].GetVirtualHosts()
			if len(vh) == 0 {
				t.Skip("no virtual hosts")
			}
			if first.vhosts[vh[0]] == nil {
				t.Fatal("the unchanged group was not reused")
			}
			domains := vh[0].Domains
			vh[0].Domains = nil
			v, err := again.validate(first.valid, first.vhosts, first.resources)
			vh[0].Domains = domains
			if err != nil {
				t.Fatalf("a reused virtual host was validated again: %v", err)
			}
			if !maps.EqualFunc(first.versions, v.versions, maps.Equal) || first.version() != v.version() {
				t.Error("reusing changed the versions")
			}
			wireDecodesTo(t, v, again.Routes[0], translate(t, snap).Routes[0])
		})
	}
	t.Run("one group changed", func(t *testing.T) {
		res, memo, err := translateReusing(syntheticSnapshot(t, 1000, 0), Options{}, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		first, err := res.validatePlans(&validSet{}, nil, nil, memo.plans(), nil)
		if err != nil {
			t.Fatal(err)
		}
		changed, memo, err := translateReusing(syntheticSnapshot(t, 1000, 1), Options{}, 0, memo)
		if err != nil {
			t.Fatal(err)
		}
		reused := 0
		for _, vh := range changed.Routes[0].VirtualHosts {
			if first.vhosts[vh] != nil {
				reused++
			}
		}
		if want := len(changed.Routes[0].VirtualHosts) - 1; reused != want {
			t.Fatalf("%d virtual hosts reused, want %d", reused, want)
		}
		hashedClusters := 0
		for _, c := range changed.Clusters {
			if _, ok := first.resources.get(c); ok {
				hashedClusters++
			}
		}
		if hashedClusters == 0 {
			t.Error("no cluster of the unchanged groups is the message hashed before")
		}
		incremental, err := changed.validatePlans(first.valid, first.vhosts, first.resources, memo.plans(), first.lists)
		if err != nil {
			t.Fatal(err)
		}
		scratch, err := translate(t, syntheticSnapshot(t, 1000, 1)).validate(&validSet{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.EqualFunc(scratch.versions, incremental.versions, maps.Equal) || scratch.version() != incremental.version() {
			t.Error("incremental validation gives other versions than validating from scratch")
		}
		if maps.Equal(first.versions[resourcev3.RouteType], incremental.versions[resourcev3.RouteType]) {
			t.Error("the changed route configuration kept its version")
		}
		wireDecodesTo(t, incremental, changed.Routes[0], translate(t, syntheticSnapshot(t, 1000, 1)).Routes[0])
	})
}

// wireDecodesTo checks that the wire form of rc decodes to want (rc
// itself, or rc's virtual hosts with their routes when they were
// translated incrementally).
func wireDecodesTo(t *testing.T, v *validation, rc, want *routev3.RouteConfiguration) {
	t.Helper()
	w := v.wire(rc)
	if w == proto.Message(rc) {
		t.Fatal("no wire form: a virtual host has no encoding")
	}
	b, err := cachev3.MarshalResource(w)
	if err != nil {
		t.Fatal(err)
	}
	got := &routev3.RouteConfiguration{}
	if err := proto.Unmarshal(b, got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) {
		t.Errorf("wire form decodes to another route configuration:\n%s", firstDiff(string(marshalJSON(t, want)), string(marshalJSON(t, got))))
	}
}

// TestValidSet: a set extended by later validations has the hashes of
// every one of them; it is flattened to the hashes of the configuration
// when it gets deep or holds more than twice those.
func TestValidSet(t *testing.T) {
	h := func(i int) msgHash { return msgHash{byte(i), byte(i >> 8)} }
	hs := func(from, to int) []msgHash {
		var out []msgHash
		for i := from; i < to; i++ {
			out = append(out, h(i))
		}
		return out
	}
	tests := []struct {
		name       string
		steps      [][2]int // each validation's fresh hashes; the configuration is 0..100 plus them
		wantDepth  int
		wantHas    []int
		wantHasNot []int
	}{
		{"one", [][2]int{{0, 100}}, 1, []int{0, 99}, []int{100}},
		{"a few small changes", [][2]int{{0, 100}, {100, 101}, {101, 102}}, 3, []int{0, 100, 101}, []int{102}},
		{"deep: flattened", [][2]int{{0, 100}, {100, 101}, {101, 102}, {102, 103}, {103, 104}, {104, 105}, {105, 106}, {106, 107}, {107, 108}}, 1, []int{0, 107}, []int{100, 106}},
		{"large: flattened", [][2]int{{0, 100}, {200, 300}, {300, 400}, {400, 500}, {500, 600}}, 1, []int{0, 99, 500, 599}, []int{200, 299, 400}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &validSet{}
			for _, st := range tt.steps {
				all := append(hs(0, 100), hs(st[0], st[1])...)
				if st[0] == 0 {
					all = hs(0, 100)
				}
				s = s.extend(hs(st[0], st[1]), all)
				for _, x := range all {
					if !s.has(x) {
						t.Fatalf("after %v: hash %d of the configuration missing", st, x[0])
					}
				}
			}
			if s.depth != tt.wantDepth {
				t.Errorf("depth %d, want %d", s.depth, tt.wantDepth)
			}
			for _, i := range tt.wantHas {
				if !s.has(h(i)) {
					t.Errorf("hash %d missing", i)
				}
			}
			for _, i := range tt.wantHasNot {
				if s.has(h(i)) {
					t.Errorf("hash %d kept", i)
				}
			}
		})
	}
}
