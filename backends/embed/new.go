package embed

import (
	"fmt"
	"time"
)

// Kinds of embedder, the values of [Config.Kind].
const (
	KindHash   = "hash"   // offline feature hashing; see [Hash]
	KindOllama = "ollama" // Ollama's /api/embed; see [Ollama]
	KindOpenAI = "openai" // any OpenAI-compatible /v1/embeddings; see [OpenAI]
)

// Config selects and configures an embedder for [New]; it mirrors a backend's embedder block.
type Config struct {
	// Kind is "hash", "openai" or "ollama". Defaults to "hash".
	Kind string

	// Model is the model name; required for openai and ollama. Defaults to "hash-v2" for hash.
	Model string

	// Dims is the length of every vector. Defaults to 384.
	Dims int

	// BaseURL is the provider's http(s) URL; required for openai and ollama, unused by hash.
	BaseURL string

	// APIKey is sent to the provider as a bearer token; unused by hash. Defaults to "".
	APIKey string

	// SendDimensions asks the provider for Dims dimensions; see [HTTPConfig.SendDimensions].
	// Defaults to false.
	SendDimensions bool

	// MaxInputs is the most texts in one call; unused by hash. Defaults to 128.
	MaxInputs int

	// MaxTokensPerCall bounds the estimated tokens of one call; see
	// [HTTPConfig.MaxTokensPerCall]. Unused by hash. Defaults to 100000.
	MaxTokensPerCall int

	// MaxConcurrency is the ceiling of the adaptive concurrency toward the provider; see
	// [HTTPConfig.MaxConcurrency]. Unused by hash. Defaults to 16.
	MaxConcurrency int

	// Timeout is the longest one call may take; unused by hash. Defaults to 30s.
	Timeout time.Duration
}

// CallCounter is implemented by every embedder of this package: Calls reports the provider calls
// made so far (for [Hash], the Embed calls), so a benchmark can report calls per record.
type CallCounter interface {
	Calls() int64
}

// New returns the embedder cfg describes: a [*Hash], [*OpenAI] or [*Ollama]. The error names
// the offending field as embedder.<field>.
func New(cfg Config) (Embedder, error) {
	switch cfg.Kind {
	case KindHash, "":
		if cfg.Dims < 0 {
			return nil, fmt.Errorf("embedder.dims must be positive, got %d", cfg.Dims)
		}
		return NewHash(HashConfig{Model: cfg.Model, Dims: cfg.Dims}), nil
	case KindOllama, KindOpenAI:
		hc := HTTPConfig{
			BaseURL:          cfg.BaseURL,
			Model:            cfg.Model,
			APIKey:           cfg.APIKey,
			Dims:             cfg.Dims,
			SendDimensions:   cfg.SendDimensions,
			MaxInputs:        cfg.MaxInputs,
			MaxTokensPerCall: cfg.MaxTokensPerCall,
			MaxConcurrency:   cfg.MaxConcurrency,
			Timeout:          cfg.Timeout,
		}
		if err := hc.validate(); err != nil {
			return nil, err
		}
		if cfg.Kind == KindOllama {
			return NewOllama(hc), nil
		}
		return NewOpenAI(hc), nil
	}
	return nil, fmt.Errorf("embedder.kind %q is unknown: want %s, %s or %s", cfg.Kind, KindHash, KindOllama, KindOpenAI)
}

var (
	_ CallCounter = (*Hash)(nil)
	_ CallCounter = (*Ollama)(nil)
	_ CallCounter = (*OpenAI)(nil)
	_ Embedder    = (*Hash)(nil)
	_ Embedder    = (*Ollama)(nil)
	_ Embedder    = (*OpenAI)(nil)
)
