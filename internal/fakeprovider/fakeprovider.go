// Package fakeprovider is an OpenAI-compatible embeddings API (POST /v1/embeddings) on httptest
// that behaves like a hosted provider, for tests and benchmarks: each call costs a fixed latency
// plus a per-input cost; at most Concurrency calls run at once and a call beyond them is answered
// 429 with Retry-After at once; a call over the token limit is a 400; a share of calls fail with a
// 500. Its error bodies have OpenAI's shape ({"error": {"message", "type", "code"}}).
//
// Its physical limit is Concurrency × inputs per call ÷ call time (see [Provider.Limit]).
package fakeprovider

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"
)

// Config shapes a provider.
type Config struct {
	// Concurrency is the most calls answered at once; beyond it a call is a 429. Defaults to 4.
	Concurrency int
	// Latency is the fixed cost of a call, PerInput the cost of each of its inputs. Default to
	// 40ms and 300µs.
	Latency, PerInput time.Duration
	// TokenLimit is the most tokens (a token per 4 bytes of input, rounded up) a call may carry;
	// over it the call is a 400. 0 means 300,000, OpenAI's.
	TokenLimit int
	// ErrorRate is the share of calls answered 500, 0..1. Defaults to 0.
	ErrorRate float64
	// RetryAfter is the Retry-After of a 429, whole seconds as providers send it. Defaults to
	// 1s.
	RetryAfter time.Duration
	// Dims is the length of the vectors. Defaults to 8.
	Dims int
	// Seed seeds the 500s. Defaults to 1.
	Seed uint64
}

func (c Config) withDefaults() Config {
	if c.Concurrency == 0 {
		c.Concurrency = 4
	}
	if c.Latency == 0 {
		c.Latency = 40 * time.Millisecond
	}
	if c.PerInput == 0 {
		c.PerInput = 300 * time.Microsecond
	}
	if c.TokenLimit == 0 {
		c.TokenLimit = 300_000
	}
	if c.RetryAfter == 0 {
		c.RetryAfter = time.Second
	}
	if c.Dims == 0 {
		c.Dims = 8
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	return c
}

// Provider is a running fake provider.
type Provider struct {
	cfg    Config
	server *httptest.Server

	inFlight atomic.Int64
	mu       sync.Mutex
	rng      *rand.Rand

	calls, ok, rateLimited, rejected, failed, inputs, largest atomic.Int64
}

// Start starts a provider; Close stops it.
func Start(cfg Config) *Provider {
	cfg = cfg.withDefaults()
	p := &Provider{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))}
	p.server = httptest.NewServer(http.HandlerFunc(p.serve))
	return p
}

// URL is the provider's base URL, for embedder.base_url.
func (p *Provider) URL() string { return p.server.URL }

// Close stops the provider.
func (p *Provider) Close() { p.server.Close() }

// Limit is the provider's physical limit in inputs a second for calls of n inputs:
// Concurrency × n ÷ (Latency + n × PerInput).
func (p *Provider) Limit(n int) float64 {
	call := p.cfg.Latency + time.Duration(n)*p.cfg.PerInput
	return float64(p.cfg.Concurrency*n) / call.Seconds()
}

// Stats counts the provider's answers since it started.
type Stats struct {
	// Calls is every call; OK, RateLimited (429), Rejected (400) and Failed (500) split them.
	Calls, OK, RateLimited, Rejected, Failed int64
	// Inputs is the inputs of the calls answered OK; LargestCall the most of one of them.
	Inputs, LargestCall int64
}

// Stats returns the counts so far.
func (p *Provider) Stats() Stats {
	return Stats{Calls: p.calls.Load(), OK: p.ok.Load(), RateLimited: p.rateLimited.Load(),
		Rejected: p.rejected.Load(), Failed: p.failed.Load(), Inputs: p.inputs.Load(), LargestCall: p.largest.Load()}
}

func (p *Provider) serve(w http.ResponseWriter, r *http.Request) {
	p.calls.Add(1)
	if r.Method != http.MethodPost || r.URL.Path != "/v1/embeddings" {
		writeError(w, http.StatusNotFound, "Unknown request URL: "+r.Method+" "+r.URL.Path, "invalid_request_error", "unknown_url")
		return
	}
	var req struct {
		Model string   `json:"model"`
		Input []string `json:"input"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Input) == 0 {
		p.rejected.Add(1)
		writeError(w, http.StatusBadRequest, "'input' is a required property", "invalid_request_error", nil)
		return
	}
	if n := p.inFlight.Add(1); n > int64(p.cfg.Concurrency) {
		p.inFlight.Add(-1)
		p.rateLimited.Add(1)
		w.Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(p.cfg.RetryAfter.Seconds()))))
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf("Rate limit reached for %s: concurrent requests limit %d. Please try again in %v.",
			req.Model, p.cfg.Concurrency, p.cfg.RetryAfter), "requests", "rate_limit_exceeded")
		return
	}
	// The call's slot frees once its work is done, before the answer is written: a client that
	// starts its next call on reading the answer never finds the slot still taken.
	done := sync.OnceFunc(func() { p.inFlight.Add(-1) })
	defer done()
	tokens := 0
	for _, in := range req.Input {
		tokens += (len(in) + 3) / 4
	}
	if tokens > p.cfg.TokenLimit {
		p.rejected.Add(1)
		writeError(w, http.StatusBadRequest, fmt.Sprintf("This model's maximum request length is %d tokens, however you requested %d tokens. Please reduce your input.",
			p.cfg.TokenLimit, tokens), "invalid_request_error", nil)
		return
	}
	time.Sleep(p.cfg.Latency + time.Duration(len(req.Input))*p.cfg.PerInput)
	done()
	p.mu.Lock()
	fail := p.rng.Float64() < p.cfg.ErrorRate
	p.mu.Unlock()
	if fail {
		p.failed.Add(1)
		writeError(w, http.StatusInternalServerError, "The server had an error while processing your request. Sorry about that!", "server_error", nil)
		return
	}
	type datum struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	data := make([]datum, len(req.Input))
	for i, in := range req.Input {
		data[i] = datum{Object: "embedding", Index: i, Embedding: vector(in, p.cfg.Dims)}
	}
	p.ok.Add(1)
	p.inputs.Add(int64(len(req.Input)))
	for n := int64(len(req.Input)); ; {
		if m := p.largest.Load(); n <= m || p.largest.CompareAndSwap(m, n) {
			break
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"object": "list", "data": data, "model": req.Model,
		"usage": map[string]int{"prompt_tokens": tokens, "total_tokens": tokens},
	})
}

// vector is a deterministic non-zero vector of text.
func vector(text string, dims int) []float32 {
	v := make([]float32, dims)
	h := fnv.New64a()
	h.Write([]byte(text))
	seed := h.Sum64()
	for i := range v {
		seed = seed*6364136223846793005 + 1442695040888963407
		v[i] = float32(int32(seed>>33)%1000+1001) / 1000
	}
	return v
}

func writeError(w http.ResponseWriter, status int, msg, typ string, code any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": code}})
}
