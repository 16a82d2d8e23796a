// Command noopauthz is the practical limit of an ext_authz Check service: it
// answers OK to every Check without looking at the request. With -options
// default it is a default grpc-go server (grpc.NewServer() and nothing
// else, the baseline of the performance targets); with -options apigw it has
// apigw's gRPC server settings (server.GRPCServerOptions). The load
// benchmark compares apigw with it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	_ "net/http/pprof" // -pprof
	"os"
	"os/signal"
	"syscall"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"

	"github.com/apigwio/apigw/internal/server"
)

type noop struct {
	authv3.UnimplementedAuthorizationServer
}

var okResponse = &authv3.CheckResponse{
	Status:       &status.Status{},
	HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
}

func (noop) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return okResponse, nil
}

func main() {
	addr := flag.String("address", "127.0.0.1:18100", "gRPC listen address")
	options := flag.String("options", "default", "gRPC server settings: default (grpc.NewServer()) or apigw (apigw's)")
	pprofAddr := flag.String("pprof", "", "serve /debug/pprof/ on this address (e.g. 127.0.0.1:18101) to profile the no-op")
	flag.Parse()
	if *pprofAddr != "" {
		go func() { log.Println(http.ListenAndServe(*pprofAddr, nil)) }()
	}
	var opts []grpc.ServerOption
	switch *options {
	case "default":
	case "apigw":
		opts = server.GRPCServerOptions(12 << 20)
	default:
		log.Fatalf("-options %q: want default or apigw", *options)
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	authv3.RegisterAuthorizationServer(srv, noop{})
	fmt.Fprintln(os.Stderr, "noopauthz listening on", lis.Addr())
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
		srv.GracefulStop()
	}()
	if err := srv.Serve(lis); err != nil {
		log.Fatal(err)
	}
}
