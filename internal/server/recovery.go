package server

import (
	"context"
	"log/slog"
	"runtime/debug"
	"sync/atomic"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/apigwio/apigw/authz"
)

// checkMethod is the full gRPC method name of Check.
const checkMethod = "/envoy.service.auth.v3.Authorization/Check"

// recovery turns a panic in a gRPC handler into an answer instead of a dead
// process: a Check gets 500 APIG.0601 (so Envoy answers the client in the
// platform's JSON, whatever failure_mode_allow says), any other call or
// stream (rate limit, xDS) the gRPC status Internal. Each panic is logged
// once with its stack and the request id, and counted.
type recovery struct {
	log    *slog.Logger
	panics atomic.Uint64
}

func (rc *recovery) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			rc.panics.Add(1)
			requestID := ""
			if cr, ok := req.(*authv3.CheckRequest); ok {
				h := cr.GetAttributes().GetRequest().GetHttp()
				if requestID = h.GetHeaders()["x-request-id"]; requestID == "" {
					requestID = h.GetId()
				}
			}
			rc.log.Error("panic in a gRPC handler; answered and kept serving",
				"method", info.FullMethod, "request_id", requestID, "panic", p, "stack", string(debug.Stack()))
			if info.FullMethod == checkMethod {
				cr, _ := req.(*authv3.CheckRequest)
				resp, err = authz.InternalErrorResponse(cr), nil
				return
			}
			resp, err = nil, status.Error(codes.Internal, "internal error")
		}
	}()
	return handler(ctx, req)
}

func (rc *recovery) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			rc.panics.Add(1)
			rc.log.Error("panic in a gRPC stream; closed it and kept serving",
				"method", info.FullMethod, "panic", p, "stack", string(debug.Stack()))
			err = status.Error(codes.Internal, "internal error")
		}
	}()
	return handler(srv, ss)
}
