package server_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/internal/pgtest"
	"github.com/osa-archive/osa/server"
)

// With tracing enabled, spans reach the OTLP/HTTP endpoint the standard variables name.
func TestTracingExportsSpans(t *testing.T) {
	var posts, bytes atomic.Int64
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" {
			n, _ := io.Copy(io.Discard, r.Body)
			posts.Add(1)
			bytes.Add(n)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)

	cfg := config.Default()
	cfg.Database.URL = pgtest.NewURL(t)
	cfg.Tracing.Enabled = true
	srv, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, ln) }()

	c := recordClient(&testBundle{baseURL: "http://" + ln.Addr().String()})
	pub, err := c.PublishRecord(context.Background(), connect.NewRequest(&osav1.PublishRecordRequest{
		Metadata: mustStruct(t, map[string]any{"title": "traced"})}))
	if err != nil {
		t.Fatal(err)
	}
	// Let the fan-out and index jobs run, so their spans are exported too.
	for deadline := time.Now().Add(30 * time.Second); ; {
		st, err := c.GetIndexStatus(context.Background(), connect.NewRequest(&osav1.GetIndexStatusRequest{Srn: pub.Msg.Record.Srn}))
		if err == nil && st.Msg.Statuses[0].State == osav1.IndexState_INDEX_STATE_INDEXED &&
			st.Msg.Statuses[1].State == osav1.IndexState_INDEX_STATE_INDEXED {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("record not indexed: %v %v", st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	srv.Close() // flushes the spans
	if posts.Load() == 0 || bytes.Load() == 0 {
		t.Fatalf("the collector received %d posts (%d bytes), want spans", posts.Load(), bytes.Load())
	}
}
