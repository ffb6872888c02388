package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osa-archive/osa/backends/embed"
)

// The model and dimensions the fake provider serves.
const (
	fakeModel = "fake-embedding-3"
	fakeDims  = 64
)

// Failure modes of the fake provider.
const (
	providerUp      = iota // answers with embeddings
	providerDown           // answers every call 500, as OpenAI does in an outage
	providerRefused        // not listening: connections are refused
	providerHung           // never answers: calls time out
)

// Texts the fake provider fails on whatever its mode: it answers 500 to a call holding a text
// with textFlaky (a provider that crashes on one input) and 400 to one holding textPoison (an
// input the model rejects).
const (
	textFlaky  = "flaky"
	textPoison = "poison"
)

// fakeProvider is an OpenAI-compatible embeddings server (POST /v1/embeddings) on a loopback
// port that it keeps while it is switched off and on; its vectors come from embed.Hash.
type fakeProvider struct {
	addr string
	hash *embed.Hash

	mu     sync.Mutex
	mode   int
	server *http.Server // nil while refusing
	calls  map[int]int  // answered calls by status; 0 counts calls left hanging
	probes int          // calls holding the indexer's probe text
}

// newFakeProvider starts a fake provider in providerUp mode; it stops when tb ends.
func newFakeProvider(tb testing.TB) *fakeProvider {
	tb.Helper()
	f := &fakeProvider{addr: "127.0.0.1:0", hash: embed.NewHash(embed.HashConfig{Dims: fakeDims}), calls: map[int]int{}}
	if err := f.listen(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.setMode(tb, providerRefused) })
	return f
}

// embedder returns an OpenAI embedder of the fake with the given call timeout and inputs per
// call (0: the defaults).
func (f *fakeProvider) embedder(timeout time.Duration, maxInputs int) embed.Embedder {
	return embed.NewOpenAI(embed.HTTPConfig{BaseURL: "http://" + f.addr, Model: fakeModel, Dims: fakeDims,
		Timeout: timeout, MaxInputs: maxInputs})
}

// listen starts serving on f.addr, which becomes the port chosen at the first call.
func (f *fakeProvider) listen() error {
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	f.addr = ln.Addr().String()
	f.server = &http.Server{Handler: f, ReadHeaderTimeout: 5 * time.Second}
	go func(s *http.Server) { _ = s.Serve(ln) }(f.server)
	return nil
}

// setMode switches the provider to mode.
func (f *fakeProvider) setMode(tb testing.TB, mode int) {
	tb.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mode = mode
	switch {
	case mode == providerRefused && f.server != nil:
		// Close, not Shutdown: hung calls are cut off.
		if err := f.server.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			tb.Error(err)
		}
		f.server = nil
	case mode != providerRefused && f.server == nil:
		if err := f.listen(); err != nil {
			tb.Fatalf("fake provider: listening again on %s: %v", f.addr, err)
		}
	}
}

// count returns how many calls were answered with status (0: left hanging).
func (f *fakeProvider) count(status int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[status]
}

// probeCalls returns how many calls held the indexer's probe text.
func (f *fakeProvider) probeCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.probes
}

func (f *fakeProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Model string   `json:"model"`
		Input []string `json:"input"`
	}
	if r.URL.Path != "/v1/embeddings" || r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil || req.Model != fakeModel {
		f.answer(w, http.StatusNotFound, nil)
		return
	}
	f.mu.Lock()
	mode := f.mode
	for _, in := range req.Input {
		if strings.Contains(in, "provider probe") {
			f.probes++
		}
	}
	f.mu.Unlock()
	joined := strings.Join(req.Input, "\n")
	switch {
	case mode == providerHung:
		f.answer(nil, 0, nil)
		<-r.Context().Done() // the client gave up
		return
	case mode == providerDown || strings.Contains(joined, textFlaky):
		f.answer(w, http.StatusInternalServerError, map[string]any{"error": map[string]any{
			"message": "The server had an error while processing your request. Sorry about that!", "type": "server_error"}})
		return
	case strings.Contains(joined, textPoison):
		f.answer(w, http.StatusBadRequest, map[string]any{"error": map[string]any{
			"message": "This model's maximum context length is 8192 tokens.", "type": "invalid_request_error"}})
		return
	}
	vecs, _ := f.hash.Embed(context.Background(), req.Input)
	data := make([]map[string]any, len(vecs))
	for i, v := range vecs {
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": v}
	}
	f.answer(w, http.StatusOK, map[string]any{"object": "list", "data": data, "model": fakeModel})
}

// answer counts the call and writes body with status; a nil w only counts.
func (f *fakeProvider) answer(w http.ResponseWriter, status int, body any) {
	f.mu.Lock()
	f.calls[status]++
	f.mu.Unlock()
	if w == nil {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
