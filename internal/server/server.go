// Package server runs the gateway service: the ext_authz Check service, the
// gRPC health service and the xDS server on one gRPC port, the admin HTTP
// endpoints on another, and the configuration reloader that feeds them.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"

	"github.com/apigwio/apigw/authz"
	"github.com/apigwio/apigw/authz/lockout"
	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/config/reload"
	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/internal/server/admin"
	"github.com/apigwio/apigw/internal/server/metrics"
	"github.com/apigwio/apigw/ratelimit"
	"github.com/apigwio/apigw/ratelimit/throttle"
)

// stage prepares snap on the Check side and the xDS side concurrently,
// and publishes it to Envoy if both accept it. The Check side's error
// comes first when both refuse.
func (s *Server) stage(ctx context.Context, snap *model.Snapshot, x XDS) error {
	if x == nil {
		return s.authz.Stage(ctx, snap)
	}
	var commit func() error
	var xerr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		commit, xerr = x.Prepare(ctx, snap)
	}()
	aerr := s.authz.Stage(ctx, snap)
	<-done
	switch {
	case aerr != nil:
		return aerr
	case xerr != nil:
		return xerr
	}
	return commit()
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
}

// Server is a running gateway service.
type Server struct {
	opts     Options
	log      *slog.Logger
	reloader *reload.Reloader
	authz    *authz.Service
	limiter  *ratelimit.Service
	redis    redis.UniversalClient
	grpc     *grpc.Server
	health   *health.Server
	admin    *http.Server
	grpcLis  net.Listener
	adminLis net.Listener
	ready    atomic.Bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	errs     chan error
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
	s := &Server{opts: o, log: o.Logger, errs: make(chan error, 2)}
	// A new configuration is prepared on both sides at once, the Check side
	// (it can fail: token key sets) and the xDS side (translation); when
	// both accept it, it is published to Envoy, then served by Check.
	sinks := []reload.Sink{func(ctx context.Context, snap *model.Snapshot) error { return s.stage(ctx, snap, o.XDS) }}
	sinks = append(sinks,
		func(_ context.Context, snap *model.Snapshot) error { return s.limiter.Update(throttle.Config(snap)) },
		func(ctx context.Context, snap *model.Snapshot) error { return s.authz.Activate(ctx, snap) })
	s.reloader = reload.New(o.ConfigPath, config.Options{}, interval, s.log, sinks...)
	snap, err := s.reloader.Prime(ctx)
	if err != nil {
		return nil, err
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
		return nil, err
	}
	if s.redis != nil {
		lo := snap.Settings.Lockout
		authzOpts.Lockout = lockout.NewRedis(s.redis, "apigw:lockout:", lockout.Policy{MaxFailures: lo.MaxFailures, Duration: lo.Duration})
		limiterOpts.Backend = ratelimit.NewRedis(s.redis, "apigw:rl:")
	}
	s.limiter = ratelimit.New(limiterOpts)
	if err := s.limiter.Update(throttle.Config(snap)); err != nil {
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

	grpcAddr := firstNonEmpty(o.GRPCAddress, snap.Server.GRPCAddress)
	adminAddr := firstNonEmpty(o.AdminAddress, snap.Server.AdminAddress)
	if s.grpcLis, err = net.Listen("tcp", grpcAddr); err != nil {
		return s.abort(fmt.Errorf("gRPC listener on %s: %w", grpcAddr, err))
	}
	if s.adminLis, err = net.Listen("tcp", adminAddr); err != nil {
		return s.abort(fmt.Errorf("admin listener on %s: %w", adminAddr, err))
	}

	s.grpc = grpc.NewServer(GRPCServerOptions(snap.Settings.MaxBodyBytes)...)
	authv3.RegisterAuthorizationServer(s.grpc, s.authz)
	rlsv3.RegisterRateLimitServiceServer(s.grpc, s.limiter)
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	if o.XDS != nil {
		o.XDS.Register(s.grpc)
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(authv3.Authorization_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(rlsv3.RateLimitService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)

	debug := map[string]func() any{
		"reload":    func() any { return s.reloader.Status() },
		"ratelimit": func() any { return s.limiter.Stats() },
		"authz":     func() any { return s.authz.Stats() },
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
			Extra:    map[string]http.Handler{"GET /metrics": o.Metrics.Handler()},
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
	s.ready.Store(true)
	s.log.Info("apigw serving", "grpc", s.grpcLis.Addr().String(), "admin", s.adminLis.Addr().String(),
		"config", o.ConfigPath, "version", snap.Version)
	return s, nil
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

// GRPCServerOptions are the gRPC server settings of the service (shared with
// the benchmark's no-op server so both are measured alike): keepalives that
// suit Envoy's long-lived connections, and a receive limit that fits a
// forwarded body of maxBody bytes.
func GRPCServerOptions(maxBody int64) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.MaxRecvMsgSize(int(maxBody) + 1<<20),
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
	if len(cluster) > 0 {
		o.Logger.Info("shared state in Redis Cluster", "nodes", cluster, "failure_mode", mode)
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:                 cluster,
			Password:              password,
			DialTimeout:           time.Second,
			ReadTimeout:           200 * time.Millisecond,
			WriteTimeout:          200 * time.Millisecond,
			ContextTimeoutEnabled: true,
			PoolSize:              64, // per node
		}), nil
	}
	o.Logger.Info("shared state in Redis", "address", addr, "failure_mode", mode)
	return redis.NewClient(&redis.Options{
		Addr:                  addr,
		Password:              password,
		DialTimeout:           time.Second,
		ReadTimeout:           200 * time.Millisecond,
		WriteTimeout:          200 * time.Millisecond,
		ContextTimeoutEnabled: true,
		PoolSize:              64,
	}), nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
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

// registerMetrics exposes the components' counters, read at scrape time.
func (s *Server) registerMetrics(m *metrics.Registry) {
	m.Info("apigw_config_info", "The configuration in use (value 1; its version as a label).", []string{"version"}, func() []string {
		if v := s.reloader.Status().Version; v != "" {
			return []string{v}
		}
		return nil
	})
	m.Counter("apigw_config_reloads_total", "Configurations accepted (the first load included).", func() float64 { return float64(s.reloader.Status().Reloads) })
	m.Counter("apigw_config_reload_failures_total", "Configurations refused (the previous one kept serving).", func() float64 { return float64(s.reloader.Status().Failures) })
	m.Counter("apigw_ratelimit_requests_total", "ShouldRateLimit calls.", func() float64 { return float64(s.limiter.Stats().Requests) })
	m.Counter("apigw_ratelimit_over_limit_total", "ShouldRateLimit calls answered OVER_LIMIT.", func() float64 { return float64(s.limiter.Stats().OverLimit) })
	m.Counter("apigw_ratelimit_cache_hits_total", "Descriptors answered over the limit from the local cache.", func() float64 { return float64(s.limiter.Stats().CacheHits) })
	m.Counter("apigw_redis_errors_total", "Failed calls to the shared store (rate-limit counters and lockout).", func() float64 {
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
