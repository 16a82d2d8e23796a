// Package server runs the gateway service: the ext_authz Check service, the
// gRPC health service and the xDS server on one gRPC port, the admin HTTP
// endpoints on another, and the configuration reloader that feeds them.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/apigwio/apigw/authz"
	"github.com/apigwio/apigw/authz/lockout"
	"github.com/apigwio/apigw/authz/nonce"
	"github.com/apigwio/apigw/authz/quota"
	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/config/reload"
	"github.com/apigwio/apigw/internal/grpccodec"
	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/internal/parallel"
	"github.com/apigwio/apigw/internal/release"
	"github.com/apigwio/apigw/internal/release/follow"
	"github.com/apigwio/apigw/internal/server/admin"
	"github.com/apigwio/apigw/internal/server/metrics"
	"github.com/apigwio/apigw/ratelimit"
	"github.com/apigwio/apigw/ratelimit/throttle"
)

// apply makes snap the configuration of every side, in the order that
// keeps Envoy and Check in step:
//
//  1. everything that can refuse runs first, changing nothing: the rate
//     limits are validated, the Check side (token key sets) prepared, and
//     the xDS side (translation) prepared;
//  2. Check switches to snap: it knows the added APIs before Envoy routes
//     to them, and still answers for the removed ones for
//     authz.RemovalGrace, while Envoy may still route them;
//  3. Envoy gets the new routes (if that fails, Check goes back);
//  4. the rate limiter switches.
//
// The steps run one after the other on the reloading goroutine: a reload
// is one goroutine of work (plus parallel.Workers for its parallel
// parts), so that with parallel.KeepOneFree a processor stays free for
// the servers. Preparing the xDS side at the same time as the Check side
// kept both processors of a 2-core machine busy, and an admin or Check
// request waited for the scheduler's 10 ms preemption.
func (s *Server) apply(ctx context.Context, snap *model.Snapshot, x XDS) error {
	commitLimits, err := s.limiter.Prepare(s.limits.Config(snap))
	if err != nil {
		return fmt.Errorf("rate limits: %w", err)
	}
	if err := s.authz.Stage(ctx, snap); err != nil {
		return err
	}
	var commitXDS func() error
	if x != nil {
		if commitXDS, err = x.Prepare(ctx, snap); err != nil {
			return err
		}
	}
	if err := s.authz.Activate(ctx, snap); err != nil {
		return err
	}
	if commitXDS != nil {
		if err := commitXDS(); err != nil {
			s.authz.Revert()
			return err
		}
	}
	s.authz.Committed()
	commitLimits()
	s.release.soon()
	// /debug/config's summary of the new configuration (~20 ms of CPU at
	// 100,000 APIs) is made now, once Check and Envoy have it and before
	// the reloader makes it current, so that the admin port answers with
	// bytes (TestAdminViewsPrepared) and the summary is never made at the
	// same time as a reload.
	s.views.Prepare(snap)
	return nil
}

// XDS is the xDS side as the server wires it (implemented by xds.Server).
type XDS interface {
	// Register adds the xDS services to the gRPC server.
	Register(*grpc.Server)
	// Publish translates and serves snap; on error nothing changes.
	Publish(context.Context, *model.Snapshot) error
	// Prepare translates snap without serving it; commit serves it. On
	// error nothing changes.
	Prepare(context.Context, *model.Snapshot) (commit func() error, err error)
}

// Options configure a Server. Addresses left empty come from the
// configuration file.
type Options struct {
	// ConfigPath is the gateway configuration file.
	ConfigPath string
	// GRPCAddress overrides server.grpc_address.
	GRPCAddress string
	// GRPCReflection serves gRPC server reflection (for grpcurl). nil: on
	// when the gRPC listener is bound to a loopback address, off otherwise.
	GRPCReflection *bool
	// AdminAddress overrides server.admin_address.
	AdminAddress string
	// WatchInterval is how often the file is polled, as a fallback to
	// file-system events (0: default 1s; <0: never).
	WatchInterval time.Duration
	// ShutdownTimeout bounds the drain of in-flight calls. Default 10s.
	ShutdownTimeout time.Duration
	// Logger for everything. Default slog.Default().
	Logger *slog.Logger
	// XDS serves Envoy configuration; nil serves Check only.
	XDS XDS
	// Debug adds JSON documents to the admin endpoint (/debug/<name>).
	Debug map[string]func() any
	// RedisAddress overrides settings.throttling.redis_address and
	// redis_cluster: one Redis shared by replicas for rate-limit counters
	// and lockout.
	RedisAddress string
	// RedisCluster overrides settings.throttling.redis_address and
	// redis_cluster: the seed nodes of a Redis Cluster used instead of one
	// Redis. Set at most one of RedisAddress and RedisCluster.
	RedisCluster []string
	// Metrics receives the service's metrics, served at /metrics on the
	// admin port. Default: a new registry.
	Metrics *metrics.Registry
	// UnaryInterceptors run inside the panic recovery, around every unary
	// call (tests inject faults with them). A CheckRequest is pooled: an
	// interceptor must not keep it, its maps or nested messages after it
	// returns (strings may be kept; grpccodec.RegisterAuthorization).
	UnaryInterceptors []grpc.UnaryServerInterceptor
	// Pprof serves Go runtime profiles at /debug/pprof/ on the admin port.
	// Default off.
	Pprof bool
	// Store, when set, supplies each environment's current release: the
	// service serves the configuration file (server, listener, settings)
	// composed with them (release.Compose), applies each new current
	// release as a reload, and reports what it serves to the store. Start
	// fails when the store cannot be read within StoreStartTimeout.
	Store release.Store
	// StoreURL names the store in logs and /debug/releases (its
	// credentials are removed).
	StoreURL string
	// ReplicaID names this replica in the store. Default: the host name
	// and the admin address.
	ReplicaID string
	// StoreStartTimeout bounds the first read of the store. Default 30s.
	StoreStartTimeout time.Duration
}

// Server is a running gateway service.
type Server struct {
	opts     Options
	log      *slog.Logger
	reloader *reload.Reloader
	follower *follow.Follower
	authz    *authz.Service
	limiter  *ratelimit.Service
	// limits builds the limiter's configurations, reusing the unchanged
	// groups' descriptors.
	limits   throttle.Builder
	redis    redis.UniversalClient
	grpc     *grpc.Server
	health   *health.Server
	admin    *http.Server
	grpcLis  net.Listener
	recovery *recovery
	adminLis net.Listener
	ready    atomic.Bool
	// release returns the memory freed by a load to the operating system
	// soon after it (loading parses and translates the whole file the
	// first time, part of it on a change, and the garbage of that is far
	// larger than what the service then allocates between collections;
	// the Go runtime hands such pages back only slowly, so without this
	// the RSS stays at the load's peak, measured in docs/performance.md).
	release *memoryRelease
	// views are /debug/config's views of the configuration, prepared
	// after each reload.
	views  admin.ConfigViews
	cancel context.CancelFunc
	wg     sync.WaitGroup
	errs   chan error
}

// Start loads the configuration, starts listening and serves in the
// background. It fails if the configuration is refused or a port cannot be
// bound.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	interval := o.WatchInterval
	if interval == 0 {
		interval = time.Second
	} else if interval < 0 {
		interval = 0
	}
	s := &Server{opts: o, log: o.Logger, errs: make(chan error, 2), release: newMemoryRelease()}
	var err error
	s.reloader = reload.New(o.ConfigPath, config.Options{GRPCAddress: o.GRPCAddress, AdminAddress: o.AdminAddress}, interval, s.log,
		func(ctx context.Context, snap *model.Snapshot) error { return s.apply(ctx, snap, o.XDS) })
	var served *release.Current
	if o.Store != nil {
		s.follower = follow.New(follow.Options{Store: o.Store, URL: o.StoreURL, Logger: s.log, StartTimeout: o.StoreStartTimeout})
		if served, err = s.follower.Read(ctx); err != nil {
			return nil, err
		}
		s.reloader.SetComposer(s.follower.Composer(served))
	}
	snap, err := s.reloader.Prime(ctx)
	if err != nil {
		return nil, err
	}
	// Listen before anything else is started, so that a port in use fails
	// with nothing to clean up, and so that the address Envoy is told is
	// the one bound (a port 0 becomes the port picked).
	if s.grpcLis, err = net.Listen("tcp", snap.Server.GRPCAddress); err != nil {
		return nil, fmt.Errorf("gRPC listener on %s: %w", snap.Server.GRPCAddress, err)
	}
	if s.adminLis, err = net.Listen("tcp", snap.Server.AdminAddress); err != nil {
		s.grpcLis.Close()
		return nil, fmt.Errorf("admin listener on %s: %w", snap.Server.AdminAddress, err)
	}
	if g, a := s.grpcLis.Addr().String(), s.adminLis.Addr().String(); g != snap.Server.GRPCAddress || a != snap.Server.AdminAddress {
		s.reloader.SetAddresses(g, a)
		if snap, err = s.reloader.Prime(ctx); err != nil {
			return s.abort(err)
		}
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	authzOpts := authz.Options{Logger: s.log, Observer: o.Metrics}
	// The failure mode is not an option here: both the rate-limit service
	// (throttle.Config) and lockout read settings.throttling.failure_mode
	// from the snapshot in use, so a reload changes both.
	limiterOpts := ratelimit.Options{Logger: s.log}
	if s.redis, err = newRedisClient(o, snap.Settings.Throttling); err != nil {
		return s.abort(err)
	}
	if s.redis != nil {
		lo := snap.Settings.Lockout
		authzOpts.Lockout = lockout.NewRedis(s.redis, "apigw:lockout:", lockout.Policy{MaxFailures: lo.MaxFailures, Duration: lo.Duration})
		limiterOpts.Backend = ratelimit.NewRedis(s.redis, "apigw:rl:")
		authzOpts.Nonces = nonce.NewRedis(s.redis, "apigw:nonce:")
		authzOpts.Quotas = quota.NewRedis(s.redis, "apigw:quota:")
	}
	s.limiter = ratelimit.New(limiterOpts)
	if err := s.limiter.Update(s.limits.Config(snap)); err != nil {
		return s.abort(fmt.Errorf("config %s refused: rate limits: %w", o.ConfigPath, err))
	}
	if s.authz, err = authz.New(ctx, snap, authzOpts); err != nil {
		return s.abort(fmt.Errorf("config %s refused: %w", o.ConfigPath, err))
	}
	if o.XDS != nil {
		if err := o.XDS.Publish(ctx, snap); err != nil {
			return s.abort(fmt.Errorf("config %s refused by the xDS translator: %w", o.ConfigPath, err))
		}
	}

	s.recovery = &recovery{log: s.log}
	grpcOpts := GRPCServerOptions(snap.Settings.MaxBodyBytes)
	if snap.Server.TLS != nil {
		// TLS is set up at start: a change of server.tls in the
		// configuration needs a restart; the files it names are re-read
		// when they change (tls.go).
		files, err := newTLSFiles(snap.Server.TLS, s.log)
		if err != nil {
			return s.abort(err)
		}
		grpcOpts = append(grpcOpts, grpc.Creds(credentials.NewTLS(files.Config())))
	}
	grpcOpts = append(grpcOpts,
		grpc.ChainUnaryInterceptor(append([]grpc.UnaryServerInterceptor{s.recovery.unary}, o.UnaryInterceptors...)...),
		grpc.ChainStreamInterceptor(s.recovery.stream, s.release.stream))
	s.grpc = grpc.NewServer(grpcOpts...)
	if pooledCheckRequests {
		grpccodec.RegisterAuthorization(s.grpc, s.authz)
	} else {
		authv3.RegisterAuthorizationServer(s.grpc, s.authz)
	}
	rlsv3.RegisterRateLimitServiceServer(s.grpc, s.limiter)
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	if o.XDS != nil {
		o.XDS.Register(s.grpc)
	}
	reflect := isLoopback(s.grpcLis.Addr())
	if o.GRPCReflection != nil {
		reflect = *o.GRPCReflection
	}
	if reflect {
		reflection.Register(s.grpc)
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(authv3.Authorization_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(rlsv3.RateLimitService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)

	debug := map[string]func() any{
		"reload":    s.reloadStatus,
		"ratelimit": func() any { return s.limiter.Stats() },
		"authz":     func() any { return s.authz.Stats() },
		"quotas":    func() any { return s.authz.QuotaUsage() },
	}
	if s.follower != nil {
		s.follower.Started(served)
		s.follower.SetReplicaID(replicaID(o.ReplicaID, s.adminLis.Addr()))
		debug["releases"] = s.releasesStatus
	}
	for k, v := range o.Debug {
		debug[k] = v
	}
	s.registerMetrics(o.Metrics)
	s.admin = &http.Server{
		Handler: admin.NewHandler(admin.Options{
			Ready:    s.ready.Load,
			Snapshot: s.reloader.Current,
			Debug:    debug,
			Pprof:    o.Pprof,
			Observe:  o.Metrics.AdminRequest,
			Views:    &s.views,
			Extra: map[string]http.Handler{
				"GET /metrics":       o.Metrics.Handler(),
				"POST /debug/reload": http.HandlerFunc(s.reloadNow),
			},
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}

	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(3)
	go func() {
		defer s.wg.Done()
		if err := s.grpc.Serve(s.grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.errs <- fmt.Errorf("gRPC server: %w", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		if err := s.admin.Serve(s.adminLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.errs <- fmt.Errorf("admin server: %w", err)
		}
	}()
	go func() {
		defer s.wg.Done()
		s.reloader.Run(runCtx)
	}()
	if s.follower != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.follower.Run(runCtx, s.reloader)
		}()
	}
	if w, ok := o.XDS.(certificateWatcher); ok {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			w.WatchCertificates(runCtx)
		}()
	}
	s.ready.Store(true)
	// From now on a reload leaves a processor for the servers.
	parallel.KeepOneFree()
	go s.views.Prepare(snap)
	s.release.soon()
	// One line per listener, with the bound address (the real port when :0
	// was asked), once both serve.
	services := "ext_authz Check, rate limit, health"
	if o.XDS != nil {
		services = "ext_authz Check, xDS (ADS), rate limit, health"
	}
	s.log.Info("listening", "listener", "grpc", "address", s.grpcLis.Addr().String(),
		"services", services, "reflection", reflect)
	s.log.Info("listening", "listener", "admin", "address", s.adminLis.Addr().String(),
		"url", "http://"+s.adminLis.Addr().String()+"/")
	attrs := []any{"config", o.ConfigPath}
	if s.follower != nil {
		attrs = append(attrs, "store", follow.Redact(o.StoreURL), "releases", follow.Describe(served))
	}
	s.log.Info("apigw ready", append(attrs, "version", snap.Version)...)
	return s, nil
}

// replicaID is id, or by default the host name and the admin address.
func replicaID(id string, admin net.Addr) string {
	if id != "" {
		return id
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	return host + "/" + admin.String()
}

// releasesStatus is /debug/releases: what this replica serves of each
// environment and the store's state, and the replicas the store lists
// (asked within a few seconds, and not at all while the store is
// unavailable; never waits for an apply).
func (s *Server) releasesStatus() any {
	type doc struct {
		follow.Status
		Replicas      []release.ReplicaStatus `json:"replicas"`
		ReplicasError string                  `json:"replicas_error,omitempty"`
	}
	d := doc{Status: s.follower.Status()}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	reps, err := s.follower.Replicas(ctx)
	if err != nil {
		d.ReplicasError = err.Error()
	}
	d.Replicas = reps
	return d
}

// Follower is the release-store follower (nil without a store).
func (s *Server) Follower() *follow.Follower { return s.follower }

// isLoopback reports whether addr is a loopback TCP address.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// abort releases what a failed Start opened (listeners, the Check
// service's token verifier, the Redis client) and returns err.
func (s *Server) abort(err error) (*Server, error) {
	for _, l := range []net.Listener{s.grpcLis, s.adminLis} {
		if l != nil {
			_ = l.Close()
		}
	}
	if s.authz != nil {
		s.authz.Close()
	}
	s.closeRedis()
	return nil, err
}

// pooledCheckRequests: Check requests are decoded into pooled messages
// (grpccodec.RegisterAuthorization). Off only in BenchmarkCheckOverGRPC,
// which compares the two.
var pooledCheckRequests = true

// streamWorkersPerCore is how many stream workers the gRPC server keeps
// per core (GRPCServerOptions): enough for the calls Envoy keeps in flight
// (its connections times their concurrent requests) to find one waiting,
// each keeping a stack grown to the Check path's depth (tens of KiB).
const streamWorkersPerCore = 64

// GRPCServerOptions are the gRPC server settings of the service (the
// benchmark's no-op server has them with -options apigw): keepalives that
// suit Envoy's long-lived connections, a receive limit that fits a
// forwarded body of maxBody bytes, the codec, its buffer pool and a pool
// of stream workers.
func GRPCServerOptions(maxBody int64) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.MaxRecvMsgSize(int(maxBody) + 1<<20),
		// CheckResponses encoded by vtprotobuf (grpccodec).
		grpc.ForceServerCodecV2(grpccodec.New()),
		// Frame buffers not zeroed, in closer size classes; a large
		// request's body is kept in one until its Check returns.
		experimental.BufferPool(grpccodec.BufferPool()),
		// A pool of goroutines runs the calls instead of a new goroutine
		// per call (whose stack grows again on every call: 13-14 % of the
		// CPU under load). gRPC hands a call to a worker only if one is
		// waiting, and a worker waits for its call's request to arrive, so
		// a worker per core is almost never free with Envoy's tens of
		// calls in flight: streamWorkersPerCore are.
		grpc.NumStreamWorkers(uint32(streamWorkersPerCore * runtime.GOMAXPROCS(0))),
	}
}

// newRedisClient returns the client of the shared store: a cluster client
// for a Redis Cluster, a plain one for one Redis, nil for none (memory).
// The Options win over the configuration.
func newRedisClient(o Options, th model.Throttling) (redis.UniversalClient, error) {
	addr, cluster := th.RedisAddress, th.RedisCluster
	if o.RedisAddress != "" || len(o.RedisCluster) > 0 {
		addr, cluster = o.RedisAddress, o.RedisCluster
	}
	if addr != "" && len(cluster) > 0 {
		return nil, errors.New("set either a Redis address or Redis Cluster nodes, not both")
	}
	if addr == "" && len(cluster) == 0 {
		return nil, nil
	}
	// Store failures are counted and logged (rate-limited) by the
	// components; go-redis's own per-dial lines would flood the log.
	redis.SetLogger(quietRedisLogger{})
	password := string(th.RedisPassword.Bytes())
	mode := "open"
	if th.FailClosed {
		mode = "closed"
	}
	// go-redis picks the client: a cluster client for cluster nodes (one
	// seed node included), a plain one for one address.
	opts := &redis.UniversalOptions{
		Addrs:                 []string{addr},
		IsClusterMode:         len(cluster) > 0,
		Password:              password,
		DialTimeout:           time.Second,
		ReadTimeout:           200 * time.Millisecond,
		WriteTimeout:          200 * time.Millisecond,
		ContextTimeoutEnabled: true,
		PoolSize:              64, // per node for a cluster
	}
	if opts.IsClusterMode {
		opts.Addrs = cluster
		o.Logger.Info("shared state in Redis Cluster", "nodes", cluster, "failure_mode", mode)
	} else {
		o.Logger.Info("shared state in Redis", "address", addr, "failure_mode", mode)
	}
	return redis.NewUniversalClient(opts), nil
}

// GRPCAddr is the bound gRPC address.
func (s *Server) GRPCAddr() net.Addr { return s.grpcLis.Addr() }

// AdminAddr is the bound admin address.
func (s *Server) AdminAddr() net.Addr { return s.adminLis.Addr() }

// Reload reloads the configuration now (as SIGHUP does).
func (s *Server) Reload() { s.reloader.Trigger() }

// Reloader gives access to the reload status.
func (s *Server) Reloader() *reload.Reloader { return s.reloader }

// Shutdown stops accepting work, lets in-flight calls finish within the
// shutdown timeout (then cuts them), and returns when everything stopped.
func (s *Server) Shutdown() {
	s.ready.Store(false)
	s.release.stop()
	s.health.Shutdown() // health checks now answer NOT_SERVING
	s.cancel()
	done := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(done) }()
	timer := time.NewTimer(s.opts.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		s.log.Warn("shutdown timeout: closing remaining gRPC streams", "timeout", s.opts.ShutdownTimeout)
		s.grpc.Stop()
		<-done
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	_ = s.admin.Shutdown(ctx)
	s.wg.Wait()
	s.authz.Close()
	s.closeRedis()
	s.log.Info("apigw stopped")
}

// reloadNow is POST /debug/reload[?force=true]: reload the file now (even
// unchanged) and answer with the reload status; 409 with the refusal when
// the configuration is refused. force=true accepts a configuration that
// removes more APIs than settings.max_api_removal_percent allows.
func (s *Server) reloadNow(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	var err error
	if r.URL.Query().Get("force") == "true" {
		err = s.reloader.Force(ctx)
	} else {
		err = s.reloader.LoadNow(ctx)
	}
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusConflict)
	}
	_ = json.NewEncoder(w).Encode(s.reloadStatus())
}

// registerMetrics exposes the components' counters, read at scrape time.
func (s *Server) registerMetrics(m *metrics.Registry) {
	m.Info("apigw_config_info", "The configuration in use (value 1; its version as a label).", []string{"version"}, func() []string {
		if v := s.reloader.Status().Version; v != "" {
			return []string{v}
		}
		return nil
	})
	m.Counter("apigw_panics_total", "Panics recovered in gRPC handlers (each answered: Check with 500 APIG.0601, others with status Internal).", func() float64 { return float64(s.recovery.panics.Load()) })
	m.Counter("apigw_config_reloads_total", "Configurations accepted (the first load included).", func() float64 { return float64(s.reloader.Status().Reloads) })
	m.Counter("apigw_config_reload_failures_total", "Configurations refused (the previous one kept serving).", func() float64 { return float64(s.reloader.Status().Failures) })
	if s.follower != nil {
		m.GaugeVec("apigw_release_serving", "The release number this replica serves, by environment (release store).", "env", func() map[string]float64 {
			envs := s.follower.Status().Environments
			out := make(map[string]float64, len(envs))
			for env, es := range envs {
				out[env] = float64(es.Release)
			}
			return out
		})
		m.Gauge("apigw_release_store_up", "1 when the release store answered last time it was asked, 0 while it is unavailable.", func() float64 {
			if s.follower.Status().StoreAvailable {
				return 1
			}
			return 0
		})
		m.Counter("apigw_release_apply_failures_total", "Releases refused (the previous ones kept serving).", func() float64 {
			return float64(s.follower.Status().ApplyFailures)
		})
	}
	m.Counter("apigw_ratelimit_requests_total", "ShouldRateLimit calls.", func() float64 { return float64(s.limiter.Stats().Requests) })
	m.Counter("apigw_ratelimit_over_limit_total", "ShouldRateLimit calls answered OVER_LIMIT.", func() float64 { return float64(s.limiter.Stats().OverLimit) })
	m.Counter("apigw_ratelimit_cache_hits_total", "Descriptors answered over the limit from the local cache.", func() float64 { return float64(s.limiter.Stats().CacheHits) })
	m.Counter("apigw_replays_total", "Signed requests refused because their anti-replay nonce was already used.", func() float64 { return float64(s.authz.Stats().Replays) })
	m.Counter("apigw_redis_errors_total", "Failed calls to the shared store (rate-limit counters, lockout and nonces).", func() float64 {
		return float64(s.limiter.Stats().BackendErrors + s.authz.Stats().LockoutStoreErrors)
	})
}

type quietRedisLogger struct{}

func (quietRedisLogger) Printf(context.Context, string, ...any) {}

func (s *Server) closeRedis() {
	if s.redis != nil {
		_ = s.redis.Close()
	}
}

// Limiter returns the rate-limit service.
func (s *Server) Limiter() *ratelimit.Service { return s.limiter }

// Run starts a Server and serves until SIGINT or SIGTERM, reloading the
// configuration on SIGHUP.
func Run(ctx context.Context, o Options) error {
	s, err := Start(ctx, o)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGHUP {
				s.log.Info("SIGHUP: reloading configuration")
				s.Reload()
				continue
			}
			s.log.Info("shutting down", "signal", sig.String())
			s.Shutdown()
			return nil
		case <-ctx.Done():
			s.Shutdown()
			return nil
		case err := <-s.errs:
			s.Shutdown()
			return err
		}
	}
}
