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
	"strings"
	"syscall"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"

	"github.com/apigwio/apigw/internal/server"
)

type noop struct {
	authv3.UnimplementedAuthorizationServer
	ok *authv3.CheckResponse
}

var okResponse = &authv3.CheckResponse{
	Status:       &status.Status{},
	HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
}

func (n noop) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return n.ok, nil
}

// withHeaders is okResponse setting the name=value pairs of list
// (comma-separated) upstream, as apigw's answer sets identity headers.
func withHeaders(list string) (*authv3.CheckResponse, error) {
	if list == "" {
		return okResponse, nil
	}
	ok := &authv3.OkHttpResponse{}
	for _, pair := range strings.Split(list, ",") {
		name, value, found := strings.Cut(pair, "=")
		if !found || name == "" {
			return nil, fmt.Errorf("-headers: %q is not name=value", pair)
		}
		ok.Headers = append(ok.Headers, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: name, Value: value},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
		})
	}
	return &authv3.CheckResponse{Status: okResponse.Status, HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok}}, nil
}

func main() {
	addr := flag.String("address", "127.0.0.1:18100", "gRPC listen address")
	options := flag.String("options", "default", "gRPC server settings: default (grpc.NewServer()) or apigw (apigw's)")
	headers := flag.String("headers", "", "diagnostic: name=value,... headers every OK answer sets upstream (to count what an answer's headers cost Envoy)")
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
	ok, err := withHeaders(*headers)
	if err != nil {
		log.Fatal(err)
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	authv3.RegisterAuthorizationServer(srv, noop{ok: ok})
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
