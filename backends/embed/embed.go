// Package embed turns text into vectors for the pgvector backend. Providers: [Hash] (offline and
// deterministic; lexical similarity only), OpenAI-compatible /v1/embeddings and Ollama's
// /api/embed. Errors are classified with package indexerr: a 429 is a RateLimitError carrying
// Retry-After, a 5xx or network failure is transient, and an input the provider rejects (400) is
// permanent for that input alone — a rejected batch is split in halves until the bad input is
// isolated, so only its job fails.
package embed

import "context"

// Embedder embeds texts. Implementations are safe for concurrent use.
type Embedder interface {
	// Model names the model; it is stored beside every vector, so a change is detected.
	Model() string
	// Dims is the length of every vector Embed returns.
	Dims() int
	// Embed returns one vector per text, in order, and one error per text (nil where the text
	// was embedded). Both slices have len(texts) elements. A whole-call failure (provider down)
	// sets every error.
	Embed(ctx context.Context, texts []string) ([][]float32, []error)
}
