package server_test

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/osa-archive/osa/config"
)

// Responses are gzip-compressed for a client that accepts gzip from http.compress_min_bytes on.
func TestCompressMinBytes(t *testing.T) {
	t.Parallel()
	encoding := func(b *testBundle) string {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, b.baseURL+"/osa.v1.SearchService/ListBackends", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := http.DefaultTransport.RoundTrip(req) // the transport itself would not ask for gzip
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		body := io.Reader(resp.Body)
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatalf("gzip response: %v", err)
			}
			body = zr
		}
		var msg map[string]any
		if err := json.NewDecoder(body).Decode(&msg); err != nil {
			t.Fatalf("response body: %v", err)
		}
		if _, ok := msg["backends"]; !ok {
			t.Errorf("response %v has no backends", msg)
		}
		return resp.Header.Get("Content-Encoding")
	}
	// ListBackends answers a few hundred bytes: below the default 1 KiB, above 0.
	if got := encoding(setup(t, nil)); got != "" {
		t.Errorf("with the default compress_min_bytes, Content-Encoding %q, want none", got)
	}
	if got := encoding(setup(t, func(c *config.Config) { c.HTTP.CompressMinBytes = 0 })); got != "gzip" {
		t.Errorf("with compress_min_bytes 0, Content-Encoding %q, want gzip", got)
	}
}
