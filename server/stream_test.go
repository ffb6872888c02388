package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/records"
)

// TestStreamingRPCsAreIntercepted mounts server- and bidi-streaming handlers behind the server's
// own handler options: a stream without a token is refused, a handler's domain error is mapped
// to its Connect code, and every stream is logged and counted, as unary RPCs are.
func TestStreamingRPCsAreIntercepted(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	b := setupWithLogger(t, withTokens(false), slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	const (
		serverStream = "/osa.v1.AdminService/TestServerStream" // the admin scope, as every AdminService RPC
		bidiStream   = "/osa.v1.AdminService/TestBidiStream"
	)
	mux := http.NewServeMux()
	mux.Handle(serverStream, connect.NewServerStreamHandler(serverStream,
		func(ctx context.Context, req *connect.Request[osav1.ListBackendsRequest], stream *connect.ServerStream[osav1.ListBackendsResponse]) error {
			if req.Header().Get("X-Fail") != "" {
				return fmt.Errorf("looking it up: %w", records.ErrNotFound)
			}
			for range 3 {
				if err := stream.Send(&osav1.ListBackendsResponse{}); err != nil {
					return err
				}
			}
			return nil
		}, b.srv.HandlerOptionsForTest()...))
	mux.Handle(bidiStream, connect.NewBidiStreamHandler(bidiStream,
		func(ctx context.Context, stream *connect.BidiStream[osav1.ListBackendsRequest, osav1.ListBackendsResponse]) error {
			return stream.Send(&osav1.ListBackendsResponse{})
		}, b.srv.HandlerOptionsForTest()...))
	ts := httptest.NewUnstartedServer(mux)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)

	receive := func(token string, fail bool) (int, error) {
		client := connect.NewClient[osav1.ListBackendsRequest, osav1.ListBackendsResponse](ts.Client(), ts.URL+serverStream)
		req := connect.NewRequest(&osav1.ListBackendsRequest{})
		if token != "" {
			req.Header().Set("Authorization", "Bearer "+token)
		}
		if fail {
			req.Header().Set("X-Fail", "1")
		}
		stream, err := client.CallServerStream(context.Background(), req)
		if err != nil {
			return 0, err
		}
		defer stream.Close()
		n := 0
		for stream.Receive() {
			n++
		}
		return n, stream.Err()
	}
	if _, err := receive("", false); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("server stream without a token: %v, want unauthenticated", err)
	}
	if _, err := receive(writerToken, false); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Fatalf("server stream with a records:write token: %v, want permission_denied", err)
	}
	if n, err := receive(adminToken, false); err != nil || n != 3 {
		t.Fatalf("server stream with the admin token: %d messages, %v", n, err)
	}
	var connectErr *connect.Error
	if _, err := receive(adminToken, true); connect.CodeOf(err) != connect.CodeNotFound || !errors.As(err, &connectErr) {
		t.Fatalf("server stream whose handler fails: %v, want not_found", err)
	}

	bidi := connect.NewClient[osav1.ListBackendsRequest, osav1.ListBackendsResponse](ts.Client(), ts.URL+bidiStream)
	stream := bidi.CallBidiStream(context.Background())
	if err := stream.Send(&osav1.ListBackendsRequest{}); err != nil && !errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
	_ = stream.CloseRequest()
	if _, err := stream.Receive(); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("bidi stream without a token: %v, want unauthenticated", err)
	}
	_ = stream.CloseResponse()

	for _, want := range []string{"procedure=" + serverStream + " protocol=connect code=unauthenticated", "code=permission_denied",
		"procedure=" + serverStream + " protocol=connect code=ok", "code=not_found", "procedure=" + bidiStream} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("no log line with %q:\n%s", want, logs.String())
		}
	}
	_, metrics := get(t, b.baseURL+"/metrics")
	for _, want := range []string{`procedure="` + serverStream + `"} `, `code="not_found"`, `procedure="` + bidiStream + `"`} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("/metrics has no %s", want)
		}
	}
}
