package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/config"
)

const (
	allowedOrigin = "https://app.example.org"
	otherOrigin   = "https://evil.example.net"
)

// corsRequest sends method to path with origin as its Origin and the given headers, and returns
// the answer's status and headers.
func corsRequest(t *testing.T, baseURL, method, path, origin string, headers map[string]string, body string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, baseURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", origin)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

// preflight sends the OPTIONS request a browser sends before a cross-origin call of method with
// the given request headers.
func preflight(t *testing.T, baseURL, path, origin, method, requestHeaders string) (int, http.Header) {
	t.Helper()
	return corsRequest(t, baseURL, http.MethodOptions, path, origin, map[string]string{
		"Access-Control-Request-Method":  method,
		"Access-Control-Request-Headers": requestHeaders,
	}, "")
}

// A page of an allowed origin can call the API from a browser: its preflights (Connect, with a
// bearer token, and gRPC-Web) are answered by CORS, not with a 405, and its calls carry the
// CORS headers. Another origin, and River UI, get none.
func TestCORS(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.HTTP.CORS.AllowedOrigins = []string{allowedOrigin} })

	t.Run("PreflightConnect", func(t *testing.T) {
		t.Parallel()
		code, h := preflight(t, b.baseURL, "/osa.v1.RecordService/PublishRecord", allowedOrigin, http.MethodPost,
			"authorization,connect-protocol-version,connect-timeout-ms,content-type")
		if code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != allowedOrigin ||
			h.Get("Access-Control-Allow-Methods") != http.MethodPost || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "authorization") ||
			h.Get("Access-Control-Max-Age") != "7200" {
			t.Fatalf("preflight: %d %v, want 204 allowing %s, POST, authorization, max age 7200", code, h, allowedOrigin)
		}
		if h.Get("Access-Control-Allow-Credentials") != "" {
			t.Fatalf("preflight allows credentials: %v", h)
		}
	})

	t.Run("PreflightConnectGET", func(t *testing.T) {
		t.Parallel()
		code, h := preflight(t, b.baseURL, "/osa.v1.SearchService/ListBackends", allowedOrigin, http.MethodGet, "connect-protocol-version")
		if code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != allowedOrigin || h.Get("Access-Control-Allow-Methods") != http.MethodGet {
			t.Fatalf("GET preflight: %d %v", code, h)
		}
	})

	t.Run("PreflightGRPCWeb", func(t *testing.T) {
		t.Parallel()
		code, h := preflight(t, b.baseURL, "/osa.v1.SearchService/Search", allowedOrigin, http.MethodPost,
			"content-type,grpc-timeout,x-grpc-web,x-user-agent")
		if code != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != allowedOrigin {
			t.Fatalf("gRPC-Web preflight: %d %v", code, h)
		}
	})

	t.Run("ConnectJSON", func(t *testing.T) {
		t.Parallel()
		code, h := corsRequest(t, b.baseURL, http.MethodPost, "/osa.v1.SearchService/Search", allowedOrigin,
			map[string]string{"Content-Type": "application/json"}, `{"query": "heart", "mode": "keyword"}`)
		if code != http.StatusOK || h.Get("Access-Control-Allow-Origin") != allowedOrigin || !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
			t.Fatalf("Connect POST: %d %v, want 200 allowing %s, varying by Origin", code, h, allowedOrigin)
		}
		if !strings.Contains(h.Get("Access-Control-Expose-Headers"), "Etag") {
			t.Fatalf("Connect POST exposes %q, want ETag among them", h.Get("Access-Control-Expose-Headers"))
		}
		// An error answer is readable too: the page sees what went wrong.
		code, h = corsRequest(t, b.baseURL, http.MethodPost, "/osa.v1.RecordService/GetRecord", allowedOrigin,
			map[string]string{"Content-Type": "application/json"}, `{"srn": "nope"}`)
		if code != http.StatusBadRequest || h.Get("Access-Control-Allow-Origin") != allowedOrigin {
			t.Fatalf("Connect POST with an error: %d %v", code, h)
		}
	})

	t.Run("GRPCWeb", func(t *testing.T) {
		t.Parallel()
		client := osav1connect.NewSearchServiceClient(http.DefaultClient, b.baseURL, connect.WithGRPCWeb())
		req := connect.NewRequest(&osav1.ListBackendsRequest{})
		req.Header().Set("Origin", allowedOrigin)
		resp, err := client.ListBackends(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		h := resp.Header()
		if h.Get("Access-Control-Allow-Origin") != allowedOrigin || !strings.Contains(h.Get("Access-Control-Expose-Headers"), "Grpc-Status") {
			t.Fatalf("gRPC-Web call: headers %v, want %s allowed and Grpc-Status exposed", h, allowedOrigin)
		}
		if len(resp.Msg.Backends) == 0 {
			t.Fatal("gRPC-Web ListBackends: no backends")
		}
	})

	t.Run("OtherOrigin", func(t *testing.T) {
		t.Parallel()
		_, h := preflight(t, b.baseURL, "/osa.v1.SearchService/Search", otherOrigin, http.MethodPost, "content-type")
		if got := h.Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("preflight from %s: Access-Control-Allow-Origin %q, want none", otherOrigin, got)
		}
		_, h = corsRequest(t, b.baseURL, http.MethodPost, "/osa.v1.SearchService/Search", otherOrigin,
			map[string]string{"Content-Type": "application/json"}, `{"query": "heart"}`)
		if got := h.Get("Access-Control-Allow-Origin"); got != "" {
			t.Fatalf("POST from %s: Access-Control-Allow-Origin %q, want none", otherOrigin, got)
		}
	})

	t.Run("RiverUINotCrossOrigin", func(t *testing.T) {
		t.Parallel()
		code, h := corsRequest(t, b.baseURL, http.MethodGet, "/riverui/", allowedOrigin, nil, "")
		if code != http.StatusOK || h.Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("River UI from %s: %d, Access-Control-Allow-Origin %q, want 200 and none", allowedOrigin, code, h.Get("Access-Control-Allow-Origin"))
		}
	})
}

// By default (http.cors.allowed_origins empty) no origin may call: a preflight gets no CORS
// headers (the explained 405 of an OPTIONS), and neither does a call.
func TestCORSDefaultAllowsNone(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	code, h := preflight(t, b.baseURL, "/osa.v1.SearchService/Search", allowedOrigin, http.MethodPost, "content-type")
	if code != http.StatusMethodNotAllowed || h.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight: %d, Access-Control-Allow-Origin %q, want 405 and none", code, h.Get("Access-Control-Allow-Origin"))
	}
	code, h = corsRequest(t, b.baseURL, http.MethodPost, "/osa.v1.SearchService/Search", allowedOrigin,
		map[string]string{"Content-Type": "application/json"}, `{"query": "heart"}`)
	if code != http.StatusOK || h.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("POST: %d, Access-Control-Allow-Origin %q, want 200 and none", code, h.Get("Access-Control-Allow-Origin"))
	}
}
