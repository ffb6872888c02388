package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/config"
)

// Defaults of [RelevanceOpts].
const (
	RelevanceSplitDefault        = "train"
	RelevanceIndexTimeoutDefault = 10 * time.Minute
)

// relevancePublishBatch is the number of documents per PublishRecords call: records.max_batch.
const relevancePublishBatch = config.MaxBatchDefault

// relevanceModes are the search modes every variant is measured in, in the report's order.
var relevanceModes = []struct {
	name string
	mode osav1.SearchMode
}{
	{RelevanceModeKeyword, osav1.SearchMode_SEARCH_MODE_KEYWORD},
	{RelevanceModeVector, osav1.SearchMode_SEARCH_MODE_VECTOR},
	{RelevanceModeHybrid, osav1.SearchMode_SEARCH_MODE_HYBRID},
}

// RelevanceVariant is a configuration [Relevance] measures: the built-in one with overrides.
type RelevanceVariant struct {
	// Name names the variant in the report.
	Name string `json:"name"`
	// Set are the overrides, "key=value" as `osa serve --set` takes them ([config.LoadOpts.Set]).
	Set []string `json:"set,omitempty"`
}

// variantNameRE is what a variant's name may be: it appears in a Markdown table.
var variantNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+-]*$`)

// overrideStartRE matches the start of a "key=value" override in a --variant list.
var overrideStartRE = regexp.MustCompile(`^\s*[A-Za-z0-9_.-]+=`)

// ParseRelevanceVariant parses "NAME=key=value[,key=value...]", the --variant flag of
// `osa bench relevance`. A comma starts the next override only when "key=" follows it, so that a
// value may hold commas ("search.x=[a, b]"). The overrides themselves are checked by [Relevance].
func ParseRelevanceVariant(s string) (RelevanceVariant, error) {
	name, rest, ok := strings.Cut(s, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" || strings.TrimSpace(rest) == "" {
		return RelevanceVariant{}, fmt.Errorf("variant %q: want NAME=key=value[,key=value...]", s)
	}
	v := RelevanceVariant{Name: name}
	for _, part := range strings.Split(rest, ",") {
		if len(v.Set) > 0 && !overrideStartRE.MatchString(part) {
			v.Set[len(v.Set)-1] += "," + part
			continue
		}
		v.Set = append(v.Set, part)
	}
	return v, nil
}

// RelevanceOpts configures [Relevance].
type RelevanceOpts struct {
	// AdminURL is a postgres:// URL whose user may CREATE DATABASE: the benchmark runs in a
	// scratch database osa_bench_<random> there, dropped at the end (also on error or when ctx
	// ends). Required.
	AdminURL string

	// Dataset is the folder of a dataset in BEIR's layout (see [Relevance]). Required.
	Dataset string

	// Split names the queries and judgements measured: queries_<split>.jsonl and
	// qrels_<split>.tsv. Defaults to "train".
	Split string

	// Variants are the configurations measured after the built-in one, in order. Names must be
	// unique and not "default". Defaults to none.
	Variants []RelevanceVariant

	// BM25 are the parameters of the reference BM25. Nil means k1 0.9 and b 0.4; a non-nil
	// value is used as given, zeros included.
	BM25 *BM25Params

	// Smoke measures a slice of the dataset: its first 30 judged queries and 500 documents (the
	// ones judged for those queries, then others), with at most one variant. It checks that
	// every part works in a few seconds; its figures are not comparable with a full run.
	Smoke bool

	// IndexTimeout bounds each wait until every backend has indexed every document: after the
	// publish, and after each variant's restart. Defaults to 10m.
	IndexTimeout time.Duration

	// Command is the command line recorded in the report. Defaults to the process's arguments.
	Command string

	// Logger receives the servers' own logs. Defaults to discarding them.
	Logger *slog.Logger

	// Progress receives a line per step and a progress line every few seconds while indexing.
	// Defaults to nowhere.
	Progress io.Writer
}

// WithDefaults returns a copy of o with every zero field set to its default.
func (o RelevanceOpts) WithDefaults() RelevanceOpts {
	o.Split = cmp.Or(o.Split, RelevanceSplitDefault)
	if o.BM25 == nil {
		o.BM25 = &BM25Params{K1: BM25K1Default, B: BM25BDefault}
	}
	o.IndexTimeout = cmp.Or(o.IndexTimeout, RelevanceIndexTimeoutDefault)
	o.Command = cmp.Or(o.Command, strings.Join(os.Args, " "))
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}

// validate checks the fields of o but AdminURL, which only [Relevance] needs.
func (o RelevanceOpts) validate() error {
	var errs []error
	if o.Dataset == "" {
		errs = append(errs, errors.New("Dataset is required: the folder of a dataset in BEIR's layout"))
	}
	if o.Smoke && len(o.Variants) > 1 {
		errs = append(errs, fmt.Errorf("a smoke run measures at most one variant, got %d", len(o.Variants)))
	}
	seen := map[string]bool{RelevanceDefaultVariant: true}
	for _, v := range o.Variants {
		switch {
		case !variantNameRE.MatchString(v.Name):
			errs = append(errs, fmt.Errorf("variant name %q must be letters, digits and _.+- (not first)", v.Name))
		case seen[v.Name]:
			errs = append(errs, fmt.Errorf("variant name %q is taken (%q is the built-in configuration's)", v.Name, RelevanceDefaultVariant))
		case len(v.Set) == 0:
			errs = append(errs, fmt.Errorf("variant %s has no override", v.Name))
		}
		seen[v.Name] = true
	}
	if err := o.BM25.validate(); err != nil {
		errs = append(errs, err)
	}
	if o.IndexTimeout < 0 {
		errs = append(errs, fmt.Errorf("IndexTimeout cannot be negative, got %s", o.IndexTimeout))
	}
	return errors.Join(errs...)
}

// Check reports what [Relevance] would refuse before it connects anywhere: bad options (AdminURL
// aside), a dataset that is missing or malformed, a variant's configuration that config rejects.
// It reads the whole dataset.
func (o RelevanceOpts) Check() error {
	_, _, err := o.WithDefaults().prepare()
	return err
}

// prepare validates o (its defaults filled in), loads the dataset (its smoke slice with Smoke)
// and checks every variant's configuration; it returns the dataset and the variants, the
// built-in configuration first. Its errors start with "bench: ".
func (o RelevanceOpts) prepare() (*dataset, []RelevanceVariant, error) {
	if err := o.validate(); err != nil {
		return nil, nil, fmt.Errorf("bench: %w", err)
	}
	ds, err := loadDataset(o.Dataset, o.Split)
	if err != nil {
		return nil, nil, fmt.Errorf("bench: %w", err)
	}
	if o.Smoke {
		ds = ds.smokeSlice()
	}
	// A bad key or value fails here, with config's own message, before anything is published.
	variants := append([]RelevanceVariant{{Name: RelevanceDefaultVariant}}, o.Variants...)
	for _, v := range variants {
		if _, err := relevanceConfig(v, checkURL); err != nil {
			return nil, nil, fmt.Errorf("bench: variant %s: %w", v.Name, err)
		}
	}
	return ds, variants, nil
}

// checkURL stands in for the scratch database's URL when a variant's configuration is checked
// before the database exists.
const checkURL = "postgres://localhost/osa_bench_check"

// relevanceConfig is the configuration of variant v on the database at url, built as
// `osa serve --set` builds it: [config.Load] of the defaults with v's overrides, without a file
// or the environment, then database.url and http.addr 127.0.0.1:0 (which win over v's).
func relevanceConfig(v RelevanceVariant, url string) (*config.Config, error) {
	set := append(slices.Clone(v.Set), "database.url="+url, "http.addr=127.0.0.1:0")
	return config.Load(config.LoadOpts{Env: []string{}, Set: set})
}

// keywordLanguage is the text search configuration of the built-in keyword backend, which the
// reference BM25 tokenises with.
func keywordLanguage() (string, error) {
	for _, b := range config.Default().Backends {
		if b.Kind == config.BackendKindKeyword {
			return cmp.Or(b.Language, config.LanguageDefault), nil
		}
	}
	return "", errors.New("the built-in configuration has no keyword backend")
}

// Relevance measures how well search ranks a dataset in BEIR's layout:
//
//   - dir/corpus.jsonl: one document a line, {"_id", "title", "text"};
//   - dir/queries_<split>.jsonl, or else dir/queries.jsonl: one query a line, {"_id", "text"};
//   - dir/qrels_<split>.tsv, or else dir/qrels/<split>.tsv: judgements "query-id corpus-id score"
//     (tab-separated, integer scores, graded allowed), after a header line.
//
// It checks every variant's configuration first (a bad key fails with config's own message),
// then creates a scratch database, starts a server with the built-in configuration on it,
// publishes every document through RecordService.PublishRecords as a record {"title": title,
// "summary": text, "bench": {"doc_id": _id}} (1,000 a call) and waits until every backend has
// indexed all of them (SearchService.ListBackends). Every judged query, as written, then goes to
// SearchService.Search with limit 100 in the keyword, vector and hybrid modes, one call at a time;
// the hits are mapped back to documents by metadata.bench.doc_id. Each variant restarts the
// server on the same database with its overrides and measures the three modes again. Last, a
// reference BM25, computed here over the lexemes to_tsvector makes of every document and query,
// ranks the same queries ([RelevanceReferenceVariant]).
//
// The scratch database is dropped at the end, also on error or when ctx ends.
func Relevance(ctx context.Context, opts RelevanceOpts) (rep *RelevanceReport, err error) {
	opts = opts.WithDefaults()
	if opts.AdminURL == "" {
		return nil, errors.New("bench: AdminURL is required: a postgres:// URL whose user may create databases")
	}
	began := time.Now()
	ds, variants, err := opts.prepare()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil && ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w: %v", ctx.Err(), err) // callers can tell an interruption
		}
	}()
	language, err := keywordLanguage()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}

	run := &relevanceRun{opts: opts, ds: ds, language: language}
	rep = &RelevanceReport{Command: opts.Command, Date: began.UTC(), Dataset: opts.Dataset, Split: opts.Split,
		CorpusFile: ds.corpusFile, QueriesFile: ds.queriesFile, QrelsFile: ds.qrelsFile, Docs: len(ds.docs),
		Queries: len(ds.queries), Judgements: ds.judgements(), Smoke: opts.Smoke, Limit: RelevanceLimit, Language: language,
		BM25: *opts.BM25, Variants: variants}
	if rep.Machine, err = machineInfo(ctx, opts.AdminURL); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	cpu := newCPUMeter(ctx, opts.AdminURL)
	idleSample := time.Second
	if opts.Smoke {
		idleSample = 200 * time.Millisecond
	}
	rep.Machine.LoadBefore = loadAvg()
	rep.Machine.CPUBefore = cpu.sample(ctx, idleSample)
	run.progressf("%s: %d documents, %d queries with %d judgements; %d variant(s)", opts.Dataset, rep.Docs, rep.Queries,
		rep.Judgements, len(variants))

	if run.db, err = createScratchDB(ctx, opts.AdminURL); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer func() {
		if dropErr := run.db.drop(ctx); dropErr != nil && err == nil {
			rep, err = nil, fmt.Errorf("bench: %w", dropErr)
		}
	}()
	for i, v := range variants {
		rows, err := run.measureVariant(ctx, v, rep, i == 0)
		if err != nil {
			return nil, fmt.Errorf("bench: variant %s: %w", v.Name, err)
		}
		rep.Rows = append(rep.Rows, rows...)
	}
	ref, err := run.reference(ctx)
	if err != nil {
		return nil, fmt.Errorf("bench: reference BM25: %w", err)
	}
	rep.Rows = append(rep.Rows, ref)
	rep.Machine.CPUAfter = cpu.sample(ctx, idleSample)
	rep.Seconds = time.Since(began).Seconds()
	return rep, nil
}

// relevanceRun is one run of [Relevance].
type relevanceRun struct {
	opts     RelevanceOpts
	ds       *dataset
	language string
	db       *scratchDB
}

// progressf writes one progress line.
func (r *relevanceRun) progressf(format string, args ...any) {
	fmt.Fprintf(r.opts.Progress, "relevance: "+format+"\n", args...)
}

// measureVariant starts a server with v's configuration on the scratch database, publishes the
// corpus when publish is set, waits until every backend has indexed it, and measures every mode.
// The publish and index times go into rep.
func (r *relevanceRun) measureVariant(ctx context.Context, v RelevanceVariant, rep *RelevanceReport, publish bool) (rows []RelevanceRow, err error) {
	cfg, err := relevanceConfig(v, r.db.url)
	if err != nil {
		return nil, err
	}
	r.progressf("%s: starting a server%s", v.Name, prefixed(" with ", strings.Join(v.Set, " ")))
	srv, err := startRelevanceServer(ctx, cfg, r.opts.Logger)
	if err != nil {
		return nil, err
	}
	defer func() {
		if stopErr := srv.stop(); stopErr != nil && err == nil {
			err = fmt.Errorf("server: %w", stopErr)
		}
	}()
	start := time.Now()
	if publish {
		if err := srv.publish(ctx, r.ds.docs, r.progressf); err != nil {
			return nil, err
		}
		rep.PublishSeconds = time.Since(start).Seconds()
	}
	if err := srv.waitIndexed(ctx, len(r.ds.docs), r.opts.IndexTimeout, r.progressf); err != nil {
		return nil, err
	}
	if publish {
		rep.IndexSeconds = time.Since(start).Seconds()
		r.progressf("%s: published %d documents in %.1f s, indexed by every backend after %.1f s", v.Name, len(r.ds.docs),
			rep.PublishSeconds, rep.IndexSeconds)
	}
	for _, m := range relevanceModes {
		row, err := srv.measure(ctx, r.ds, v.Name, m.name, m.mode)
		if err != nil {
			return nil, err
		}
		r.progressLine(row)
		rows = append(rows, row)
	}
	return rows, nil
}

// reference ranks every query with the reference BM25 over the tokens to_tsvector gives each
// document's title + "\n" + text and each query, on the scratch database's server.
func (r *relevanceRun) reference(ctx context.Context) (RelevanceRow, error) {
	conn, err := pgx.Connect(ctx, r.db.url)
	if err != nil {
		return RelevanceRow{}, fmt.Errorf("error connecting: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	ids := make([]string, len(r.ds.docs))
	texts := make([]string, len(r.ds.docs))
	for i, d := range r.ds.docs {
		ids[i], texts[i] = d.id, d.title+"\n"+d.text
	}
	docTokens, err := tokenize(ctx, conn, r.language, texts)
	if err != nil {
		return RelevanceRow{}, err
	}
	queryTexts := make([]string, len(r.ds.queries))
	for i, q := range r.ds.queries {
		queryTexts[i] = q.text
	}
	queryTokens, err := tokenize(ctx, conn, r.language, queryTexts)
	if err != nil {
		return RelevanceRow{}, err
	}
	index := newBM25Index(ids, docTokens, *r.opts.BM25)
	scores := make([]queryScores, len(r.ds.queries))
	for i, q := range r.ds.queries {
		hits := index.search(queryTokens[i], RelevanceLimit)
		ranked := make([]string, len(hits))
		for j, h := range hits {
			ranked[j] = h.id
		}
		scores[i] = scoreQuery(ranked, r.ds.qrels[q.id])
	}
	row := relevanceRow(RelevanceReferenceVariant, RelevanceModeBM25, r.ds.queries, scores, nil)
	r.progressLine(row)
	return row, nil
}

// progressLine writes the figures of a finished row.
func (r *relevanceRun) progressLine(row RelevanceRow) {
	lat := ""
	if l := row.Latency; l != nil {
		lat = fmt.Sprintf(", p50 %.1f ms, p99 %.1f ms", l.P50Ms, l.P99Ms)
	}
	r.progressf("%s %s: nDCG@10 %.3f, Recall@100 %.3f, MRR@10 %.3f, %d zero-hit queries%s", row.Variant, row.Mode, row.NDCG10,
		row.Recall100, row.MRR10, row.ZeroHits, lat)
}
