package authz

import (
	"context"
	"net"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestCheckOverGRPC calls Check over a real loopback gRPC connection, the
// way Envoy's ext_authz filter does.
func TestCheckOverGRPC(t *testing.T) {
	f := newFixture(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	authv3.RegisterAuthorizationServer(srv, f.svc)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := authv3.NewAuthorizationClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	hr, body := signWithSDK(t, sdkRequest{method: "PUT", path: "/items/9", headers: map[string]string{"Content-Type": "application/json"}, body: &order{"x", 1}}, appKey, appSecret)
	resp, err := client.Check(ctx, envoyCheck(hr, body, "shop/items", "RELEASE"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetOkResponse() == nil || upstreamHeaders(resp)["x-apig-app-id"] != "shopper" {
		t.Fatalf("signed request not allowed over gRPC: %v", resp)
	}

	hr.Header.Set("X-Sdk-Date", "20221208T015750Z")
	resp, err = client.Check(ctx, envoyCheck(hr, body, "shop/items", "RELEASE"))
	if err != nil {
		t.Fatal(err)
	}
	d := resp.GetDeniedResponse()
	if d == nil || d.GetStatus().GetCode() != 401 {
		t.Fatalf("tampered request not denied over gRPC: %v", resp)
	}
}
