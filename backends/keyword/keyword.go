// Package keyword is the full-text-search backend: it keeps a tsvector of each record's text
// ([backends.TextParts]) in a table kw_<name> with a GIN index, the title weighted A and the rest
// B, in the configured Postgres text search configuration (language), and ranks matches by BM25.
//
// BM25 needs the number of documents containing each lexeme, the number of documents and their
// average length. The table kws_<name> holds them as rows that add up: every write inserts the
// change it makes in the same statement as the documents, and a compaction (every compactEvery
// batches, and after a rebuild's index build) sums a lexeme's rows into one. Writers only
// insert, so they never wait for each other on a common lexeme. The statistics are exact: they
// commit with the documents they count, so a snapshot sees the statistics of exactly the
// documents it sees. A search reads them in one statement and ranks in the next, so documents
// committed between the two are ranked with statistics a moment older.
//
// Queries are read as people type them ([parseQuery]): words are alternatives ranked by BM25,
// quoted phrases are required, -word excludes. The work of a search is bounded: the candidates
// are the records containing the query's rarest terms, as many of them as Config.Candidates
// allows, and every candidate is then scored with all the terms.
//
// Writes take one round trip per batch: the titles and texts go to Postgres as text[]
// parameters and the tsvectors are computed in SQL from unnest, upserted and guarded by version.
// Each batch runs under a savepoint (pipelined in the same round trip), so a failed write
// normally leaves the caller's transaction usable, and a text Postgres rejects (a tsvector over
// its 1 MB limit) fails only its own document.
package keyword

import (
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/internal/shadow"
)

// LanguageDefault is the text search configuration used when none is configured.
const LanguageDefault = "english"

// TablePrefix starts the name of every keyword backend's table.
const TablePrefix = "kw_"

// StatsPrefix starts the name of every keyword backend's statistics table, kws_<name>.
const StatsPrefix = "kws_"

// indexSuffix ends the name of a table's GIN index: kw_<name>_document_idx.
const indexSuffix = "_document_idx"

// Defaults and bounds of the ranking ([Config]).
const (
	K1Default          = 0.9
	BDefault           = 0.4
	TitleWeightDefault = 2
	CandidatesDefault  = 3000
	CandidatesMin      = 10
	CandidatesMax      = 1000000
)

var (
	nameRe     = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	languageRe = regexp.MustCompile(`^[a-z_]+$`)
)

// Config configures a [Backend].
type Config struct {
	// Name is the backend's name, [a-z][a-z0-9_]{0,39}, without "_shadow" at its end or before
	// an underscore (reserved for the tables of a rebuild); its table is kw_<name>. Required.
	Name string
	// Text configures the text indexed; the first non-empty field of Text.Fields is the title.
	// Defaults to [backends.TextConfig]'s defaults.
	Text backends.TextConfig
	// Language is the Postgres text search configuration (a name in pg_ts_config), [a-z_]+.
	// Defaults to "english".
	Language string
	// K1 is BM25's term frequency saturation, more than 0 and at most 10. Defaults to 0.9.
	K1 float64
	// B is BM25's document length normalisation, 0..1. Defaults to 0.4; a negative value means 0.
	B float64
	// TitleWeight is how many times a word of the title counts, 1..10. Defaults to 2.
	TitleWeight float64
	// Candidates bounds the records one search scores, 10..1000000: the rarest terms of the
	// query find candidates while their document counts add up to at most this many, and the
	// candidates are capped at it. Defaults to 3000.
	Candidates int
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	c.Text = c.Text.WithDefaults()
	if c.Language == "" {
		c.Language = LanguageDefault
	}
	if c.K1 == 0 {
		c.K1 = K1Default
	}
	switch {
	case c.B == 0:
		c.B = BDefault
	case c.B < 0:
		c.B = 0
	}
	if c.TitleWeight == 0 {
		c.TitleWeight = TitleWeightDefault
	}
	if c.Candidates == 0 {
		c.Candidates = CandidatesDefault
	}
	return c
}

func (c Config) validate() error {
	if !nameRe.MatchString(c.Name) {
		return fmt.Errorf("keyword backend: name %q is not valid ([a-z][a-z0-9_]{0,39})", c.Name)
	}
	if shadow.Reserved(c.Name) {
		return fmt.Errorf("keyword backend: name %q is reserved: %s", c.Name, shadow.ReservedProblem)
	}
	if !languageRe.MatchString(c.Language) {
		return fmt.Errorf("backend %q: language %q is not a text search configuration name ([a-z_]+)", c.Name, c.Language)
	}
	switch {
	case !(c.K1 > 0 && c.K1 <= 10):
		return fmt.Errorf("backend %q: bm25.k1 %v is out of range (more than 0, at most 10)", c.Name, c.K1)
	case !(c.B >= 0 && c.B <= 1):
		return fmt.Errorf("backend %q: bm25.b %v is out of range (0..1)", c.Name, c.B)
	case !(c.TitleWeight >= 1 && c.TitleWeight <= 10):
		return fmt.Errorf("backend %q: bm25.title_weight %v is out of range (1..10)", c.Name, c.TitleWeight)
	case c.Candidates < CandidatesMin || c.Candidates > CandidatesMax:
		return fmt.Errorf("backend %q: bm25.candidates %d is out of range (%d..%d)", c.Name, c.Candidates, CandidatesMin, CandidatesMax)
	}
	if err := c.Text.Validate(); err != nil {
		return fmt.Errorf("backend %q: %w", c.Name, err)
	}
	return nil
}

// Backend is a keyword index backend. It is safe for concurrent use.
type Backend struct {
	cfg Config
	// table is the table the backend reads and writes: names.Live, or names.Shadow for the
	// backend [Backend.Shadow] returns; stats is its statistics table.
	table      string
	stats      string
	names      shadow.Names
	statsNames shadow.Names // of the statistics tables: kws_<name> and kws_<name>_shadow
	writes     atomic.Int64 // IngestBatch calls, to compact the statistics every compactEvery
	searches   sync.Map     // search statements by number of terms (see searchStatement)
	sql        statements
	shadow     *Backend // the backend bound to names.Shadow (itself when table is names.Shadow)
	shadow.Ops          // DropShadow, IndexShadow, ShadowExists, SwapShadow
}

var _ backends.Backend = (*Backend)(nil)

// New returns the backend cfg describes. It does not touch the database; call [Backend.Ensure]
// before the first write (it also checks that the language exists).
func New(cfg Config) (*Backend, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	names := shadow.NewNames(TablePrefix+cfg.Name, indexSuffix)
	stats := shadow.NewNames(StatsPrefix+cfg.Name, "_idx")
	live := &Backend{cfg: cfg, table: names.Live, stats: stats.Live, names: names, statsNames: stats,
		sql: newStatements(names.Live, names.LiveIndex, stats.Live)}
	sh := &Backend{cfg: cfg, table: names.Shadow, stats: stats.Shadow, names: names, statsNames: stats,
		sql: newStatements(names.Shadow, names.ShadowIndex, stats.Shadow)}
	live.shadow, sh.shadow = sh, sh
	live.Ops = shadow.NewOps(cfg.Name, names, sh.sql.createIndexConcurrently)
	sh.Ops = live.Ops
	return live, nil
}

// Dims returns 0: the backend does not embed.
func (b *Backend) Dims() int { return 0 }

// Kind returns [backends.KindKeyword].
func (b *Backend) Kind() string { return backends.KindKeyword }

// Language returns the text search configuration documents are built with; queries should use
// the same one.
func (b *Backend) Language() string { return b.cfg.Language }

// Model returns "": the backend does not embed.
func (b *Backend) Model() string { return "" }

// Name returns the configured name.
func (b *Backend) Name() string { return b.cfg.Name }

// Table returns the name of the backend's table, kw_<name> (kw_<name>_shadow for the backend
// [Backend.Shadow] returns).
func (b *Backend) Table() string { return b.table }
