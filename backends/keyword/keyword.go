// Package keyword is the full-text-search backend: it keeps a tsvector of each record's text
// ([backends.TextParts]) in a table kw_<name> with a GIN index, the title weighted A and the rest
// B, in the configured Postgres text search configuration (language).
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

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/internal/shadow"
)

// LanguageDefault is the text search configuration used when none is configured.
const LanguageDefault = "english"

// TablePrefix starts the name of every keyword backend's table.
const TablePrefix = "kw_"

// indexSuffix ends the name of a table's GIN index: kw_<name>_document_idx.
const indexSuffix = "_document_idx"

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
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	c.Text = c.Text.WithDefaults()
	if c.Language == "" {
		c.Language = LanguageDefault
	}
	return c
}

func (c Config) validate() error {
	if !nameRe.MatchString(c.Name) {
		return fmt.Errorf("keyword backend: name %q is not valid ([a-z][a-z0-9_]{0,39})", c.Name)
	}
	if shadow.Reserved(c.Name) {
		return fmt.Errorf("keyword backend: name %q is reserved: a name with _shadow at its end or before an underscore "+
			"would collide with the shadow tables of a rebuild", c.Name)
	}
	if !languageRe.MatchString(c.Language) {
		return fmt.Errorf("backend %q: language %q is not a text search configuration name ([a-z_]+)", c.Name, c.Language)
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
	// backend [Backend.Shadow] returns.
	table      string
	names      shadow.Names
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
	live := &Backend{cfg: cfg, table: names.Live, names: names, sql: newStatements(names.Live, names.LiveIndex)}
	sh := &Backend{cfg: cfg, table: names.Shadow, names: names, sql: newStatements(names.Shadow, names.ShadowIndex)}
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
