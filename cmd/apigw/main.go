// Command apigw is an Envoy-native API gateway control service: the Envoy
// ext_authz Check service that verifies signed requests, and the xDS server
// that turns published APIs into Envoy configuration.
//
//	apigw serve     --config FILE   run the service
//	apigw validate  --config FILE   check a configuration and exit
//	apigw bootstrap [flags]         print an Envoy bootstrap for this service
//	apigw sign -url URL [flags]     sign a request for testing and debugging
//	apigw ratelimit-config --config FILE   the envoyproxy/ratelimit equivalent of the limits
//	apigw version                   print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/apigwio/apigw/internal/config"
	"github.com/apigwio/apigw/internal/model"
	"github.com/apigwio/apigw/internal/server"
	"github.com/apigwio/apigw/internal/server/metrics"
	"github.com/apigwio/apigw/ratelimit/throttle"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":            {"run the Check and xDS service", runServe},
		"validate":         {"check a configuration file and exit", runValidate},
		"bootstrap":        {"print an Envoy bootstrap that points at this service", func(args []string, stdout, _ io.Writer) error { return runBootstrap(args, stdout) }},
		"sign":             {"sign a request (headers, curl command, or step-by-step explanation)", runSign},
		"ratelimit-config": {"print the equivalent envoyproxy/ratelimit configuration", runRatelimitConfig},
		"version": {"print the version", func(_ []string, stdout, _ io.Writer) error {
			_, err := fmt.Fprintln(stdout, "apigw", version)
			return err
		}},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errUsage marks an error whose message is already printed with the usage.
var errUsage = errors.New("usage")

func run(args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "apigw: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	if err := cmd.run(args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if !errors.Is(err, errUsage) {
			fmt.Fprintf(stderr, "apigw %s: %v\n", args[0], err)
		}
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "Usage: apigw <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'apigw <command> -h' for the flags of a command.")
}

// loadConfigArg parses a command's only flag, --config, and loads the file.
func loadConfigArg(name string, args []string, stderr io.Writer) (string, *model.Snapshot, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML or JSON)")
	if err := fs.Parse(args); err != nil {
		return "", nil, err
	}
	if *path == "" {
		fs.Usage()
		return "", nil, fmt.Errorf("--config is required")
	}
	snap, err := config.LoadFile(*path, config.Options{})
	return *path, snap, err
}

func runValidate(args []string, stdout, stderr io.Writer) error {
	path, snap, err := loadConfigArg("validate", args, stderr)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s: OK (version %s: %d groups, %d APIs, %d environments, %d apps, %d access keys)\n",
		path, snap.Version, len(snap.Groups), len(snap.APIs), len(snap.Environments), len(snap.Apps), len(snap.AccessKeys))
	return err
}

func runServe(args []string, _, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML or JSON)")
	grpcAddr := fs.String("grpc-address", "", "gRPC listen address (default: server.grpc_address, 127.0.0.1:18000)")
	adminAddr := fs.String("admin-address", "", "admin HTTP listen address (default: server.admin_address, 127.0.0.1:18001)")
	watch := fs.Duration("watch-interval", time.Second, "how often the config file is also polled for changes, as a fallback to file-system events (0 disables polling; events and SIGHUP still reload)")
	shutdown := fs.Duration("shutdown-timeout", 10*time.Second, "how long in-flight calls may drain on shutdown")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	redisAddr := fs.String("redis", "", "Redis host:port shared by replicas for rate limits and lockout (default: settings.throttling.redis_address; none: in memory)")
	redisCluster := fs.String("redis-cluster", "", "Redis Cluster seed nodes, host:port,host:port,... (instead of --redis; default: settings.throttling.redis_cluster)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" {
		fs.Usage()
		return fmt.Errorf("--config is required")
	}
	var cluster []string
	if *redisCluster != "" {
		if *redisAddr != "" {
			return fmt.Errorf("set either --redis or --redis-cluster, not both")
		}
		for _, a := range strings.Split(*redisCluster, ",") {
			if a = strings.TrimSpace(a); a != "" {
				cluster = append(cluster, a)
			}
		}
	}
	logger, err := newLogger(stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	interval := *watch
	if interval == 0 {
		interval = -1
	}
	x := newXDS(logger)
	m := metrics.New()
	registerXDSMetrics(m, x)
	return server.Run(context.Background(), server.Options{
		Metrics:         m,
		ConfigPath:      *path,
		GRPCAddress:     *grpcAddr,
		AdminAddress:    *adminAddr,
		WatchInterval:   interval,
		ShutdownTimeout: *shutdown,
		Logger:          logger,
		XDS:             x,
		RedisAddress:    *redisAddr,
		RedisCluster:    cluster,
		Debug:           map[string]func() any{"xds": func() any { return x.Status() }},
	})
}

func runRatelimitConfig(args []string, stdout, stderr io.Writer) error {
	_, snap, err := loadConfigArg("ratelimit-config", args, stderr)
	if err != nil {
		return err
	}
	out, err := throttle.Config(snap).MarshalEnvoyRatelimitYAML()
	if err != nil {
		return err
	}
	_, err = stdout.Write(out)
	return err
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}
