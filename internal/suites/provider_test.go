package suites

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osa-archive/osa/backends/embed"
)

// The model and dimensions the fake provider serves.
const (
	fakeModel = "fake-embedding-3"
	fakeDims  = 384
)

// Modes of the fake provider.
const (
	providerUp      int32 = iota // answers with embeddings
	providerDown                 // answers 500, as OpenAI does when it has an outage
	providerLimited              // answers 429 with Retry-After
)

// fakeProvider is an OpenAI-compatible embeddings server (POST /v1/embeddings, with OpenAI's
// JSON shapes) on loopback whose vectors come from embed.Hash, so they are deterministic. It can
// be switched down (500) or rate limited (429 + Retry-After) at any time.
type fakeProvider struct {
	hash       *embed.Hash
	mode       atomic.Int32
	retryAfter time.Duration
	server     *httptest.Server

	mu     sync.Mutex
	status map[int]int // responses by status code
	// limitedAt is when each text last got a 429; minGap is the shortest time from a 429 for a
	// text to the next call that carried it again.
	limitedAt map[string]time.Time
	minGap    time.Duration
	gaps      int
}

func newFakeProvider(t *testing.T, retryAfter time.Duration) *fakeProvider {
	t.Helper()
	f := &fakeProvider{
		hash:       embed.NewHash(embed.HashConfig{Dims: fakeDims}),
		retryAfter: retryAfter,
		status:     map[int]int{},
		limitedAt:  map[string]time.Time{},
	}
	f.server = httptest.NewServer(f) // 127.0.0.1
	t.Cleanup(f.server.Close)
	return f
}

// URL is the provider's base URL.
func (f *fakeProvider) URL() string { return f.server.URL }

func (f *fakeProvider) setMode(m int32) { f.mode.Store(m) }

// responses returns how many calls were answered with status.
func (f *fakeProvider) responses(status int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status[status]
}

// gapAfterLimit returns the shortest time between a 429 for a text and the next call carrying
// that text, and how many such gaps were seen.
func (f *fakeProvider) gapAfterLimit() (time.Duration, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.minGap, f.gaps
}

func (f *fakeProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/embeddings" || r.Method != http.MethodPost {
		f.writeError(w, http.StatusNotFound, "Invalid URL ("+r.Method+" "+r.URL.Path+")", "invalid_request_error", nil)
		return
	}
	var req struct {
		Model          string   `json:"model"`
		Input          []string `json:"input"`
		EncodingFormat string   `json:"encoding_format"`
		Dimensions     int      `json:"dimensions"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil {
		f.writeError(w, http.StatusBadRequest, "We could not parse the JSON body of your request.", "invalid_request_error", nil)
		return
	}
	now := time.Now()
	f.mu.Lock()
	for _, in := range req.Input {
		if at, ok := f.limitedAt[in]; ok {
			if gap := now.Sub(at); f.gaps == 0 || gap < f.minGap {
				f.minGap = gap
			}
			f.gaps++
			delete(f.limitedAt, in)
		}
	}
	f.mu.Unlock()

	switch {
	case req.Model != fakeModel:
		f.writeError(w, http.StatusNotFound, fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", req.Model),
			"invalid_request_error", "model_not_found")
		return
	case len(req.Input) == 0:
		f.writeError(w, http.StatusBadRequest, "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
			"invalid_request_error", nil)
		return
	}
	switch f.mode.Load() {
	case providerDown:
		f.writeError(w, http.StatusInternalServerError, "The server had an error while processing your request. Sorry about that!",
			"server_error", nil)
		return
	case providerLimited:
		f.mu.Lock()
		for _, in := range req.Input {
			f.limitedAt[in] = time.Now()
		}
		f.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(int(f.retryAfter/time.Second)))
		f.writeError(w, http.StatusTooManyRequests, "Rate limit reached for "+fakeModel+" in organization org-suite on requests per min (RPM): Limit 3000, Used 3000, Requested 1. Please try again in 2s.",
			"requests", "rate_limit_exceeded")
		return
	}

	vecs, errs := f.hash.Embed(context.Background(), req.Input)
	type datum struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	data := make([]datum, 0, len(vecs))
	tokens := 0
	for i, v := range vecs {
		if errs[i] != nil {
			f.writeError(w, http.StatusBadRequest, errs[i].Error(), "invalid_request_error", nil)
			return
		}
		data = append(data, datum{Object: "embedding", Index: i, Embedding: v})
		tokens += len(strings.Fields(req.Input[i]))
	}
	f.count(http.StatusOK)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"object": "list",
		"data":   data,
		"model":  req.Model,
		"usage":  map[string]int{"prompt_tokens": tokens, "total_tokens": tokens},
	})
}

func (f *fakeProvider) count(status int) {
	f.mu.Lock()
	f.status[status]++
	f.mu.Unlock()
}

// writeError answers in OpenAI's error shape.
func (f *fakeProvider) writeError(w http.ResponseWriter, status int, msg, typ string, code any) {
	f.count(status)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"message": msg, "type": typ, "param": nil, "code": code,
	}})
}
