package xds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoverygrpc "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/apigwio/apigw/internal/model"
)

// nodeKey is the one snapshot-cache key: every Envoy node gets the same
// configuration, including nodes that connect after a Publish.
const nodeKey = "apigw"

// oneNode maps every node to nodeKey.
type oneNode struct{}

// ID implements cachev3.NodeHash.
func (oneNode) ID(*corev3.Node) string { return nodeKey }

// Server serves the translated configuration to Envoy over ADS
// (state-of-the-world and delta) and the per-type xDS services.
type Server struct {
	log   *slog.Logger
	opts  Options
	cache cachev3.SnapshotCache
	// secretCache serves the secrets (SDS) alone.
	secretCache cachev3.SnapshotCache
	xds         serverv3.Server
	tracker     *tracker

	mu sync.Mutex // guards the fields below
	// last is what the last Publish learnt: the message hashes found valid
	// and the virtual hosts' encodings (see Resources.validate), and the
	// translation of each group; replaced on each Publish, so it stays the
	// size of one configuration.
	last *validation
	memo *groupMemo
	// lastSnap is the snapshot last and memo were made from (the groups
	// a staged publish uses until their turn; see stagedPrepare).
	lastSnap *model.Snapshot
	// current is the snapshot of the configuration last committed, served
	// is what the cache serves: current plus the draining clusters, kept
	// from the time in retired (see Options.ClusterDrain).
	current, served *cachev3.Snapshot
	// currentClusters and currentEndpoints are the ids of the cluster
	// and endpoint lists (resourceList.id) of current, 0 if not known.
	currentClusters, currentEndpoints uint64
	// servedExtra are the clusters served has and current has not (the
	// draining ones); servedGen is the number setSnapshot gave served
	// (deltaahead.go).
	servedExtra []string
	servedGen   uint64
	// delta is the cache the delta server reads (deltaversions.go).
	delta      presetVersions
	retired    map[string]time.Time
	drainTimer *time.Timer
	// secrets are the certificates served over SDS (sds.go), by name;
	// set with setSecretsLocked.
	secrets map[string]*secretState
	// shownCerts is the status of secrets, for readers that must not wait
	// for s.mu (CertificateStatus).
	shownCerts atomic.Pointer[[]CertificateStatus]
	// shown is the version served and when it was published (nil before
	// the first Publish); atomic, so that Status never waits for s.mu.
	shown atomic.Pointer[published]
	// encodings are the encodings of served messages that Prepare knows
	// (validation.served), for the delta responses (encoded).
	encodings atomic.Pointer[map[proto.Message][]byte]
	// stageAPIs is how many APIs each stage of a publish that translates
	// many translates (stagedPrepare); 0 translates them at once.
	stageAPIs int
}

// encoded returns m's encoding if m is a message of the last configuration
// served whose encoding Prepare made (the route configuration), else nil.
// The bytes are read-only.
func (s *Server) encoded(m proto.Message) []byte {
	if p := s.encodings.Load(); p != nil {
		return (*p)[m]
	}
	return nil
}

// published is a version served and when.
type published struct {
	version string
	at      time.Time
}

// NewServer returns a server with no configuration: Envoy nodes that
// connect before the first Publish wait for it.
func NewServer(logger *slog.Logger, opts Options) *Server {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{log: logger, opts: opts.withDefaults(), tracker: newTracker(logger), stageAPIs: defaultStageAPIs}
	s.cache = cachev3.NewSnapshotCache(true, oneNode{}, cpLogger{logger})
	// Secrets are served from a cache of their own, without ADS's
	// all-names rule (sds.go explains why), multiplexed on the same
	// stream.
	s.secretCache = cachev3.NewSnapshotCache(false, oneNode{}, cpLogger{logger})
	s.delta = newPresetVersions(s.cache, s.encoded)
	s.xds = serverv3.NewServer(context.Background(), muxSecrets(s.delta, s.secretCache), s.tracker)
	return s
}

// Register adds the xDS services to g: ADS (state-of-the-world and delta)
// and the per-type listener, route, cluster and endpoint services.
func (s *Server) Register(g *grpc.Server) {
	discoverygrpc.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
	listenerservice.RegisterListenerDiscoveryServiceServer(g, s.xds)
	routeservice.RegisterRouteDiscoveryServiceServer(g, s.xds)
	clusterservice.RegisterClusterDiscoveryServiceServer(g, s.xds)
	endpointservice.RegisterEndpointDiscoveryServiceServer(g, s.xds)
}

// Publish translates snap, validates the result (ValidateAll on every
// resource and every packed Any, snapshot consistency) and serves it to
// every node. On error nothing changes: nodes keep the last good
// configuration.
//
// The xDS version is snap.Version (a content hash; a hash of the resources
// when it is empty). Publishing the version already served is a no-op, so
// Envoy sees no update for an unchanged configuration.
func (s *Server) Publish(ctx context.Context, snap *model.Snapshot) error {
	commit, err := s.Prepare(ctx, snap)
	if err != nil {
		return err
	}
	return commit()
}

// Prepare does the work of Publish that can fail (translation,
// validation, snapshot consistency) without serving anything, and returns
// the function that serves the result (which fails only if the cache
// refuses it). Nothing changes for Envoy until commit runs, so Prepare
// can run alongside the Check side's own staging of snap, and a
// configuration either of them refuses is never served.
func (s *Server) Prepare(ctx context.Context, snap *model.Snapshot) (commit func() error, err error) {
	if snap == nil {
		return nil, errors.New("xds: nil snapshot")
	}
	start := time.Now()
	s.mu.Lock()
	last, memo, lastSnap := s.last, s.memo, s.lastSnap
	s.mu.Unlock()
	if !memo.encodedIn(last) {
		memo = nil // cannot happen: they are replaced together
	}
	// A publish that translates many APIs (the first of a large
	// configuration; under a memory limit, a change every group depends
	// on too) is made in stages, so that its peak heap is not all its
	// route messages at once.
	var staged *staging
	if last == nil || stageReloads() {
		staged = stagedPrepare(snap, lastSnap, staging{v: last, memo: memo}, s.opts, s.stageAPIs)
	}
	if staged != nil {
		memo = staged.memo
	}
	// Unchanged groups (same digest) reuse their translation, so a
	// one-API change translates one group.
	res, memo, err := translateReusing(snap, s.opts, 0, memo)
	if err != nil {
		return nil, err
	}
	base := last
	if staged != nil {
		base = staged.v // its translation and encodings are reused
	}
	known, done, hashed := base.reused()
	var lists map[string]*resourceList
	if last != nil {
		// Diffed with the configuration served (a stage's lists are not).
		hashed, lists = last.resources, last.lists
	}
	// Validation hashes every message (each resource, each virtual host and
	// route of the route configuration) and validates in full the ones not
	// found valid by the last Publish: a one-API change validates one
	// route. A reused group's virtual host and clusters (the very
	// messages) are not even hashed again. The hashes also make the resource versions of delta
	// xDS, and each virtual host is encoded once: the route configuration
	// sent to Envoy is assembled from those encodings. A resource that
	// cannot be marshalled fails here, before the cache is touched.
	v, err := res.validatePlans(known, done, hashed, memo.plans(), lists)
	if err != nil {
		return nil, err
	}
	version := snap.Version
	if version == "" {
		version = v.version()
	}
	cs, err := res.snapshot(version, v)
	if err != nil {
		return nil, err
	}
	cs.VersionMap = v.versions
	plain := plainIndexes(v)
	clusters, endpoints := clusterChanges(v), changesOf(v, resourcev3.EndpointType)
	routes := v.routes(res.Routes[0])
	memory := estimateEnvoyMemory(routes, len(res.Clusters))
	// What the next Prepare reuses, without the route messages: they are
	// encoded now (the served route configuration is its encodings).
	memo = memo.lean(v)
	// Certificates (SDS): read now, so that a configuration naming files
	// that do not load is refused; unchanged files are not read again.
	s.mu.Lock()
	prevSecrets := s.secrets
	s.mu.Unlock()
	secrets, err := stageSecrets(snap, prevSecrets, time.Now())
	if err != nil {
		return nil, err
	}
	return func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		// What this translation learnt serves the next one, even when the
		// version is unchanged.
		s.last, s.memo, s.lastSnap = v, memo, snap
		for name, st := range secrets {
			// The certificate watcher may have read newer files since.
			if cur := s.secrets[name]; cur != nil && cur.spec == st.spec && cur.newer(st) {
				secrets[name] = cur
			}
		}
		secretsChanged := secretsVersion(secrets) != secretsVersion(s.secrets)
		s.setSecretsLocked(secrets)
		if last := s.shown.Load(); last != nil && version == last.version {
			if secretsChanged && s.current != nil {
				return s.serveSecretsLocked(ctx)
			}
			return nil
		}
		// The encodings of the messages about to be served, before they
		// are (the delta responses look them up).
		s.encodings.Store(&v.served)
		if err := s.serveLocked(ctx, cs, plain, clusters, endpoints); err != nil {
			return err
		}
		s.shown.Store(&published{version: version, at: time.Now()})
		s.tracker.setMemory(version, memory)
		if _, port, _ := net.SplitHostPort(snap.Server.AdvertiseAddress); port == "0" {
			s.log.Warn("xds: Envoy cannot reach the Check service at port 0; set server.advertise_address", "advertise_address", snap.Server.AdvertiseAddress)
		}
		attrs := []any{"version", version,
			"listeners", len(res.Listeners), "routes", routes, "clusters", len(res.Clusters),
			"endpoints", len(res.Endpoints), "envoy_memory_estimate_bytes", memory.Bytes, "duration", time.Since(start).Round(time.Millisecond)}
		if staged != nil {
			// Translated in stages, the last of them this one.
			attrs = append(attrs, "stages", staged.stages+1)
		}
		s.log.Info("xds configuration published", attrs...)
		return nil
	}, nil
}

// serveLocked serves cs, plus the clusters (and their endpoints) that the
// last served snapshot had and cs has not, for Options.ClusterDrain after
// they were first left out: Envoy may apply a cluster removal before the
// route update that stops using it (it did, Envoy 1.40 over delta ADS,
// answering 404 NC for the APIs whose backend changed), so a removal
// reaches Envoy only once the routes have long moved away. A timer serves
// cs alone when the drain is over. s.mu is held. plain are cs's indexes
// without TTLs (see indexedSnapshot), for the types that have one.
// changes are how cs's clusters differ from those of a snapshot: when
// that one is s.current, the clusters left out are the ones gone and
// those draining (retireLocked), else every served cluster is looked up
// in cs. endpoints are how cs's endpoints differ from a snapshot's; both
// let the delta answers look only at the names that may have changed
// (deltaahead.go).
func (s *Server) serveLocked(ctx context.Context, cs *cachev3.Snapshot, plain map[string]map[string]types.Resource, changes, endpoints listChanges) error {
	served := cs
	var keep []string
	if drain := s.opts.ClusterDrain; drain > 0 && s.served != nil {
		if keep = s.retireLocked(cs, changes, drain); len(keep) > 0 {
			served = withResources(cs, s.served, keep)
			if s.drainTimer != nil {
				s.drainTimer.Stop()
			}
			// cs is then current: nothing more is gone from it.
			again, againEndpoints := changes.settled(), endpoints.settled()
			s.drainTimer = time.AfterFunc(drain, func() {
				s.mu.Lock()
				defer s.mu.Unlock()
				if s.current == cs {
					if err := s.serveLocked(context.Background(), cs, plain, again, againEndpoints); err != nil {
						s.log.Error("xds: removing drained clusters", "error", err)
					}
				}
			})
		}
	}
	// Secrets first: a listener or cluster that names a new secret finds it.
	if err := s.serveSecretsLocked(ctx); err != nil {
		return err
	}
	var snap cachev3.ResourceSnapshot = served
	if served == cs && len(plain) > 0 {
		snap = &indexedSnapshot{Snapshot: cs, plain: plain}
	}
	gen, err := s.delta.setSnapshot(ctx, snap, s.aheadChangesLocked(changes, endpoints))
	if err != nil {
		return fmt.Errorf("xds: %w", err)
	}
	s.current, s.served, s.currentClusters, s.currentEndpoints = cs, served, changes.to, endpoints.to
	s.servedExtra, s.servedGen = keep, gen
	return nil
}

// aheadChangesLocked returns how the snapshot about to be served differs
// from s.served, for the delta answers (aheadChanges): for clusters and
// endpoints, the names gone from s.current's list or fresh in it
// (changes, endpoints: when diffed with s.current's lists), and the
// draining clusters (and their endpoints, which have their names) of
// s.served: any other name has the same version in s.served as in
// s.current, and in the new snapshot as in its list, unless it drains
// there — but the clusters kept draining were s.served's and are not
// the new list's, so they are names gone from s.current's list or
// draining already. s.mu is held.
func (s *Server) aheadChangesLocked(changes, endpoints listChanges) *aheadChanges {
	if s.served == nil || s.servedGen == 0 {
		return nil
	}
	out := &aheadChanges{from: s.servedGen, names: map[string][]string{}}
	for typeURL, ch := range map[string]struct {
		lc   listChanges
		from uint64
	}{resourcev3.ClusterType: {changes, s.currentClusters}, resourcev3.EndpointType: {endpoints, s.currentEndpoints}} {
		if !ch.lc.known || ch.lc.from == 0 || ch.lc.from != ch.from {
			continue
		}
		names := make([]string, 0, len(ch.lc.gone)+len(ch.lc.fresh)+len(s.servedExtra))
		names = append(append(append(names, ch.lc.gone...), ch.lc.fresh...), s.servedExtra...)
		out.names[typeURL] = names
	}
	return out
}

// retireLocked updates s.retired for serving cs (see serveLocked) and
// returns the clusters of s.served that cs has not and that are still
// draining. The clusters s.served has and cs has not are those of
// s.current that cs has not, and those s.served kept (s.retired's): with
// changes from s.current, only those are looked at; else every cluster
// s.served has. s.mu is held.
func (s *Server) retireLocked(cs *cachev3.Snapshot, changes listChanges, drain time.Duration) (keep []string) {
	now := time.Now()
	clusters := s.served.Resources[types.Cluster].Items
	next := cs.Resources[types.Cluster].Items
	if s.retired == nil {
		s.retired = map[string]time.Time{}
	}
	for name := range s.retired {
		if _, ok := clusters[name]; !ok {
			delete(s.retired, name)
		}
	}
	retire := func(name string) {
		if _, ok := next[name]; ok {
			delete(s.retired, name)
			return
		}
		since, ok := s.retired[name]
		if !ok {
			since, s.retired[name] = now, now
		}
		if now.Sub(since) < drain {
			keep = append(keep, name)
		} else {
			delete(s.retired, name)
		}
	}
	if !changes.known || changes.from == 0 || changes.from != s.currentClusters {
		for name := range clusters {
			retire(name)
		}
		return keep
	}
	draining := make([]string, 0, len(s.retired)+len(changes.gone))
	for name := range s.retired {
		draining = append(draining, name)
	}
	for _, name := range changes.gone {
		if _, ok := s.retired[name]; !ok {
			if _, ok := clusters[name]; ok {
				draining = append(draining, name)
			}
		}
	}
	for _, name := range draining {
		retire(name)
	}
	return keep
}

// withResources returns a copy of cs that also has the clusters names of
// from, and their endpoints (an EDS cluster's load assignment has its
// name), with their delta-xDS versions.
func withResources(cs, from *cachev3.Snapshot, names []string) *cachev3.Snapshot {
	out := &cachev3.Snapshot{Resources: cs.Resources, VersionMap: maps.Clone(cs.VersionMap)}
	for _, typ := range []types.ResponseType{types.Cluster, types.Endpoint} {
		url, _ := cachev3.GetResponseTypeURL(typ)
		items := maps.Clone(cs.Resources[typ].Items)
		if items == nil {
			items = map[string]types.ResourceWithTTL{}
		}
		versions := maps.Clone(out.VersionMap[url])
		if versions == nil && out.VersionMap != nil {
			versions = map[string]string{}
		}
		for _, name := range names {
			r, ok := from.Resources[typ].Items[name]
			if !ok {
				continue
			}
			items[name] = r
			if versions != nil {
				versions[name] = from.VersionMap[url][name]
			}
		}
		out.Resources[typ].Items = items
		if out.VersionMap != nil {
			out.VersionMap[url] = versions
		}
	}
	return out
}

// Status returns the served version and the ACK/NACK state of each node.
func (s *Server) Status() Status {
	// It never waits for a Publish in progress (s.mu).
	var st Status
	if p := s.shown.Load(); p != nil {
		st.Version, st.PublishedAt = p.version, p.at
	}
	st.Nodes, st.NodesTotal = s.tracker.snapshot()
	st.EnvoyMemory = s.tracker.envoyMemory()
	st.ACKs, st.NACKs = s.tracker.counts()
	st.Certificates = s.CertificateStatus()
	return st
}

// cpLogger sends go-control-plane's logs to slog (its info level is chatty,
// so it becomes debug).
type cpLogger struct{ l *slog.Logger }

func (c cpLogger) logf(level slog.Level, format string, args []any) {
	if c.l.Enabled(context.Background(), level) {
		c.l.Log(context.Background(), level, fmt.Sprintf(format, args...), "component", "go-control-plane")
	}
}

// Debugf implements go-control-plane's log.Logger.
func (c cpLogger) Debugf(format string, args ...any) { c.logf(slog.LevelDebug, format, args) }

// Infof implements go-control-plane's log.Logger (at debug level).
func (c cpLogger) Infof(format string, args ...any) { c.logf(slog.LevelDebug, format, args) }

// Warnf implements go-control-plane's log.Logger.
func (c cpLogger) Warnf(format string, args ...any) { c.logf(slog.LevelWarn, format, args) }

// Errorf implements go-control-plane's log.Logger.
func (c cpLogger) Errorf(format string, args ...any) { c.logf(slog.LevelError, format, args) }
