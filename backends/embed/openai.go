package embed

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
)

// OpenAI is an [Embedder] for any OpenAI-compatible embeddings endpoint, POST
// {base_url}/v1/embeddings: OpenAI itself, vLLM, Hugging Face TEI, LM Studio, llama.cpp's server
// and Ollama's compatibility route. A base_url that already ends in /v1 is not given a second one.
//
// Texts are sent in calls of at most [HTTPConfig.MaxInputs], one call at a time. Errors are
// classified with package indexerr: a 429 is a RateLimitError with the advised Retry-After for
// every text of the call (and of the calls not yet made); a 5xx, a network failure, a timeout or
// an unreadable response is transient for every text of the call, and so are 401 and 403, which
// name backends[].embedder.api_key, so fixing the key recovers the jobs; a call the provider
// rejects with 400, 413 or 422 is split in halves and retried until the one bad input stands
// alone and gets a permanent error, so a batch of n texts with one bad text costs at most
// 1 + 2·⌈log₂ n⌉ calls. An empty text and a vector of the wrong length or all zeros are permanent
// errors for their text. When ctx is done, every text not yet embedded gets ctx's error.
//
// OpenAI is safe for concurrent use.
type OpenAI struct {
	h *httpEmbedder
}

// NewOpenAI returns an [OpenAI] embedder. Panics if cfg has no BaseURL or Model, BaseURL is not
// an http(s) URL, or a number is negative; [New] reports the same problems as errors.
func NewOpenAI(cfg HTTPConfig) *OpenAI {
	h := newHTTPEmbedder(KindOpenAI, cfg, func(base string) string {
		return withSuffix(base, "/v1", "/v1/embeddings")
	})
	type request struct {
		Model          string   `json:"model"`
		Input          []string `json:"input"`
		Dimensions     int      `json:"dimensions,omitempty"`
		EncodingFormat string   `json:"encoding_format"`
	}
	dims := 0
	if cfg.SendDimensions {
		dims = h.dims
	}
	h.request = func(inputs []string) any {
		return request{Model: h.model, Input: inputs, Dimensions: dims, EncodingFormat: "float"}
	}
	h.parse = parseOpenAI
	return &OpenAI{h: h}
}

// Calls returns how many HTTP calls the embedder has made, bisection retries included.
func (o *OpenAI) Calls() int64 { return o.h.calls.Load() }

// Dims implements [Embedder].
func (o *OpenAI) Dims() int { return o.h.dims }

// Embed implements [Embedder].
func (o *OpenAI) Embed(ctx context.Context, texts []string) ([][]float32, []error) {
	return o.h.embed(ctx, texts)
}

// Model implements [Embedder].
func (o *OpenAI) Model() string { return o.h.model }

// parseOpenAI decodes {"data":[{"index":i,"embedding":[…]},…]}, placing each vector by its index:
// the API does not promise the data in input order.
func parseOpenAI(r io.Reader, n int) ([][]float32, error) {
	var body struct {
		Data []struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if err := json.NewDecoder(r).Decode(&body); err != nil {
		return nil, err
	}
	if len(body.Data) != n {
		return nil, fmt.Errorf("got %d embeddings for %d inputs", len(body.Data), n)
	}
	vecs := make([][]float32, n)
	seen := make([]bool, n)
	for _, d := range body.Data {
		if d.Index < 0 || d.Index >= n || seen[d.Index] {
			return nil, fmt.Errorf("embedding index %d is out of range or repeated", d.Index)
		}
		seen[d.Index] = true
		vecs[d.Index] = d.Embedding
	}
	return vecs, nil
}
