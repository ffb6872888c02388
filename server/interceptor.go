package server

import (
	"context"
	"net/http"

	"connectrpc.com/connect"
)

// rpc is what a server interceptor sees of a call, whatever its stream type.
type rpc struct {
	Spec   connect.Spec
	Peer   connect.Peer
	Header http.Header
}

// serverInterceptor is one wrap around the server side of every RPC: unary, client-streaming,
// server-streaming and bidi alike. It runs next (the handler, or the next interceptor) at most
// once and returns its error, or one of its own. connect.UnaryInterceptorFunc, which the
// interceptors were before, has no effect on streaming RPCs: a stream would have bypassed auth.
type serverInterceptor func(ctx context.Context, call rpc, next func(context.Context) error) error

var _ connect.Interceptor = serverInterceptor(nil)

// WrapUnary implements connect.Interceptor for unary handlers; unary clients pass through.
func (f serverInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient {
			return next(ctx, req)
		}
		var resp connect.AnyResponse
		err := f(ctx, rpc{Spec: req.Spec(), Peer: req.Peer(), Header: req.Header()}, func(ctx context.Context) (err error) {
			resp, err = next(ctx, req)
			return err
		})
		if err != nil {
			return nil, err
		}
		return resp, nil
	}
}

// WrapStreamingClient implements connect.Interceptor: streaming clients pass through.
func (f serverInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements connect.Interceptor for client-, server- and bidi-streaming
// handlers.
func (f serverInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		return f(ctx, rpc{Spec: conn.Spec(), Peer: conn.Peer(), Header: conn.RequestHeader()}, func(ctx context.Context) error {
			return next(ctx, conn)
		})
	}
}
