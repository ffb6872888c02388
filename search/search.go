// Package search answers queries over the index backends: vector (semantic), keyword
// (full-text) and hybrid, which fuses the two (fuse.go): by weighted scores, each side scaled
// from its last candidate to its best hit, or by reciprocal rank fusion.
package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/indexerr"
	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/records"
	"github.com/osa-archive/osa/search/where"
)

// Mode is how a query is answered.
type Mode int

// Modes. ModeDefault is hybrid when both kinds of backend are configured, else the kind that is.
const (
	ModeDefault Mode = iota
	ModeVector
	ModeKeyword
	ModeHybrid
)

// String returns the mode's name.
func (m Mode) String() string {
	return [...]string{"default", "vector", "keyword", "hybrid"}[m]
}

// Defaults and bounds of a request.
const (
	QueryMaxChars    = 1024
	LimitDefault     = 20
	LimitMaxDefault  = 100
	OffsetMaxDefault = 10000
	EfSearchDefault  = 800
	RRFKDefault      = 60
	// HybridDepthDefault is how many candidates hybrid search takes from each side.
	HybridDepthDefault   = 100
	SemanticRatioDefault = 0.1
)

// Fusions of hybrid search.
const (
	// FusionWeighted mixes each side's scores, scaled from 0 to 1 (min-max), by SemanticRatio.
	FusionWeighted = "weighted"
	// FusionRRF is reciprocal rank fusion with k RRFK.
	FusionRRF = "rrf"
)

// Config configures a [Service].
type Config struct {
	// Domain is the SRN domain of hits. Defaults to "localhost".
	Domain string
	// EfSearch is the least hnsw.ef_search of vector queries (search.ef_search). Defaults to 800.
	EfSearch int
	// Fusion is FusionWeighted or FusionRRF (search.fusion). Defaults to FusionWeighted.
	Fusion string
	// SemanticRatio is the vector side's share of a weighted fusion, 0..1
	// (search.semantic_ratio). Defaults to 0.1; a negative value means 0.
	SemanticRatio float64
	// RRFK is the k of reciprocal rank fusion (search.rrf_k). Defaults to 60.
	RRFK int
	// HybridDepth is how many candidates hybrid search takes from each side, at least the page
	// asked for (search.hybrid_depth). Defaults to 100.
	HybridDepth int
	// MaxLimit bounds Request.Limit (search.max_limit). Defaults to 100.
	MaxLimit int
	// MaxOffset bounds Request.Offset (search.max_offset). Defaults to 10,000.
	MaxOffset int
	// Fields are the fields a Request.Where can use (search.fields). Nil means none: every
	// where is then an error that says so.
	Fields []where.Field
}

// WithDefaults returns c with every zero field set to its default.
func (c Config) WithDefaults() Config {
	if c.Domain == "" {
		c.Domain = records.DomainDefault
	}
	if c.EfSearch == 0 {
		c.EfSearch = EfSearchDefault
	}
	if c.RRFK == 0 {
		c.RRFK = RRFKDefault
	}
	if c.Fusion == "" {
		c.Fusion = FusionWeighted
	}
	switch {
	case c.SemanticRatio == 0:
		c.SemanticRatio = SemanticRatioDefault
	case c.SemanticRatio < 0:
		c.SemanticRatio = 0
	}
	if c.HybridDepth == 0 {
		c.HybridDepth = HybridDepthDefault
	}
	if c.MaxLimit == 0 {
		c.MaxLimit = LimitMaxDefault
	}
	if c.MaxOffset == 0 {
		c.MaxOffset = OffsetMaxDefault
	}
	return c
}

// Request is one search.
type Request struct {
	// Query is the user's text, 1..1024 characters.
	Query string
	Mode  Mode
	// Backend names the backend to ask; "" is the first of the mode's kind. In hybrid mode it
	// replaces the default of its own kind only.
	Backend string
	// Limit is the page size: 0 means 20, at most Config.MaxLimit.
	Limit int
	// Offset skips that many hits, at most Config.MaxOffset.
	Offset int
	// Filter, when not nil, is a JSON object every hit's metadata must contain.
	Filter json.RawMessage
	// Where, when not empty, is a filter expression (package where) over Config.Fields that
	// every hit must match, besides Filter.
	Where string
	// MinScore drops hits scoring below it; 0 keeps all.
	MinScore float64
}

// Hit is one result.
type Hit struct {
	SRN      records.SRN
	Score    float64
	Metadata json.RawMessage
	// VectorRank and KeywordRank are the hit's 1-based rank on each side; 0 when that side did
	// not find it (or was not asked).
	VectorRank, KeywordRank int
}

// Result is the answer to a [Request].
type Result struct {
	Hits []Hit
	// Mode is the mode used (never ModeDefault).
	Mode Mode
	// Backends are the backends asked: the vector one first.
	Backends []string
}

// Service answers searches over a set of backends, which [Service.SetBackends] replaces while it
// serves.
type Service struct {
	backends atomic.Pointer[[]backends.Searcher]
	cfg      Config
	fields   where.Fields
	pool     *pgxpool.Pool
}

// New returns a service over bs, in configuration order (the first of each kind is its default).
// Panics if cfg.Fields are invalid (the config validates them).
func New(pool *pgxpool.Pool, bs []backends.Searcher, cfg Config) *Service {
	s := &Service{cfg: cfg.WithDefaults(), fields: where.MustFields(cfg.Fields), pool: pool}
	s.SetBackends(bs)
	return s
}

// Fields returns the fields a where can use, sorted by name.
func (s *Service) Fields() []where.Field { return s.fields.List() }

// ParseWhere parses a filter expression over the service's fields; an invalid one is a
// *domainerr.ValidationError on the field "where", with the position.
func (s *Service) ParseWhere(src string) (*where.Expr, error) {
	e, err := where.Parse(src, s.fields)
	if err != nil {
		return nil, domainerr.Invalid("where", "%v", err)
	}
	return e, nil
}

// SetBackends makes bs the backends searches use, from the next search on; searches running use
// the set they started with.
func (s *Service) SetBackends(bs []backends.Searcher) {
	bs = slices.Clone(bs)
	s.backends.Store(&bs)
}

// searchers returns the current backends.
func (s *Service) searchers() []backends.Searcher { return *s.backends.Load() }

// Search validates req and answers it. Invalid requests return a *domainerr.ValidationError
// naming the field.
func (s *Service) Search(ctx context.Context, req Request) (*Result, error) {
	vec, kw, mode, err := s.plan(&req)
	if err != nil {
		return nil, err
	}
	var cond backends.Condition
	if req.Where != "" {
		e, err := s.ParseWhere(req.Where)
		if err != nil {
			return nil, err
		}
		cond = e
	}
	want := req.Limit + req.Offset
	res := &Result{Mode: mode}
	var hits []Hit
	switch mode {
	case ModeVector:
		res.Backends = []string{vec.Name()}
		hits, err = s.side(ctx, vec, req, cond, want, true)
	case ModeKeyword:
		res.Backends = []string{kw.Name()}
		hits, err = s.side(ctx, kw, req, cond, want, false)
	case ModeHybrid:
		res.Backends = []string{vec.Name(), kw.Name()}
		hits, err = s.hybrid(ctx, vec, kw, req, cond, max(s.cfg.HybridDepth, want))
	}
	if err != nil {
		return nil, err
	}
	if req.MinScore != 0 {
		hits = slices.DeleteFunc(hits, func(h Hit) bool { return h.Score < req.MinScore })
	}
	if req.Offset >= len(hits) {
		res.Hits = []Hit{}
		return res, nil
	}
	res.Hits = hits[req.Offset:min(len(hits), want)]
	return res, nil
}

// side asks one backend for its top n and ranks the hits.
func (s *Service) side(ctx context.Context, b backends.Searcher, req Request, cond backends.Condition, n int, vector bool) ([]Hit, error) {
	found, err := b.Search(ctx, s.pool, backends.Query{Text: req.Query, Limit: n, Filter: req.Filter, Where: cond, EfSearch: s.cfg.EfSearch})
	if err != nil {
		if indexerr.IsPermanent(err) {
			return nil, domainerr.Invalid("query", "%v", errors.Unwrap(err))
		}
		return nil, fmt.Errorf("backend %q: %w", b.Name(), err)
	}
	hits := make([]Hit, len(found))
	for i, f := range found {
		hits[i] = Hit{SRN: records.SRN{Domain: s.cfg.Domain, ID: f.RecordID, Version: f.Version}, Score: f.Score, Metadata: f.Metadata}
		if vector {
			hits[i].VectorRank = i + 1
		} else {
			hits[i].KeywordRank = i + 1
		}
	}
	return hits, nil
}

// hybrid queries both sides concurrently for their top depth and fuses them. A query the vector
// side cannot embed (no words, such as "%") is answered by the keyword side alone; a side
// without hits leaves the other's order as it is.
func (s *Service) hybrid(ctx context.Context, vec, kw backends.Searcher, req Request, cond backends.Condition, depth int) ([]Hit, error) {
	var vh, kh []Hit
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		vh, err = s.side(gctx, vec, req, cond, depth, true)
		var invalid *domainerr.ValidationError
		if errors.As(err, &invalid) {
			return nil
		}
		return err
	})
	g.Go(func() (err error) {
		kh, err = s.side(gctx, kw, req, cond, depth, false)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if s.cfg.Fusion == FusionRRF {
		return fuseRRF(vh, kh, s.cfg.RRFK), nil
	}
	return fuseWeighted(vh, kh, s.cfg.SemanticRatio), nil
}

// plan validates req, fills its defaults and picks the backends and mode.
func (s *Service) plan(req *Request) (vec, kw backends.Searcher, mode Mode, err error) {
	switch n := utf8.RuneCountInString(req.Query); {
	case !utf8.ValidString(req.Query):
		return nil, nil, 0, domainerr.Invalid("query", "is not valid UTF-8")
	case n == 0:
		return nil, nil, 0, domainerr.Invalid("query", "is required")
	case strings.TrimSpace(req.Query) == "":
		return nil, nil, 0, domainerr.Invalid("query", "is only spaces: send the words to search for")
	case n > QueryMaxChars:
		return nil, nil, 0, domainerr.Invalid("query", "is %d characters, over the limit of %d", n, QueryMaxChars)
	}
	switch {
	case req.Limit < 0 || req.Limit > s.cfg.MaxLimit:
		return nil, nil, 0, s.InvalidLimit(req.Limit)
	case req.Limit == 0:
		req.Limit = LimitDefault
	}
	if req.Offset < 0 || req.Offset > s.cfg.MaxOffset {
		return nil, nil, 0, domainerr.Invalid("offset", "must be between 0 and %d, got %d", s.cfg.MaxOffset, req.Offset)
	}
	if req.Filter != nil {
		var m map[string]any
		if err := json.Unmarshal(req.Filter, &m); err != nil || m == nil {
			return nil, nil, 0, domainerr.Invalid("filter", "must be a JSON object")
		}
		if len(m) == 0 {
			req.Filter = nil // {} matches everything
		}
	}

	all := s.searchers()
	var named backends.Searcher
	if req.Backend != "" {
		i := slices.IndexFunc(all, func(b backends.Searcher) bool { return b.Name() == req.Backend })
		if i < 0 {
			return nil, nil, 0, domainerr.Invalid("backend", "%q is not a configured backend (one of %v)", req.Backend, names(all))
		}
		named = all[i]
	}
	pick := func(kind string) backends.Searcher {
		if named != nil && named.Kind() == kind {
			return named
		}
		for _, b := range all {
			if b.Kind() == kind {
				return b
			}
		}
		return nil
	}
	vec, kw = pick(backends.KindPgvector), pick(backends.KindKeyword)
	mode = req.Mode
	if mode == ModeDefault {
		switch {
		case named != nil && named.Kind() == backends.KindPgvector:
			mode = ModeVector
		case named != nil:
			mode = ModeKeyword
		case vec != nil && kw != nil:
			mode = ModeHybrid
		case vec != nil:
			mode = ModeVector
		default:
			mode = ModeKeyword
		}
	}
	need := map[Mode][]string{ModeVector: {backends.KindPgvector}, ModeKeyword: {backends.KindKeyword},
		ModeHybrid: {backends.KindPgvector, backends.KindKeyword}}[mode]
	if named != nil && !slices.Contains(need, named.Kind()) {
		return nil, nil, 0, domainerr.Invalid("backend", "%q is a %s backend; %s search needs %v", named.Name(), named.Kind(), mode, need)
	}
	if (slices.Contains(need, backends.KindPgvector) && vec == nil) || (slices.Contains(need, backends.KindKeyword) && kw == nil) {
		return nil, nil, 0, domainerr.Invalid("mode", "%s search needs a %v backend; configured: %v", mode, need, names(all))
	}
	return vec, kw, mode, nil
}

// InvalidLimit is the error of a limit out of range, stated as the API states the rule: 1 to
// search.max_limit, and unset for LimitDefault.
func (s *Service) InvalidLimit(got int) error {
	return domainerr.Invalid("limit", "must be between 1 and %d (leave it unset for %d), got %d", s.cfg.MaxLimit, LimitDefault, got)
}

// names returns the names of bs.
func names(bs []backends.Searcher) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.Name()
	}
	return out
}
