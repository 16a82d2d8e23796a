package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/apigwio/apigw/internal/server"
	"github.com/apigwio/apigw/internal/server/metrics"
)

type serveFlags struct {
	config, grpcAddr, adminAddr, logFormat, logLevel, redis string
	watch, shutdown                                         time.Duration
	reflection, pprof                                       bool
	redisCluster                                            []string
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

Once ready it logs one line per listener, with the bound address (the real
port when :0 was asked).

Exit status: 0 after a signal, 1 when the configuration is refused or a
port cannot be bound, 2 on a usage error.`,
		Example: `  apigw serve --config examples/quickstart/gateway.yaml
  apigw serve --config gateway.yaml --grpc-address 0.0.0.0:18000 --log-format json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var reflection *bool
			if cmd.Flags().Changed("grpc-reflection") {
				reflection = &f.reflection
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
	fl.DurationVar(&f.shutdown, "shutdown-timeout", 10*time.Second, "how long in-flight calls may drain on shutdown")
	fl.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fl.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fl.StringVar(&f.redis, "redis", "", "Redis host:port shared by replicas for rate limits and lockout (default: settings.throttling.redis_address; none: in memory)")
	fl.StringSliceVar(&f.redisCluster, "redis-cluster", nil, "Redis Cluster seed nodes, host:port,host:port,... (instead of --redis; default: settings.throttling.redis_cluster)")
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
	interval := f.watch
	if interval == 0 {
		interval = -1
	}
	if ctx == nil {
		ctx = context.Background()
	}
	x := newXDS(logger)
	m := metrics.New()
	x.RegisterMetrics(m)
	return server.Run(ctx, server.Options{
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
	})
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
