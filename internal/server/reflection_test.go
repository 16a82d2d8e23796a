package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
)

// listServices asks the server's reflection service for its services, as
// `grpcurl -plaintext ADDR list` does.
func listServices(ctx context.Context, conn *grpc.ClientConn) ([]string, error) {
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"},
	}); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	} // on io.EOF the stream ended: Recv gives the status (Unimplemented when reflection is off)
	resp, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	return names, nil
}

func startForReflection(t *testing.T, reflection *bool) (*Server, *grpc.ClientConn, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gw.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncWriter{w: &strings.Builder{}}
	s, err := Start(context.Background(), Options{ConfigPath: path, WatchInterval: -1, GRPCReflection: reflection,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	conn, err := grpc.NewClient(s.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return s, conn, logs.String()
}

// TestReflectionAndHealthOnLoopback: on a loopback address reflection is on
// by default (grpcurl -plaintext 127.0.0.1:18000 list works) and the
// health service answers SERVING; the start-up log names each listener
// with its bound port.
func TestReflectionAndHealthOnLoopback(t *testing.T) {
	s, conn, logs := startForReflection(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	names, err := listServices(ctx, conn)
	if err != nil {
		t.Fatalf("reflection: %v", err)
	}
	for _, want := range []string{"envoy.service.auth.v3.Authorization", "envoy.service.ratelimit.v3.RateLimitService",
		"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, without %s", names, want)
		}
	}
	for _, svc := range []string{"", "envoy.service.auth.v3.Authorization"} {
		hc, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
		if err != nil || hc.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("grpc.health.v1.Health/Check %q: %v %v, want SERVING", svc, hc, err)
		}
	}
	for _, want := range []string{
		"msg=listening listener=grpc address=" + s.GRPCAddr().String(),
		"reflection=true",
		"msg=listening listener=admin address=" + s.AdminAddr().String(),
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("start-up log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, ":0 ") {
		t.Errorf("start-up log shows a :0 port instead of the bound one:\n%s", logs)
	}
}

func TestReflectionOff(t *testing.T) {
	off := false
	_, conn, logs := startForReflection(t, &off)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := listServices(ctx, conn); status.Code(err) != codes.Unimplemented {
		t.Fatalf("reflection with GRPCReflection=false: %v, want Unimplemented", err)
	}
	if !strings.Contains(logs, "reflection=false") {
		t.Errorf("start-up log does not say reflection is off:\n%s", logs)
	}
}
