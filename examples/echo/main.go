// Command echo is a tiny HTTP echo backend for trying the gateway: it
// answers every request with JSON — name, method, path, query, every header
// (lower-cased) and the first 64 KiB of the body — so a caller sees what the
// gateway forwarded, including the identity headers it adds
// (X-Apig-App-Id, X-Apig-Stage, ...).
//
//	echo [-listen 127.0.0.1:18080] [-name release]
//
// .../slow?ms=N waits N ms (at most 30 s) first; .../status/<code> answers
// with that status. It stops gracefully on SIGINT or SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/apigwio/apigw/examples/echo/echoserver"
)

// shutdownTimeout bounds the drain of in-flight requests on SIGINT/SIGTERM.
const shutdownTimeout = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

// run serves until ctx is done, then drains in-flight requests. listening,
// when set, is told the bound address.
func run(ctx context.Context, args []string, logw io.Writer, listening func(net.Addr)) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.SetOutput(logw)
	listen := fs.String("listen", "127.0.0.1:18080", "listen address (host:port; port 0 picks a free port)")
	name := fs.String("name", "echo", "backend name, returned in every response (e.g. release, beta)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	lis, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           echoserver.Handler(*name),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(lis) }()
	fmt.Fprintf(logw, "echo %q listening on http://%s\n", *name, lis.Addr())
	if listening != nil {
		listening(lis.Addr())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintf(logw, "echo %q shutting down\n", *name)
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
