package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"connectrpc.com/connect"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/config"
)

// TestShutdownCancelsStuckJobs: a job still running when worker.shutdown_timeout has passed
// (an embedding call that never answers) has its context cancelled by River, and the server
// stops instead of waiting for it.
func TestShutdownCancelsStuckJobs(t *testing.T) {
	t.Parallel()
	called := make(chan struct{}, 1)
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case called <- struct{}{}:
		default:
		}
		_, _ = io.Copy(io.Discard, r.Body) // the server notices a client gone only past the body
		<-r.Context().Done()               // never answers; returns when the client gives up
	}))
	t.Cleanup(provider.Close)
	b := setup(t, func(c *config.Config) {
		e := config.DefaultEmbedder(config.EmbedderKindOpenAI)
		e.Model, e.BaseURL, e.Dims, e.Timeout = "stuck", provider.URL, 8, time.Hour
		c.Backends = []config.Backend{c.Backends[0]}
		c.Backends[0].Embedder = &e
		c.Worker.ShutdownTimeout = 300 * time.Millisecond
	})
	_, err := recordClient(b).PublishRecord(context.Background(), connect.NewRequest(&osav1.PublishRecordRequest{
		Metadata: mustStruct(t, map[string]any{"title": "a record whose embedding never comes"})}))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-called:
	case <-time.After(30 * time.Second):
		t.Fatal("the index job never called the provider")
	}
	start := time.Now()
	stopped := make(chan struct{})
	go func() { b.stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second): // shutdown_timeout 0.3 s; the stop's own grace is 10 s
		t.Fatal("the server did not stop within 5 s: it waits for a job past worker.shutdown_timeout")
	}
	t.Logf("stopped %v after the stop began", time.Since(start))
}
