package embed

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
)

// Ollama is an [Embedder] for Ollama's native endpoint, POST {base_url}/api/embed. A base_url
// that already ends in /api is not given a second one.
//
// Batching, bisection of rejected calls and error classification are those of [OpenAI]. Ollama
// truncates an input longer than the model's context rather than rejecting it.
//
// Ollama is safe for concurrent use.
type Ollama struct {
	h *httpEmbedder
}

// NewOllama returns an [Ollama] embedder. Panics if cfg has no BaseURL or Model, BaseURL is not
// an http(s) URL, or a number is negative; [New] reports the same problems as errors.
func NewOllama(cfg HTTPConfig) *Ollama {
	h := newHTTPEmbedder(KindOllama, cfg, func(base string) string {
		return withSuffix(base, "/api", "/api/embed")
	})
	type request struct {
		Model      string   `json:"model"`
		Input      []string `json:"input"`
		Dimensions int      `json:"dimensions,omitempty"`
	}
	dims := 0
	if cfg.SendDimensions {
		dims = h.dims
	}
	h.request = func(inputs []string) any {
		return request{Model: h.model, Input: inputs, Dimensions: dims}
	}
	h.parse = parseOllama
	return &Ollama{h: h}
}

// Calls returns how many HTTP calls the embedder has made, bisection retries included.
func (o *Ollama) Calls() int64 { return o.h.calls.Load() }

// Dims implements [Embedder].
func (o *Ollama) Dims() int { return o.h.dims }

// Embed implements [Embedder].
func (o *Ollama) Embed(ctx context.Context, texts []string) ([][]float32, []error) {
	return o.h.embed(ctx, texts)
}

// Model implements [Embedder].
func (o *Ollama) Model() string { return o.h.model }

// parseOllama decodes {"embeddings":[[…],…]}, one vector per input in input order.
func parseOllama(r io.Reader, n int) ([][]float32, error) {
	var body struct {
		Embeddings [][]float32 `json:"embeddings"`
	}
	if err := json.NewDecoder(r).Decode(&body); err != nil {
		return nil, err
	}
	if len(body.Embeddings) != n {
		return nil, fmt.Errorf("got %d embeddings for %d inputs", len(body.Embeddings), n)
	}
	return body.Embeddings, nil
}
