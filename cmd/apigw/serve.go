package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/spf13/cobra"

	"github.com/apigwio/apigw/internal/parallel"
	"github.com/apigwio/apigw/internal/server"
	"github.com/apigwio/apigw/internal/server/metrics"
)

type serveFlags struct {
	config, grpcAddr, adminAddr, logFormat, logLevel, redis string
	watch, shutdown                                         time.Duration
	reflection, pprof                                       bool
	// memoryLimitRatio is the fraction of the container's memory
	// limit given to the Go runtime (setMemoryLimit).
	memoryLimitRatio float64
	redisCluster     []string
	// The release store (--store and the flags of its connection), this
	// replica's name in it, and how long it may be unreachable at start.
	store             storeFlags
	replicaID         string
	storeStartTimeout time.Duration
}

func newServeCmd() *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run the Check and xDS service",
		Long: `Run the service: the ext_authz Check service, the xDS server, the rate-limit
service and gRPC health on one gRPC port, and the admin HTTP endpoints
(/healthz, /readyz, /metrics, /debug/...) on another. The configuration
file is reloaded when it changes and on SIGHUP; a refused change keeps the
last good configuration serving. SIGINT or SIGTERM drains and stops.

With --store, the APIs come from the release store instead: each
environment's current release (apigw publish, apigw rollback), composed
with the file's server, listener and settings. Every new current release
is applied like a reload (all or nothing); while the store is unreachable
the releases applied last keep serving. The etcd password is read from
APIGW_STORE_PASSWORD. See docs/deployment.md ("Serving from a release
store").

Once ready it logs one line per listener, with the bound address (the real
port when :0 was asked).

Exit status: 0 after a signal, 1 when the configuration is refused or a
port cannot be bound, 2 on a usage error.`,
		Example: `  apigw serve --config examples/quickstart/gateway.yaml
  apigw serve --config gateway.yaml --grpc-address 0.0.0.0:18000 --log-format json
  apigw serve --config local.yaml --store etcd://10.0.0.5:2379,10.0.0.6:2379,10.0.0.7:2379/apigw`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var reflection *bool
			if cmd.Flags().Changed("grpc-reflection") {
				reflection = &f.reflection
			}
			if err := checkStoreFlags(cmd, f); err != nil {
				return err
			}
			return serve(cmd.Context(), f, reflection, cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "configuration file, YAML or JSON (required)")
	fl.StringVar(&f.grpcAddr, "grpc-address", "", "gRPC listen address (default: server.grpc_address, 127.0.0.1:18000)")
	fl.StringVar(&f.adminAddr, "admin-address", "", "admin HTTP listen address (default: server.admin_address, 127.0.0.1:18001)")
	fl.BoolVar(&f.reflection, "grpc-reflection", false, "serve gRPC server reflection, for grpcurl and grpcui (default: on when the gRPC address is loopback, off otherwise)")
	fl.BoolVar(&f.pprof, "pprof", false, "serve Go runtime profiles at /debug/pprof/ on the admin port (off by default: profiles reveal memory contents and cost CPU)")
	fl.DurationVar(&f.watch, "watch-interval", time.Second, "how often the config file is also polled for changes, as a fallback to file-system events (0 disables polling; events and SIGHUP still reload)")
	fl.Float64Var(&f.memoryLimitRatio, "memory-limit-ratio", defaultMemoryLimitRatio, "fraction of the container's memory limit (cgroup) set as the Go runtime's soft memory limit, so that the collector works harder near it instead of the container swapping or killing the service (0 disables; GOMEMLIMIT in the environment takes precedence)")
	fl.DurationVar(&f.shutdown, "shutdown-timeout", 10*time.Second, "how long in-flight calls may drain on shutdown")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fl.StringVar(&f.redis, "redis", "", "Redis host:port shared by replicas for rate limits and lockout (default: settings.throttling.redis_address; none: in memory)")
	fl.StringSliceVar(&f.redisCluster, "redis-cluster", nil, "Redis Cluster seed nodes, host:port,host:port,... (instead of --redis; default: settings.throttling.redis_cluster)")
	f.store.registerAs(cmd, "serve the releases of this store, etcd://HOST:PORT[,HOST:PORT...]/PREFIX or etcds:// for TLS: the file then supplies server, listener and settings")
	fl.StringVar(&f.replicaID, "replica-id", "", "how this replica reports itself in the store (default: the host name and the admin address)")
	fl.DurationVar(&f.storeStartTimeout, "store-start-timeout", 30*time.Second, "how long an unreachable store is retried at start before giving up")
	cmd.MarkFlagsMutuallyExclusive("redis", "redis-cluster")
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagFilename("config", "yaml", "yml", "json")
	_ = cmd.RegisterFlagCompletionFunc("log-format", completeChoices("text", "json"))
	_ = cmd.RegisterFlagCompletionFunc("log-level", completeChoices("debug", "info", "warn", "error"))
	return cmd
}

func serve(ctx context.Context, f serveFlags, reflection *bool, stderr io.Writer) error {
	if f.config == "-" {
		return usagef("--config -: serve watches its configuration file for changes; give a file")
	}
	logger, err := newLogger(stderr, f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	if err := checkConfigFile(f.config); err != nil {
		return err
	}
	if !(f.memoryLimitRatio >= 0 && f.memoryLimitRatio <= 1) { // NaN too
		return usagef("--memory-limit-ratio %g: want a fraction from 0 (off) to 1", f.memoryLimitRatio)
	}
	interval := f.watch
	if interval == 0 {
		interval = -1
	}
	if ctx == nil {
		ctx = context.Background()
	}
	setMemoryLimit(ctx, logger, f.memoryLimitRatio, memlimit.FromCgroup, memoryLimitRefresh)
	// One Go processor more than the CPUs, so that admin and Check
	// requests get one at once while a reload runs (see the function).
	parallel.AddSpareProcessor(os.Getenv)
	x := newXDS(logger)
	m := metrics.New()
	x.RegisterMetrics(m)
	o := server.Options{
		Metrics:         m,
		ConfigPath:      f.config,
		GRPCAddress:     f.grpcAddr,
		AdminAddress:    f.adminAddr,
		GRPCReflection:  reflection,
		Pprof:           f.pprof,
		WatchInterval:   interval,
		ShutdownTimeout: f.shutdown,
		Logger:          logger,
		XDS:             x,
		RedisAddress:    f.redis,
		RedisCluster:    f.redisCluster,
		Debug:           map[string]func() any{"xds": func() any { return x.Status() }},
	}
	if f.store.url == "" {
		return server.Run(ctx, o)
	}
	if f.storeStartTimeout <= 0 {
		return usagef("--store-start-timeout %v: give a positive duration", f.storeStartTimeout)
	}
	// Open does not wait for etcd (unless it authenticates): the server's
	// first read retries an unreachable store until the start timeout.
	octx, cancel := context.WithTimeout(ctx, f.storeStartTimeout)
	st, err := f.store.openLogged(octx, logger)
	cancel()
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	o.Store, o.StoreURL, o.ReplicaID, o.StoreStartTimeout = st, f.store.url, f.replicaID, f.storeStartTimeout
	return server.Run(ctx, o)
}

// checkStoreFlags refuses the release-store flags without --store.
func checkStoreFlags(cmd *cobra.Command, f serveFlags) error {
	if f.store.url != "" {
		return nil
	}
	for _, name := range []string{"store-ca", "store-cert", "store-key", "store-user", "replica-id", "store-start-timeout"} {
		if cmd.Flags().Changed(name) {
			return usagef("--%s needs --store", name)
		}
	}
	return nil
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usagef("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usagef("--log-format %q: use text or json", format)
}
