// Package pgvector is the semantic-search backend: it embeds each record's text ([backends.Text])
// with an [embed.Embedder] and keeps the vectors in a table vec_<name> with an HNSW index for
// cosine distance.
//
// The table holds one row per record: (record_id, version, model, embedding, indexed_at). Its
// vector length and the model stored beside every vector must match the embedder; [Backend.Ensure]
// refuses to start on a mismatch, because vectors of different models cannot be compared.
//
// The embedding column is of pgvector's vector type (4-byte floats), or with Config.Type
// [TypeHalfvec] of its halfvec type (2-byte floats: half the table and index, up to 4,000
// dimensions, at the cost of rounding every stored value); the HNSW operator class, the search
// statement's query vector and the upsert follow the type. Vectors travel as vector either way
// and are cast on the server.
//
// Writes take one round trip per batch: the vectors go to Postgres as one vector[] parameter
// (binary when the connection has pgvector's types registered, text otherwise) and are upserted
// from unnest, guarded by version. Each batch runs under a savepoint (pipelined in the same round
// trip), so a failed write normally leaves the caller's transaction usable, and a row Postgres
// rejects fails only its own document.
package pgvector

import (
	"fmt"
	"github.com/jackc/pgx/v5/pgxpool"
	"regexp"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/embed"
	"github.com/osa-archive/osa/backends/internal/shadow"
)

// Defaults and bounds of [Config].
const (
	MDefault              = 16
	MMin                  = 2
	MMax                  = 100
	EfConstructionDefault = 128
	EfConstructionMin     = 4
	EfConstructionMax     = 1000

	// DimsMax is the longest vector an HNSW index on the vector type accepts.
	DimsMax = 2000
	// HalfvecDimsMax is the longest vector an HNSW index on the halfvec type accepts.
	HalfvecDimsMax = 4000
)

// Types of the embedding column, the values of [Config].Type.
const (
	TypeVector  = "vector"  // 4-byte floats
	TypeHalfvec = "halfvec" // 2-byte floats
	TypeDefault = TypeVector
)

// TablePrefix starts the name of every pgvector backend's table.
const TablePrefix = "vec_"

// indexSuffix ends the name of a table's HNSW index: vec_<name>_embedding_idx.
const indexSuffix = "_embedding_idx"

var nameRe = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// Config configures a [Backend].
type Config struct {
	// Name is the backend's name, [a-z][a-z0-9_]{0,39}, without "_shadow" at its end or before
	// an underscore (reserved for the tables of a rebuild); its table is vec_<name>. Required.
	Name string
	// Text configures the text embedded. Defaults to [backends.TextConfig]'s defaults.
	Text backends.TextConfig
	// Embedder turns text into vectors; its Model and Dims fix the table's. Required.
	Embedder embed.Embedder
	// M is the HNSW index's number of connections per layer, 2..100. Defaults to 16.
	M int
	// EfConstruction is the HNSW candidate list size while building, 4..1000 and at least 2 × M.
	// Defaults to 128.
	EfConstruction int
	// Type is the type of the embedding column and its index: [TypeVector] or [TypeHalfvec]
	// (half the size, values rounded to 2-byte floats, up to 4,000 dims). A table of the other
	// type is a mismatch, as one of other dims is. Defaults to [TypeVector].
	Type string
	// MinSimilarity is the relevance floor: Search drops hits whose cosine similarity to the
	// query is below it. 0 (the default) keeps every hit of similarity 0 or more; -1 keeps all.
	MinSimilarity float64
	// SharesWord, when set, returns a test of whether a record's text shares a word with the
	// query: for an embedder whose similarity is lexical ([embed.Hash.SharesWord]), a hit
	// without one is a hash collision rather than a match, and Search drops it. Defaults to nil:
	// no such check.
	SharesWord func(query string) func(text string) bool
	// Reuse, when set, is the pool on which Prepare looks up the text hashes of the stored rows:
	// a record whose text and model are those of its row is not embedded again (its row only
	// moves to the new version), and a rebuild copies a live row's vector instead of embedding
	// its unchanged text. nil embeds every text.
	Reuse *pgxpool.Pool
	// OnReuse, when set, is called with the number of texts a Prepare did not embed because of
	// Reuse (for metrics). It must be fast and safe for concurrent use.
	OnReuse func(n int)
	// OnEmbed, when set, is called with the number of texts a Prepare sends to the embedder (for
	// metrics; a search's query is not counted). It must be fast and safe for concurrent use.
	OnEmbed func(n int)
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	c.Text = c.Text.WithDefaults()
	if c.M == 0 {
		c.M = MDefault
	}
	if c.EfConstruction == 0 {
		c.EfConstruction = EfConstructionDefault
	}
	if c.Type == "" {
		c.Type = TypeDefault
	}
	return c
}

func (c Config) validate() error {
	if !nameRe.MatchString(c.Name) {
		return fmt.Errorf("pgvector backend: name %q is not valid ([a-z][a-z0-9_]{0,39})", c.Name)
	}
	if shadow.Reserved(c.Name) {
		return fmt.Errorf("pgvector backend: name %q is reserved: %s", c.Name, shadow.ReservedProblem)
	}
	if c.Embedder == nil {
		return fmt.Errorf("backend %q: an embedder is required", c.Name)
	}
	if c.Type != TypeVector && c.Type != TypeHalfvec {
		return fmt.Errorf("backend %q: hnsw.type %q is not %s or %s", c.Name, c.Type, TypeVector, TypeHalfvec)
	}
	if d, most := c.Embedder.Dims(), dimsMax(c.Type); d < 1 || d > most {
		return fmt.Errorf("backend %q: embedder dims %d is out of range (1..%d, the most an HNSW index on %s holds)", c.Name, d, most, c.Type)
	}
	if c.Embedder.Model() == "" {
		return fmt.Errorf("backend %q: the embedder has no model name", c.Name)
	}
	if err := c.Text.Validate(); err != nil {
		return fmt.Errorf("backend %q: %w", c.Name, err)
	}
	if c.M < MMin || c.M > MMax {
		return fmt.Errorf("backend %q: hnsw.m %d is out of range (%d..%d)", c.Name, c.M, MMin, MMax)
	}
	if c.EfConstruction < EfConstructionMin || c.EfConstruction > EfConstructionMax || c.EfConstruction < 2*c.M {
		return fmt.Errorf("backend %q: hnsw.ef_construction %d is out of range (%d..%d and at least 2 × m = %d)",
			c.Name, c.EfConstruction, EfConstructionMin, EfConstructionMax, 2*c.M)
	}
	return nil
}

// dimsMax is the longest vector an HNSW index on column type typ accepts.
func dimsMax(typ string) int {
	if typ == TypeHalfvec {
		return HalfvecDimsMax
	}
	return DimsMax
}

// Backend is a pgvector index backend. It is safe for concurrent use.
type Backend struct {
	cfg   Config
	dims  int
	model string
	// table is the table the backend reads and writes: names.Live, or names.Shadow for the
	// backend [Backend.Shadow] returns.
	table      string
	names      shadow.Names
	sql        statements
	shadow     *Backend // the backend bound to names.Shadow (itself when table is names.Shadow)
	shadow.Ops          // DropShadow, IndexShadow, ShadowExists, SwapShadow
}

var _ backends.Backend = (*Backend)(nil)

// New returns the backend cfg describes. It does not touch the database; call [Backend.Ensure]
// before the first write.
func New(cfg Config) (*Backend, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	names := shadow.NewNames(TablePrefix+cfg.Name, indexSuffix)
	live := newBackend(cfg, names, names.Live, names.LiveIndex)
	sh := newBackend(cfg, names, names.Shadow, names.ShadowIndex)
	live.shadow, sh.shadow = sh, sh
	live.Ops = shadow.NewOps(cfg.Name, names, sh.sql.createIndexConcurrently)
	sh.Ops = live.Ops
	return live, nil
}

func newBackend(cfg Config, names shadow.Names, table, index string) *Backend {
	return &Backend{
		cfg:   cfg,
		dims:  cfg.Embedder.Dims(),
		model: cfg.Embedder.Model(),
		table: table,
		names: names,
		sql:   newStatements(table, index, names.Live, cfg.Type, cfg.Embedder.Dims(), cfg.M, cfg.EfConstruction),
	}
}

// Dims returns the embedder's vector length.
func (b *Backend) Dims() int { return b.dims }

// Language returns "": a vector backend builds no text search documents.
func (b *Backend) Language() string { return "" }

// Embedder returns the backend's embedder (search embeds queries with it).
func (b *Backend) Embedder() embed.Embedder { return b.cfg.Embedder }

// Kind returns [backends.KindPgvector].
func (b *Backend) Kind() string { return backends.KindPgvector }

// Type returns the type of the embedding column, [TypeVector] or [TypeHalfvec].
func (b *Backend) Type() string { return b.cfg.Type }

// Model returns the embedder's model.
func (b *Backend) Model() string { return b.model }

// Name returns the configured name.
func (b *Backend) Name() string { return b.cfg.Name }

// Table returns the name of the backend's table, vec_<name> (vec_<name>_shadow for the backend
// [Backend.Shadow] returns).
func (b *Backend) Table() string { return b.table }
