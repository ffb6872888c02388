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

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
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
// ModeBrowse is a request without a query: the records meeting its filters, in sort order.
const (
	ModeDefault Mode = iota
	ModeVector
	ModeKeyword
	ModeHybrid
	ModeBrowse
)

// String returns the mode's name.
func (m Mode) String() string {
	return [...]string{"default", "vector", "keyword", "hybrid", "browse"}[m]
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
	// Fields are the fields a Request.Where, Sort and Facets can use (search.fields). Nil means
	// none: every where is then an error that says so.
	Fields []where.Field
	// FacetDepth is how many of a query's best hits its facets count, and its sort orders
	// (search.facet_depth), 1..FacetDepthMax; hybrid search counts its candidates instead. A
	// browse counts every record it matches. Defaults to 1000.
	FacetDepth int
	// ReadPool, when set, returns the pool the statements of a search run on, from its
	// context: the replica the server pinned to the request (package replicas), or the primary.
	// Nil: the pool given to New.
	ReadPool func(context.Context) *pgxpool.Pool
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
	if c.FacetDepth == 0 {
		c.FacetDepth = FacetDepthDefault
	}
	return c
}

// Request is one search.
type Request struct {
	// Query is the user's text, up to 1024 characters; it may be empty only to browse, with a
	// Where, Filter, Sort or Facets.
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
	// Facets are declared fields (with facet: true) whose values are counted over the matches.
	Facets []string
	// FacetLimit is how many values each facet lists: 0 means FacetLimitDefault, at most
	// FacetLimitMax.
	FacetLimit int
	// Sort orders the hits by declared fields, each "field", "field:asc" or "field:desc"; ties
	// go by relevance, then by record id. A query's sort orders its best Config.FacetDepth hits.
	Sort []string
	// PageToken continues a browse after the page whose Result.NextPageToken it is (instead of
	// an Offset).
	PageToken string
	// Highlight fills each hit's Highlights, the query's words wrapped in HighlightPreTag and
	// HighlightPostTag (defaults "<mark>" and "</mark>", at most HighlightTagMax bytes each).
	Highlight                         bool
	HighlightPreTag, HighlightPostTag string
}

// Hit is one result.
type Hit struct {
	SRN      records.SRN
	Score    float64
	Metadata json.RawMessage
	// Source is the record's source, "" for a record published without one.
	Source string
	// VectorRank and KeywordRank are the hit's 1-based rank on each side; 0 when that side did
	// not find it (or was not asked).
	VectorRank, KeywordRank int
	// Highlights, with Request.Highlight, map "title" and "summary" (those the record has) to
	// their HTML-escaped text with the query's words between the tags: the whole title, and
	// fragments of the summary around the matches.
	Highlights map[string]string
}

// Result is the answer to a [Request].
type Result struct {
	Hits []Hit
	// Mode is the mode used (never ModeDefault).
	Mode Mode
	// Backends are the backends asked: the vector one first.
	Backends []string
	// Facets are the counts of Request.Facets, in the request's order, over Matches matches.
	Facets  []Facet
	Matches int64
	// NextPageToken continues a browse after this page; "" when this page is the last.
	NextPageToken string
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

// readPool returns the pool a statement of the search of ctx runs on (Config.ReadPool).
func (s *Service) readPool(ctx context.Context) *pgxpool.Pool {
	if s.cfg.ReadPool != nil {
		return s.cfg.ReadPool(ctx)
	}
	return s.pool
}

// Fields returns the fields a where can use, sorted by name.
func (s *Service) Fields() []where.Field { return s.fields.List() }

// condition returns the compiled filter expression src, or nil for none.
func (s *Service) condition(src string) (backends.Condition, error) {
	if src == "" {
		return nil, nil
	}
	e, err := s.ParseWhere(src)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// backendNamed returns the backend named name, nil for "", or an error naming the field backend.
func (s *Service) backendNamed(name string) (backends.Searcher, error) {
	if name == "" {
		return nil, nil
	}
	all := s.searchers()
	i := slices.IndexFunc(all, func(b backends.Searcher) bool { return b.Name() == name })
	if i < 0 {
		return nil, domainerr.Invalid("backend", "%q is not a configured backend (one of %v)", name, names(all))
	}
	return all[i], nil
}

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
	cond, err := s.condition(req.Where)
	if err != nil {
		return nil, err
	}
	facets, err := s.planFacets(&req)
	if err != nil {
		return nil, err
	}
	keys, err := s.planSort(&req)
	if err != nil {
		return nil, err
	}
	after, err := decodePageToken(req.PageToken, keys)
	if err != nil {
		return nil, err
	}
	if err := planHighlight(&req); err != nil {
		return nil, err
	}
	res := &Result{Mode: mode}
	if mode == ModeBrowse {
		m := matchSet{filter: req.Filter, cond: cond}
		if res.Hits, res.NextPageToken, err = s.browse(ctx, req, m, keys, after); err != nil {
			return nil, err
		}
		if facets != nil {
			res.Facets, res.Matches, err = s.facets(ctx, facets, m)
		}
		return res, err
	}
	if after != nil {
		return nil, domainerr.Invalid("page_token", "pages a browse (no query); page a query with offset")
	}

	want := req.Limit + req.Offset
	depth := want
	if facets != nil || len(keys) > 0 {
		// The page's metadata is read once it is known (fillMetadata), not that of every hit.
		depth = max(want, s.cfg.FacetDepth)
	}
	var hits []Hit
	switch mode {
	case ModeVector:
		res.Backends = []string{vec.Name()}
		hits, err = s.side(ctx, vec, req, cond, depth, true, depth > want)
	case ModeKeyword:
		res.Backends = []string{kw.Name()}
		hits, err = s.side(ctx, kw, req, cond, depth, false, depth > want)
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
	if hits, err = s.sortHits(ctx, hits, keys); err != nil {
		return nil, err
	}
	if facets != nil {
		ids := make([]uuid.UUID, len(hits))
		for i, h := range hits {
			ids[i] = h.SRN.ID
		}
		if res.Facets, res.Matches, err = s.facets(ctx, facets, matchSet{ids: ids}); err != nil {
			return nil, err
		}
	}
	if req.Offset >= len(hits) {
		res.Hits = []Hit{}
		return res, nil
	}
	res.Hits = hits[req.Offset:min(len(hits), want)]
	if res.Hits, err = s.fillMetadata(ctx, res.Hits); err != nil {
		return nil, err
	}
	if req.Highlight {
		if kw == nil {
			kw = s.pick(nil, backends.KindKeyword) // its language parses the words, in every mode
		}
		if err := s.highlight(ctx, req, kw, res.Hits); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// side asks one backend for its top n and ranks the hits; with idsOnly, the backend may leave
// their metadata out.
func (s *Service) side(ctx context.Context, b backends.Searcher, req Request, cond backends.Condition, n int, vector, idsOnly bool) ([]Hit, error) {
	found, err := b.Search(ctx, s.readPool(ctx), backends.Query{Text: req.Query, Limit: n, Filter: req.Filter, Where: cond, EfSearch: s.cfg.EfSearch,
		IDsOnly: idsOnly})
	if err != nil {
		if indexerr.IsPermanent(err) {
			return nil, domainerr.Invalid("query", "%v", errors.Unwrap(err))
		}
		return nil, fmt.Errorf("backend %q: %w", b.Name(), err)
	}
	return s.hits(found, vector), nil
}

// fillMetadata reads the metadata of the hits a backend returned without it (backends.Query's
// IDsOnly), in one statement, and returns the hits, less any record deleted meanwhile.
func (s *Service) fillMetadata(ctx context.Context, hits []Hit) ([]Hit, error) {
	var ids []uuid.UUID
	at := map[uuid.UUID]int{}
	for i, h := range hits {
		if h.Metadata == nil {
			ids, at[h.SRN.ID] = append(ids, h.SRN.ID), i
		}
	}
	if len(ids) == 0 {
		return hits, nil
	}
	rows, err := s.readPool(ctx).Query(ctx, `SELECT id, version, metadata, COALESCE(source, '') FROM records WHERE id = ANY($1) AND deleted_at IS NULL`, ids)
	if err != nil {
		return nil, fmt.Errorf("error reading the hits' metadata: %w", err)
	}
	var (
		id     uuid.UUID
		ver    int
		meta   json.RawMessage
		source string
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &ver, &meta, &source}, func() error {
		h := &hits[at[id]]
		h.SRN.Version, h.Metadata, h.Source = ver, append(json.RawMessage(nil), meta...), source
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("error reading the hits' metadata: %w", err)
	}
	return slices.DeleteFunc(hits, func(h Hit) bool { return h.Metadata == nil }), nil
}

// hits converts a backend's hits, best first, to the service's, ranked on their side.
func (s *Service) hits(found []backends.Hit, vector bool) []Hit {
	hits := make([]Hit, len(found))
	for i, f := range found {
		hits[i] = Hit{SRN: records.SRN{Domain: s.cfg.Domain, ID: f.RecordID, Version: f.Version}, Score: f.Score, Metadata: f.Metadata,
			Source: f.Source}
		if vector {
			hits[i].VectorRank = i + 1
		} else {
			hits[i].KeywordRank = i + 1
		}
	}
	return hits
}

// hybrid queries both sides concurrently for their top depth and fuses them. A query the vector
// side cannot embed (no words, such as "%") is answered by the keyword side alone; a side
// without hits leaves the other's order as it is.
func (s *Service) hybrid(ctx context.Context, vec, kw backends.Searcher, req Request, cond backends.Condition, depth int) ([]Hit, error) {
	var vh, kh []Hit
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		vh, err = s.side(gctx, vec, req, cond, depth, true, false)
		var invalid *domainerr.ValidationError
		if errors.As(err, &invalid) {
			return nil
		}
		return err
	})
	g.Go(func() (err error) {
		kh, err = s.side(gctx, kw, req, cond, depth, false, false)
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
	browse := req.Where != "" || req.Filter != nil || len(req.Sort) > 0 || len(req.Facets) > 0
	switch n := utf8.RuneCountInString(req.Query); {
	case !utf8.ValidString(req.Query):
		return nil, nil, 0, domainerr.Invalid("query", "is not valid UTF-8")
	case n == 0 && !browse:
		return nil, nil, 0, domainerr.Invalid("query", "is required, unless the request browses: send where, filter, sort or facets")
	case req.Mode == ModeBrowse && n > 0:
		return nil, nil, 0, domainerr.Invalid("mode", "browse takes no query: leave query empty, or pick another mode")
	case n == 0:
		mode = ModeBrowse
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
	if req.Offset != 0 && req.PageToken != "" {
		return nil, nil, 0, domainerr.Invalid("offset", "is set with page_token: a token says where the page starts, so send one or the other")
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
	if mode == ModeBrowse {
		return nil, nil, ModeBrowse, nil
	}

	named, err := s.backendNamed(req.Backend)
	if err != nil {
		return nil, nil, 0, err
	}
	vec, kw = s.pick(named, backends.KindPgvector), s.pick(named, backends.KindKeyword)
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
		return nil, nil, 0, domainerr.Invalid("mode", "%s search needs a %v backend; configured: %v", mode, need, names(s.searchers()))
	}
	return vec, kw, mode, nil
}

// pick returns named when it is of kind, else the first backend of kind, or nil.
func (s *Service) pick(named backends.Searcher, kind string) backends.Searcher {
	if named != nil && named.Kind() == kind {
		return named
	}
	for _, b := range s.searchers() {
		if b.Kind() == kind {
			return b
		}
	}
	return nil
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
