package config

import (
	"time"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/embed"
	"github.com/osa-archive/osa/backends/keyword"
	"github.com/osa-archive/osa/backends/pgvector"
)

// Kinds of index backend, the values of backends[].kind.
const (
	BackendKindKeyword  = "keyword"  // Postgres full-text search
	BackendKindPgvector = "pgvector" // semantic search with pgvector
)

// Kinds of embedder, the values of backends[].embedder.kind.
const (
	EmbedderKindHash   = "hash"   // offline, deterministic feature hashing
	EmbedderKindOllama = "ollama" // Ollama's /api/embed
	EmbedderKindOpenAI = "openai" // any OpenAI-compatible /v1/embeddings
)

// Defaults and bounds of a backend.
const (
	BackendNameMaxLen   = 40
	WeightDefault       = 1 // of a backend listed in a file
	VectorWeightDefault = 2 // of the built-in "vector" backend
	WeightMin           = 1
	WeightMax           = 1000
	MaxAttemptsDefault  = 12
	MaxAttemptsMin      = 1
	MaxAttemptsMax      = 1000

	BatchMaxSizeDefault  = 128
	BatchMaxSizeMin      = 1
	BatchMaxSizeMax      = 10000
	BatchMaxDelayDefault = 100 * time.Millisecond
	BatchMaxDelayMax     = time.Minute
	BatchTimeoutDefault  = 60 * time.Second

	TextMaxCharsDefault = backends.TextMaxCharsDefault
	TextMaxCharsMin     = 1
	TextMaxCharsMax     = 1000000

	EmbedderKindDefault      = EmbedderKindHash
	EmbedderModelHashDefault = embed.HashModelDefault
	EmbedderDimsDefault      = embed.DimsDefault
	EmbedderDimsMin          = 1
	EmbedderDimsMax          = pgvector.DimsMax        // the most dimensions an HNSW index on vector takes
	EmbedderDimsHalfvecMax   = pgvector.HalfvecDimsMax // the most on halfvec (hnsw.type halfvec)
	EmbedderMaxInputsDefault = embed.MaxInputsDefault
	EmbedderMaxInputsMin     = 1
	EmbedderMaxInputsMax     = 10000
	EmbedderTimeoutDefault   = embed.TimeoutDefault

	EmbedderMaxTokensPerCallDefault = embed.MaxTokensPerCallDefault
	EmbedderMaxTokensPerCallMin     = 100
	EmbedderMaxTokensPerCallMax     = 10_000_000
	EmbedderMaxConcurrencyDefault   = embed.MaxConcurrencyDefault
	EmbedderMaxConcurrencyMin       = 1
	EmbedderMaxConcurrencyMax       = embed.MaxConcurrencyMax

	HNSWMDefault              = pgvector.MDefault
	HNSWMMin                  = 2
	HNSWMMax                  = 100
	HNSWEfConstructionDefault = pgvector.EfConstructionDefault
	HNSWEfConstructionMin     = 4
	HNSWEfConstructionMax     = 1000

	HNSWTypeVector  = pgvector.TypeVector  // 4-byte floats
	HNSWTypeHalfvec = pgvector.TypeHalfvec // 2-byte floats: half the size
	HNSWTypeDefault = HNSWTypeVector

	LanguageDefault = keyword.LanguageDefault

	BM25K1Default          = keyword.K1Default
	BM25K1Max              = 10
	BM25BDefault           = keyword.BDefault
	BM25TitleWeightDefault = keyword.TitleWeightDefault
	BM25TitleWeightMax     = 10
	BM25CandidatesDefault  = keyword.CandidatesDefault
	BM25CandidatesMin      = 10
	BM25CandidatesMax      = 1000000

	// HashMinSimilarityDefault is the relevance floor of the hash embedder, 0: its
	// similarity is lexical, and one word shared with an 8,000-character
	// record is a cosine of about 0.02, while hash collisions between texts
	// without a shared word reach 0.39 (the 99.9th percentile of SciFact's
	// queries against its abstracts). No similarity floor tells them apart; the
	// rule that a hit must share a word with the query does (pgvector.Config.SharesWord).
	HashMinSimilarityDefault = 0
)

// Backend configures one index backend.
type Backend struct {
	// Name identifies the backend, matching [NamePattern], unique; its queue is
	// index_<name>. Required.
	Name string `koanf:"name"`

	// Kind is "pgvector" or "keyword". Required.
	Kind string `koanf:"kind"`

	// Weight is the backend's share of worker.total_workers, 1..1000.
	// Defaults to 1 (2 for the built-in "vector" backend).
	Weight int `koanf:"weight"`

	// MaxAttempts is how often an index job is tried before it's discarded,
	// 1..1000. Defaults to 12.
	MaxAttempts int `koanf:"max_attempts"`

	// Batch configures how index jobs are gathered into batches.
	Batch Batch `koanf:"batch"`

	// Text configures how a record is turned into text.
	Text Text `koanf:"text"`

	// Embedder configures the embedding model; pgvector only (nil for
	// keyword). Defaults to [DefaultEmbedder] of kind "hash".
	Embedder *Embedder `koanf:"embedder,omitempty"`

	// HNSW configures the vector index; pgvector only (nil for keyword).
	// Defaults to m 16, ef_construction 128, type vector.
	HNSW *HNSW `koanf:"hnsw,omitempty"`

	// Language is the Postgres text search configuration, [a-z_]+; keyword
	// only (empty for pgvector). Defaults to "english".
	Language string `koanf:"language,omitempty"`
	// BM25 configures the ranking; keyword only (nil for pgvector). Defaults
	// to k1 0.9, b 0.4, title_weight 2, candidates 3000.
	BM25 *BM25 `koanf:"bm25,omitempty"`
}

// BM25 configures the ranking of a keyword backend.
type BM25 struct {
	// K1 is the term frequency saturation, more than 0 and at most 10.
	// Defaults to 0.9.
	K1 float64 `koanf:"k1"`
	// B is the document length normalisation, 0..1. Defaults to 0.4.
	B float64 `koanf:"b"`
	// TitleWeight is how many times a word of the title counts, 1..10.
	// Defaults to 2.
	TitleWeight float64 `koanf:"title_weight"`
	// Candidates bounds the records one search scores, 10..1000000: the
	// query's rarest words find them while their document counts add up to at
	// most this many. Defaults to 3000, where the search benchmark's keyword
	// p99 stays within its target on 100,000 records.
	Candidates int `koanf:"candidates"`
}

// Batch configures how index jobs are gathered into batches.
type Batch struct {
	// MaxSize is the most jobs in one batch, 1..10000 and at most
	// worker.total_workers. Defaults to 128.
	MaxSize int `koanf:"max_size"`

	// MaxDelay is how long a batch waits to fill up, more than 0 and at most
	// 1m. Defaults to 100ms.
	MaxDelay time.Duration `koanf:"max_delay"`

	// Timeout is the longest time one batch write may take. Defaults to 60s.
	Timeout time.Duration `koanf:"timeout"`
}

// Text configures how a record's metadata is turned into the text indexed.
type Text struct {
	// Fields are the metadata fields used first, in order; the other string
	// fields are appended after them. Defaults to [title, summary].
	Fields []string `koanf:"fields"`

	// MaxChars is the longest text, in characters, 1..1000000. Defaults to
	// 8000.
	MaxChars int `koanf:"max_chars"`
}

// Embedder configures the embedding model of a pgvector backend.
type Embedder struct {
	// Kind is "hash", "openai" or "ollama". Defaults to "hash".
	Kind string `koanf:"kind"`

	// Model is the model name; required for openai and ollama. Defaults to
	// "hash-v2" for hash (hash-v1 embeds as before it).
	Model string `koanf:"model"`

	// Dims is the number of dimensions of an embedding, 1..2000 (1..4000
	// with hnsw.type halfvec). Defaults to 384.
	Dims int `koanf:"dims"`

	// BaseURL is the http(s) URL of the provider; required for openai and
	// ollama. Defaults to "".
	BaseURL string `koanf:"base_url"`

	// APIKey is sent to the provider. Secret: redacted by [Config.Redacted],
	// and never stored in the backend catalog. Defaults to "".
	APIKey string `koanf:"api_key"`

	// APIKeyEnv names the environment variable that holds the API key, for a
	// key every process takes from its own environment: the catalog stores
	// this name, never the key, and a process without the variable does not
	// run the backend (its jobs go to the processes that have it). api_key,
	// when set, wins. Defaults to "".
	APIKeyEnv string `koanf:"api_key_env"`

	// APIKeyFile is the path of a file that holds the API key (a mounted
	// Kubernetes or Docker secret, say), read by every process when it builds
	// the backend, surrounding whitespace trimmed: the catalog stores the
	// path, never the key, and a process that cannot read the file, or finds
	// it empty, does not run the backend. Not with api_key_env; api_key, when
	// set, wins. Defaults to "".
	APIKeyFile string `koanf:"api_key_file"`

	// MaxInputs is the most inputs in one embedding call, 1..10000. Defaults
	// to 128.
	MaxInputs int `koanf:"max_inputs"`

	// MaxTokensPerCall is the most tokens one embedding call may carry,
	// estimated at one per three bytes of text, 100..10000000: longer batches
	// are split into more calls. Defaults to 100000.
	MaxTokensPerCall int `koanf:"max_tokens_per_call"`

	// MaxConcurrency is the most embedding calls a process makes at once to
	// this provider (base URL, model and key), 1..1024. The process adapts its
	// concurrency below it: it backs off on 429 and probes upward, shared by
	// every batch of every backend calling that provider. Defaults to 16.
	MaxConcurrency int `koanf:"max_concurrency"`

	// Timeout is the longest time one embedding call may take. Defaults to
	// 30s.
	Timeout time.Duration `koanf:"timeout"`
	// MinSimilarity is the relevance floor: vector hits whose cosine
	// similarity to the query is below it are dropped, -1..1 (-1 keeps every
	// hit). Defaults to 0 (for hash, see HashMinSimilarityDefault); set it for
	// a model from the similarity of unrelated texts, which osa bench
	// relevance reports (README, "How search ranks").
	MinSimilarity float64 `koanf:"min_similarity"`
	// SendDimensions asks the provider for dims dimensions (the request's
	// "dimensions"), for models that can shorten their vectors, such as
	// OpenAI's text-embedding-3; openai and ollama only. Defaults to false.
	SendDimensions bool `koanf:"send_dimensions"`
}

// HNSW configures the HNSW index of a pgvector backend.
type HNSW struct {
	// M is the number of connections per layer, 2..100. Defaults to 16.
	M int `koanf:"m"`

	// EfConstruction is the size of the candidate list while building,
	// 4..1000 and at least 2 × M. Defaults to 128, twice pgvector's own default:
	// on the search benchmark's 100,000 hash-embedded records, recall@10 at
	// ef_search 800 was 0.94 with 64 and 0.98 with 128, for an index build
	// about twice as long.
	EfConstruction int `koanf:"ef_construction"`

	// Type is the type of the stored vectors and their index: "vector"
	// (4-byte floats) or "halfvec" (2-byte floats: about half the table and
	// index, so twice the vectors per GB of memory and of
	// maintenance_work_mem, embeddings of up to 4000 dims; every value is
	// rounded to half precision). Changing it rebuilds the backend into a
	// new generation. osa bench scale measures both. Defaults to "vector".
	Type string `koanf:"type"`
}

// DefaultBackend returns the defaults that fill a backend item listed in a
// config file: weight 1, max_attempts 12, the default batch and text, and by
// kind the hash embedder and HNSW settings (pgvector) or language "english"
// (keyword). An unknown kind gets only the settings common to all kinds.
func DefaultBackend(name, kind string) Backend {
	b := Backend{
		Name:        name,
		Kind:        kind,
		Weight:      WeightDefault,
		MaxAttempts: MaxAttemptsDefault,
		Batch: Batch{
			MaxSize:  BatchMaxSizeDefault,
			MaxDelay: BatchMaxDelayDefault,
			Timeout:  BatchTimeoutDefault,
		},
		Text: Text{
			Fields:   backends.TextFieldsDefault(),
			MaxChars: TextMaxCharsDefault,
		},
	}
	switch kind {
	case BackendKindKeyword:
		b.Language = LanguageDefault
		b.BM25 = &BM25{K1: BM25K1Default, B: BM25BDefault, TitleWeight: BM25TitleWeightDefault, Candidates: BM25CandidatesDefault}
	case BackendKindPgvector:
		e := DefaultEmbedder(EmbedderKindDefault)
		b.Embedder = &e
		b.HNSW = &HNSW{M: HNSWMDefault, EfConstruction: HNSWEfConstructionDefault, Type: HNSWTypeDefault}
	}
	return b
}

// DefaultEmbedder returns the defaults that fill an embedder block of the
// given kind: model "hash-v2" for hash (none for the others, which must name
// one), 384 dims, 128 inputs per call, a 30s timeout.
func DefaultEmbedder(kind string) Embedder {
	e := Embedder{
		Kind:             kind,
		Dims:             EmbedderDimsDefault,
		MaxInputs:        EmbedderMaxInputsDefault,
		MaxTokensPerCall: EmbedderMaxTokensPerCallDefault,
		MaxConcurrency:   EmbedderMaxConcurrencyDefault,
		Timeout:          EmbedderTimeoutDefault,
	}
	if kind == EmbedderKindHash {
		e.Model = EmbedderModelHashDefault
		e.MinSimilarity = HashMinSimilarityDefault
	}
	return e
}
