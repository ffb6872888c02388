// Package geo is the geo_entrez source: NCBI GEO series (GSE) or DataSets (GDS) harvested
// through the Entrez E-utilities.
//
// A harvest runs one esearch with usehistory=y (term "GSE[ETYP]", plus
// "AND YYYY/MM/DD:3000[PDAT]" when a since date is given), keeps the history server's WebEnv and
// query_key in the [sources.Cursor], and pages through the result with esummary (version=2.0,
// JSON) using retstart/retmax. When NCBI no longer knows the WebEnv (history sessions expire),
// the search is run again and the harvest continues at the same offset.
//
// Every request carries tool, email and, when configured, api_key, and waits for a rate limiter
// shared by the whole process: NCBI allows 3 requests per second without an API key and 10 with
// one. 429 and 5xx answers, timeouts, network errors and unreadable JSON are retried (up to
// [MaxAttemptsDefault] attempts), honouring Retry-After, else with exponential backoff and jitter,
// never waiting more than a minute.
package geo

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/osa-archive/osa/sources"
)

// Kind is the configured kind of a GEO source.
const Kind = "geo_entrez"

// Record types, the values of [Config.RecordType].
const (
	RecordTypeGDS = "gds" // curated GEO DataSets, accessions GDS…
	RecordTypeGSE = "gse" // GEO series, accessions GSE…
)

// Defaults and bounds of [Config].
const (
	BaseURLDefault      = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
	ToolDefault         = "osa"
	RecordTypeDefault   = RecordTypeGSE
	PageSizeDefault     = 100
	PageSizeMax         = 500 // NCBI returns at most 500 summaries per JSON request
	TimeoutDefault      = 30 * time.Second
	MaxAttemptsDefault  = 5
	BackoffBaseDefault  = time.Second
	BackoffMaxDefault   = 60 * time.Second
	RateLimitDefault    = 3.0  // requests per second without an API key
	RateLimitWithAPIKey = 10.0 // requests per second with one
	MaxSamplesDefault   = 100
	MaxSamplesMax       = 10000
)

// Config configures a GEO [Source].
type Config struct {
	// Name is the source's configured name. Required.
	Name string

	// RecordType is "gse" (series) or "gds" (DataSets). Defaults to "gse".
	RecordType string

	// Email is the contact address NCBI asks every client to send. Every request fails without
	// it, so a source may be built without one only to be listed, disabled. Defaults to "".
	Email string

	// APIKey is the NCBI API key; it raises the rate limit from 3 to 10 requests per second.
	// Defaults to "".
	APIKey string

	// Tool is the tool name sent with every request. Defaults to "osa".
	Tool string

	// BaseURL is the E-utilities URL, ending in "/" (a mirror, or a fake server in tests).
	// Defaults to "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/".
	BaseURL string

	// PageSize is the number of summaries per esummary request when a cursor asks for none,
	// 1..500. Defaults to 100.
	PageSize int

	// Timeout bounds one request, answer included. Defaults to 30s.
	Timeout time.Duration

	// RateLimit is the most requests per second; 0 means NCBI's limit for the key: 3 without
	// an APIKey, 10 with one. Sources with the same BaseURL, APIKey and RateLimit share one
	// limiter in the process. Meant for mirrors and tests. Defaults to 0.
	RateLimit float64

	// MaxAttempts is how often one request is tried before its error is returned. Defaults
	// to 5.
	MaxAttempts int

	// BackoffBase is the delay before the first retry when the server gives no Retry-After;
	// it doubles with every attempt. Defaults to 1s.
	BackoffBase time.Duration

	// BackoffMax caps every delay between attempts, Retry-After included. Defaults to 60s.
	BackoffMax time.Duration

	// MaxSamples is how many sample accessions (GSM…) a record keeps in its samples field, the
	// first ones NCBI lists; sample_count still gives them all. -1 keeps none. Defaults to 100.
	MaxSamples int

	// HTTPClient sends the requests. Defaults to a client of its own (timeouts come from
	// Timeout, not from the client).
	HTTPClient *http.Client

	// Logger receives DEBUG lines per request and id, INFO when a search is renewed. Defaults
	// to slog.Default().
	Logger *slog.Logger
}

// withDefaults returns a copy of c with its zero fields set to their defaults.
func (c Config) withDefaults() Config {
	c.RecordType = cmp.Or(c.RecordType, RecordTypeDefault)
	c.Tool = cmp.Or(c.Tool, ToolDefault)
	c.BaseURL = cmp.Or(c.BaseURL, BaseURLDefault)
	if !strings.HasSuffix(c.BaseURL, "/") {
		c.BaseURL += "/"
	}
	c.PageSize = cmp.Or(c.PageSize, PageSizeDefault)
	c.Timeout = cmp.Or(c.Timeout, TimeoutDefault)
	if c.RateLimit == 0 {
		c.RateLimit = RateLimitDefault
		if c.APIKey != "" {
			c.RateLimit = RateLimitWithAPIKey
		}
	}
	c.MaxAttempts = cmp.Or(c.MaxAttempts, MaxAttemptsDefault)
	c.BackoffBase = cmp.Or(c.BackoffBase, BackoffBaseDefault)
	c.BackoffMax = cmp.Or(c.BackoffMax, BackoffMaxDefault)
	c.MaxSamples = cmp.Or(c.MaxSamples, MaxSamplesDefault)
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Name == "":
		return errors.New("geo: Name is required")
	case c.RecordType != RecordTypeGSE && c.RecordType != RecordTypeGDS:
		return fmt.Errorf("geo: RecordType %q is not %q or %q", c.RecordType, RecordTypeGSE, RecordTypeGDS)
	case c.PageSize < 1 || c.PageSize > PageSizeMax:
		return fmt.Errorf("geo: PageSize %d is out of range (1..%d)", c.PageSize, PageSizeMax)
	case c.Timeout < 0:
		return fmt.Errorf("geo: Timeout %v is negative", c.Timeout)
	case c.RateLimit < 0:
		return fmt.Errorf("geo: RateLimit %v is negative", c.RateLimit)
	case c.MaxAttempts < 1:
		return fmt.Errorf("geo: MaxAttempts %d is below 1", c.MaxAttempts)
	case c.BackoffBase < 0 || c.BackoffMax < 0:
		return errors.New("geo: BackoffBase and BackoffMax must not be negative")
	case c.MaxSamples < -1 || c.MaxSamples > MaxSamplesMax:
		return fmt.Errorf("geo: MaxSamples %d is out of range (-1 for none, 1..%d)", c.MaxSamples, MaxSamplesMax)
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("geo: BaseURL %q is not an http(s) URL", c.BaseURL)
	}
	return nil
}

// Source is a GEO source. It is safe for concurrent use.
type Source struct {
	cfg     Config
	limiter *rate.Limiter
	logger  *slog.Logger
	prefix  string // accession prefix of the record type: "GSE" or "GDS"
}

var _ sources.Source = (*Source)(nil)

// New returns a GEO source for cfg, after filling its defaults and checking it.
func New(cfg Config) (*Source, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Source{
		cfg:     cfg,
		limiter: sharedLimiter(cfg.BaseURL, cfg.APIKey, cfg.RateLimit),
		logger:  cfg.Logger.With("source", cfg.Name),
		prefix:  strings.ToUpper(cfg.RecordType),
	}, nil
}

// Name implements [sources.Source].
func (s *Source) Name() string { return s.cfg.Name }

// PageSize returns the configured page size.
func (s *Source) PageSize() int { return s.cfg.PageSize }

// session is the cursor's Session of a GEO harvest: where NCBI's history server keeps the search.
type session struct {
	Count    int    `json:"count"`
	QueryKey string `json:"query_key"`
	Term     string `json:"term"`
	WebEnv   string `json:"webenv"`
}

// Pull implements [sources.Source]: it runs the search on the first page (or when the cursor's
// session is of another term), then fetches the page's summaries. A page past the end of the
// result set is empty and costs no esummary request.
func (s *Source) Pull(ctx context.Context, cur sources.Cursor) (sources.Page, sources.Cursor, error) {
	term, err := s.term(cur.Since)
	if err != nil {
		return sources.Page{}, cur, err
	}
	var sess session
	if len(cur.Session) > 0 {
		if err := json.Unmarshal(cur.Session, &sess); err != nil {
			return sources.Page{}, cur, fmt.Errorf("geo: the cursor's session is not a GEO session: %w", errors.Join(err, sources.ErrPermanent))
		}
	}
	// A session of no hits has no WebEnv, and needs none: every page of it is past the end.
	if sess.Term != term || (sess.WebEnv == "" && sess.Count > 0) {
		if sess, err = s.search(ctx, term); err != nil {
			return sources.Page{}, cur, err
		}
	}
	size := cur.PageSize
	if size <= 0 {
		size = s.cfg.PageSize
	}
	size = min(size, PageSizeMax)

	docs, err := s.page(ctx, sess, cur.Offset, size)
	if errors.Is(err, errHistoryExpired) {
		s.logger.InfoContext(ctx, "geo: search session expired, searching again", "offset", cur.Offset, "error", err)
		if sess, err = s.search(ctx, term); err != nil {
			return sources.Page{}, cur, err
		}
		docs, err = s.page(ctx, sess, cur.Offset, size)
		if errors.Is(err, errHistoryExpired) {
			err = fmt.Errorf("geo: a fresh search session expired at once: %w", err)
		}
	}
	if err != nil {
		return sources.Page{}, cur, err
	}

	page := sources.Page{Fetched: len(docs), Total: sess.Count}
	ids := make([]string, 0, len(docs))
	for _, d := range docs {
		c := s.convert(d)
		if c.skip != "" {
			page.Skipped++
			if c.unfetched {
				page.Unfetched = append(page.Unfetched, d.UID)
			}
			s.logger.DebugContext(ctx, "geo: skipped document", "uid", d.UID, "reason", c.skip)
			continue
		}
		if len(c.warnings) > 0 {
			page.Warnings += len(c.warnings)
			s.logger.DebugContext(ctx, "geo: values left out of a record", "uid", d.UID, "accession", c.rec.ID, "fields", c.warnings)
		}
		page.Records = append(page.Records, c.rec)
		ids = append(ids, c.rec.ID)
	}
	s.logger.DebugContext(ctx, "geo: fetched", "offset", cur.Offset, "fetched", page.Fetched, "skipped", page.Skipped,
		"unfetched", len(page.Unfetched), "warnings", page.Warnings, "total", page.Total, "ids", ids)

	next := cur
	next.Offset += page.Fetched
	if next.Session, err = json.Marshal(sess); err != nil {
		return sources.Page{}, cur, err
	}
	return page, next, nil
}

// page returns the summaries of the result set from offset, at most size of them; none, with no
// request, when offset is past the end.
func (s *Source) page(ctx context.Context, sess session, offset, size int) ([]summary, error) {
	if offset >= sess.Count {
		s.logger.DebugContext(ctx, "geo: offset at the end of the result set, nothing to fetch", "offset", offset, "count", sess.Count)
		return nil, nil
	}
	size = min(size, sess.Count-offset)
	return s.summaries(ctx, url.Values{
		"WebEnv":    {sess.WebEnv},
		"query_key": {sess.QueryKey},
		"retstart":  {strconv.Itoa(offset)},
		"retmax":    {strconv.Itoa(size)},
	})
}

// term returns the esearch term of a harvest: the record type, and the publication date range
// when since (YYYY-MM-DD) is set.
func (s *Source) term(since string) (string, error) {
	term := s.prefix + "[ETYP]"
	if since == "" {
		return term, nil
	}
	d, err := time.Parse(time.DateOnly, since)
	if err != nil {
		return "", fmt.Errorf("geo: since %q is not a YYYY-MM-DD date: %w", since, sources.ErrPermanent)
	}
	return term + " AND " + d.Format("2006/01/02") + ":3000[PDAT]", nil
}

// Get implements [sources.Source]: it finds the accession id (such as "GSE40726") with esearch
// and returns its summary.
func (s *Source) Get(ctx context.Context, id string) (sources.Record, error) {
	id = strings.ToUpper(strings.TrimSpace(id))
	if !s.isAccession(id) {
		return sources.Record{}, fmt.Errorf("geo: %q is not a %s accession: %w", id, s.prefix, sources.ErrNotFound)
	}
	res, err := s.esearch(ctx, url.Values{"term": {id + "[ACCN] AND " + s.prefix + "[ETYP]"}, "retmax": {"20"}})
	if err != nil {
		return sources.Record{}, err
	}
	if len(res.IDList) == 0 {
		return sources.Record{}, fmt.Errorf("geo: %s: %w", id, sources.ErrNotFound)
	}
	docs, err := s.summaries(ctx, url.Values{"id": {strings.Join(res.IDList, ",")}})
	if err != nil {
		return sources.Record{}, err
	}
	for _, d := range docs {
		if c := s.convert(d); c.skip == "" && c.rec.ID == id {
			return c.rec, nil
		}
	}
	return sources.Record{}, fmt.Errorf("geo: %s: %w", id, sources.ErrNotFound)
}

// Health implements [sources.Source]: one einfo request for the gds database, not retried.
func (s *Source) Health(ctx context.Context) error {
	var out struct {
		Error  string          `json:"error"`
		Result json.RawMessage `json:"einforesult"`
	}
	if err := s.call(ctx, "einfo", url.Values{"db": {"gds"}}, &out, 1); err != nil {
		return err
	}
	if out.Error != "" || len(out.Result) == 0 {
		return fmt.Errorf("geo: einfo answered without a result: %q", s.scrub(out.Error))
	}
	return nil
}

// search runs esearch with usehistory=y for term and returns the history session; retmax=0,
// since the ids are read from the history server page by page. A search without hits returns a
// session of count 0 and no WebEnv.
func (s *Source) search(ctx context.Context, term string) (session, error) {
	res, err := s.esearch(ctx, url.Values{"term": {term}, "usehistory": {"y"}, "retmax": {"0"}})
	if err != nil {
		return session{}, err
	}
	if res.Count == 0 {
		// NCBI keeps no history entry for a search without hits: its answer has count "0" and
		// neither webenv nor querykey, even with usehistory=y. That is an empty result set.
		s.logger.DebugContext(ctx, "geo: searched, nothing matches", "term", term)
		return session{Term: term}, nil
	}
	if res.WebEnv == "" || res.QueryKey == "" {
		return session{}, fmt.Errorf("geo: esearch found %d documents but answered without a WebEnv and query_key", res.Count)
	}
	s.logger.DebugContext(ctx, "geo: searched", "term", term, "count", res.Count)
	return session{Count: res.Count, QueryKey: res.QueryKey, Term: term, WebEnv: res.WebEnv}, nil
}
