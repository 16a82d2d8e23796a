package ratelimit

import (
	"context"
	"net"
	"testing"
	"time"

	rlsv3 "github.com/envoyproxy/go-control-plane/envoy/service/ratelimit/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestShouldRateLimitOverGRPC calls the service over a real loopback gRPC
// connection, the way Envoy's rate-limit filter does, on every backend.
func TestShouldRateLimitOverGRPC(t *testing.T) {
	for _, bk := range backendKinds() {
		t.Run(bk.name, func(t *testing.T) {
			c := newClock()
			svc := newService(t, bk.make(t, c), c, Options{})
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := grpc.NewServer()
			rlsv3.RegisterRateLimitServiceServer(srv, svc)
			go srv.Serve(lis)
			t.Cleanup(srv.Stop)

			conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			client := rlsv3.NewRateLimitServiceClient(conn)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			req := request(desc("generic_key", "api-1"), desc("generic_key", "api-1", "app", "shop"))
			var codes []rlsv3.RateLimitResponse_Code
			for range 3 {
				resp, err := client.ShouldRateLimit(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				codes = append(codes, resp.GetOverallCode())
				if len(resp.GetStatuses()) != 2 {
					t.Fatalf("statuses %v", resp.GetStatuses())
				}
			}
			if codes[0] != codeOK || codes[1] != codeOK || codes[2] != codeOver {
				t.Fatalf("codes %v, want OK OK OVER_LIMIT (app: 2 per hour)", codes)
			}
			resp, err := client.ShouldRateLimit(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			st := resp.GetStatuses()[1]
			if st.GetCode() != codeOver || st.GetCurrentLimit().GetName() != "api-1-app" ||
				st.GetCurrentLimit().GetUnit() != rlsv3.RateLimitResponse_RateLimit_HOUR ||
				st.GetDurationUntilReset().AsDuration() != time.Hour-10*time.Second {
				t.Fatalf("app status %v", st)
			}
			if st := resp.GetStatuses()[0]; st.GetCode() != codeOK || st.GetLimitRemaining() != 1 {
				t.Fatalf("api status %v", st)
			}
		})
	}
}
