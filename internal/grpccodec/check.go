package grpccodec

import (
	"context"
	"slices"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
)

// RegisterAuthorization registers srv as the Authorization service of s,
// as authv3.RegisterAuthorizationServer does, except that Check decodes
// each request into a pooled Request, released when srv.Check (and the
// interceptors around it) have returned. The server must use this codec
// (New, with grpc.ForceServerCodecV2): no other decodes a *Request.
//
// What makes the release safe: srv.Check, its interceptors and the
// response they return must not keep the CheckRequest, a nested message, a
// map or a bytes field (raw_body: a slice of the buffer the request was
// read into, reused after the release) of it past their return; strings
// are never reused and may be kept. gRPC encodes the response after the
// handler returns, so a response holding such a part would be encoded from
// the next request's data; apigw's responses hold only strings of the
// request, and nothing in Check keeps the body: it is hashed, and
// validated against a schema, in place (TestPooledRequestsNotRetained in
// internal/server overwrites every request and its body after its Check
// and compares the answers).
func RegisterAuthorization(s grpc.ServiceRegistrar, srv authv3.AuthorizationServer) {
	desc := authv3.Authorization_ServiceDesc
	desc.Methods = slices.Clone(desc.Methods)
	h := &checkHandler{
		info: &grpc.UnaryServerInfo{Server: srv, FullMethod: authv3.Authorization_Check_FullMethodName},
		call: func(ctx context.Context, req any) (any, error) {
			return srv.Check(ctx, req.(*authv3.CheckRequest))
		},
	}
	if es, ok := srv.(EncodingServer); ok {
		h.call = func(ctx context.Context, req any) (any, error) {
			return es.CheckEncoded(ctx, req.(*authv3.CheckRequest))
		}
	}
	for i := range desc.Methods {
		if desc.Methods[i].MethodName == "Check" {
			desc.Methods[i].Handler = h.handle
		}
	}
	s.RegisterService(&desc, srv)
}

// checkHandler is the generated _Authorization_Check_Handler with a pooled
// Request in place of new(authv3.CheckRequest), and the interceptors'
// UnaryServerInfo and handler made once instead of on every call. call is
// srv's Check, or its CheckEncoded when srv is an EncodingServer.
type checkHandler struct {
	info *grpc.UnaryServerInfo
	call grpc.UnaryHandler
}

// EncodingServer is an AuthorizationServer that can answer a Check with a
// response encoded before (an *Encoded, sent as it is by the codec) as
// well as with a *CheckResponse. RegisterAuthorization's Check handler
// calls CheckEncoded instead of Check when srv is one; interceptors then
// see either kind of answer.
type EncodingServer interface {
	CheckEncoded(context.Context, *authv3.CheckRequest) (any, error)
}

func (h *checkHandler) handle(_ any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	r := GetRequest()
	defer r.Release()
	if err := dec(r); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return h.call(ctx, r.Message())
	}
	return interceptor(ctx, r.Message(), h.info, h.call)
}
