package xds

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/ratelimit/throttle"
)

// Resources are the Envoy resources of one snapshot, each list sorted by
// resource name. Messages are shared within them (for instance all routes
// of one deployment share their typed_per_filter_config map, packed Anys
// and rate limits): treat them as read-only.
type Resources struct {
	// Listeners (LDS): the HTTP listener, and the TLS listener when
	// listener.tls_port is set.
	Listeners []*listenerv3.Listener
	// Routes (RDS): the one route configuration.
	Routes []*routev3.RouteConfiguration
	// Clusters (CDS): backends, channels and the Check service.
	Clusters []*clusterv3.Cluster
	// Endpoints (EDS): one assignment per channel whose members are all IPs.
	Endpoints []*endpointv3.ClusterLoadAssignment
}

// Translate turns snap into Envoy resources. It is pure and deterministic:
// it reads nothing but its arguments, and equal inputs give equal outputs.
// It never panics; a snapshot it cannot translate gives an error naming the
// group and API at fault.
func Translate(snap *model.Snapshot, opts Options) (res *Resources, err error) {
	return translateWorkers(snap, opts, 0)
}

// translateWorkers is Translate with at most workers workers for the virtual
// hosts (0: by size and parallel.Workers, see virtualHosts).
func translateWorkers(snap *model.Snapshot, opts Options, workers int) (res *Resources, err error) {
	res, _, err = translateWith(snap, opts, workers, nil, false)
	return res, err
}

// translateReusing is translateWorkers reusing, for each group whose
// digest is unchanged, its translation memorised in reuse (nil: none). It
// also returns the memo of this translation's groups, for the next one.
// It is incremental: a virtual host it translates has no routes of its
// own, its memo's plan says what they are (see virtualHostPlan), and the
// validation of the result encodes them (Resources.validate with the
// memo's plans); an API of a changed group whose digest is unchanged is
// reused too. The result, so encoded, is the same as without reuse
// (TestReuseIsTranslation).
func translateReusing(snap *model.Snapshot, opts Options, workers int, reuse *groupMemo) (res *Resources, memo *groupMemo, err error) {
	return translateWith(snap, opts, workers, reuse, true)
}

// translateWith is translateReusing, incremental or not (whole virtual
// hosts, as Translate returns them).
func translateWith(snap *model.Snapshot, opts Options, workers int, reuse *groupMemo, incremental bool) (res *Resources, memo *groupMemo, err error) {
	if snap == nil {
		return nil, nil, errors.New("xds: nil snapshot")
	}
	defer func() {
		// Defence in depth: a bug must reject one configuration, not kill
		// the process that serves the last good one.
		if r := recover(); r != nil {
			res, memo, err = nil, nil, fmt.Errorf("xds: internal error translating snapshot %s: %v", snap.Version, r)
		}
	}()
	t := newTranslator(snap, opts.withDefaults())
	t.workers = workers
	t.reuse = reuse
	t.incremental = incremental
	rc := t.routeConfig()
	t.authzCluster()
	lis := t.listener()
	tlsLis := t.tlsListener(lis)
	if t.err != nil {
		return nil, nil, t.err
	}
	res = &Resources{
		Listeners: []*listenerv3.Listener{lis},
		Routes:    []*routev3.RouteConfiguration{rc},
	}
	if tlsLis != nil {
		res.Listeners = append(res.Listeners, tlsLis)
	}
	if idx := t.memo.clusterIndex(); idx != nil {
		// t.clusters has only the translation's own (the groups' are
		// in idx), which win over a group's of the same name, as in
		// merge.
		res.Clusters = withClusters(idx.list, t.clusters)
	} else {
		for _, name := range slices.Sorted(maps.Keys(t.clusters)) {
			res.Clusters = append(res.Clusters, t.clusters[name])
		}
	}
	for _, name := range slices.Sorted(maps.Keys(t.endpoints)) {
		res.Endpoints = append(res.Endpoints, t.endpoints[name])
	}
	return res, t.memo, nil
}

// translator holds the state of one Translate call.
type translator struct {
	snap       *model.Snapshot
	opts       Options
	defaultEnv string
	clusters   map[string]*clusterv3.Cluster
	endpoints  map[string]*endpointv3.ClusterLoadAssignment
	// ipTags maps an IP tag name to its CIDR ranges (source_ip conditions).
	ipTags map[string][]*corev3.CidrRange
	// rerouteHeaders are the headers set by the Check service that routes
	// match on (the app of an app condition): ext_authz must re-resolve the
	// route when it changes them.
	rerouteHeaders map[string]bool
	// tencent is true when a group answers errors in the tencent dialect.
	tencent bool
	// routeMisses is true when a tencent group with path environments has
	// miss routes (header_to_metadata and their local-reply mapper).
	routeMisses bool
	// maxMockBody is the longest direct-response body.
	maxMockBody int
	// bodySettings is the encoded BufferSettings of the routes whose
	// Check reads the body (bodyBuffering), built once.
	bodySettings []byte
	// authzPerRoute caches the packed ExtAuthzPerRoute of each API and
	// environment; shared read-only by all routes of that deployment.
	authzPerRoute map[[2]string]*anypb.Any
	// routeFilterMaps caches the typed_per_filter_config of the routes of
	// each API and environment (shared read-only by those routes).
	routeFilterMaps map[[2]string]map[string]*anypb.Any
	// rateLimitActions shares the rate-limit actions that do not depend on
	// the deployment (metadata and remote_address).
	rateLimitActions map[throttle.Entry]*routev3.RateLimit_Action
	// rateLimits caches the route rate limits of each API and environment;
	// shared read-only by all routes of that deployment.
	rateLimits map[[2]string][]*routev3.RateLimit
	// throttled is true when some route sends rate-limit descriptors (the
	// rate-limit filter is then needed).
	throttled bool
	// sharedAny and headerMatchers hold messages that many routes use
	// identically; sharing them (read-only) saves memory and time on large
	// configurations.
	sharedAny      map[string]*anypb.Any
	headerMatchers map[[2]string]*routev3.HeaderMatcher
	err            error
	// workers bounds the parallel translation of virtual hosts (0: auto).
	workers int
	// reuse holds the previous translation's groups, by digest (nil:
	// translate every group); memo receives this translation's.
	reuse, memo *groupMemo
	// incremental makes virtual hosts from plans (see virtualHostPlan).
	incremental bool
	// clusterList are the clusters sorted by name, in a group's part
	// (see translateGroup).
	clusterList []*clusterv3.Cluster
	// clusterBuf is where the API outputs' cluster lists are taken from,
	// in chunks of clusterChunk.
	clusterBuf   []*clusterv3.Cluster
	clusterChunk int
}

func newTranslator(snap *model.Snapshot, opts Options) *translator {
	t := &translator{
		snap:             snap,
		opts:             opts,
		defaultEnv:       snap.Settings.DefaultEnvironment,
		clusters:         map[string]*clusterv3.Cluster{},
		endpoints:        map[string]*endpointv3.ClusterLoadAssignment{},
		ipTags:           map[string][]*corev3.CidrRange{},
		rerouteHeaders:   map[string]bool{},
		authzPerRoute:    map[[2]string]*anypb.Any{},
		routeFilterMaps:  map[[2]string]map[string]*anypb.Any{},
		rateLimitActions: map[throttle.Entry]*routev3.RateLimit_Action{},
		rateLimits:       map[[2]string][]*routev3.RateLimit{},
		sharedAny:        map[string]*anypb.Any{},
		headerMatchers:   map[[2]string]*routev3.HeaderMatcher{},
	}
	if e := snap.DefaultEnvironment(); e != nil {
		t.defaultEnv = e.Name
	}
	return t
}

// fail records the first error.
func (t *translator) fail(format string, args ...any) {
	if t.err == nil {
		t.err = fmt.Errorf("xds: "+format, args...)
	}
}

// pack wraps m in an Any, marshalled deterministically so that equal
// configurations give equal bytes (and equal delta-xDS resource hashes).
func (t *translator) pack(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	if err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true}); err != nil {
		t.fail("cannot marshal %s: %v", m.ProtoReflect().Descriptor().FullName(), err)
	}
	return a
}

// shared packs the message made by mk once per translation under key.
func (t *translator) shared(key string, mk func() proto.Message) *anypb.Any {
	if a := t.sharedAny[key]; a != nil {
		return a
	}
	a := t.pack(mk())
	t.sharedAny[key] = a
	return a
}

// sharedHeader returns the one matcher for kind ("method" or "stage") and
// value, made by mk on first use.
func (t *translator) sharedHeader(kind, value string, mk func() *routev3.HeaderMatcher) *routev3.HeaderMatcher {
	key := [2]string{kind, value}
	if h := t.headerMatchers[key]; h != nil {
		return h
	}
	h := mk()
	t.headerMatchers[key] = h
	return h
}
