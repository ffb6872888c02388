package search_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/embed"
	"github.com/osa-archive/osa/backends/keyword"
	"github.com/osa-archive/osa/backends/pgvector"
	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/internal/pgtest"
	"github.com/osa-archive/osa/records"
	"github.com/osa-archive/osa/search"
)

var organisms = []string{"Homo sapiens", "Mus musculus", "Danio rerio"}

// corpus is a small fixed set of records whose right answers are known.
var corpus = []map[string]any{
	{"title": "Zebrafish heart regeneration single-cell atlas", "summary": "Cardiomyocytes proliferate after injury.", "organism": "Danio rerio"},
	{"title": "Mouse liver circadian transcriptome", "summary": "Hepatocyte gene expression over the day.", "organism": "Mus musculus"},
	{"title": "Human T cell exhaustion in melanoma", "summary": "Tumour infiltrating lymphocytes profiled.", "organism": "Homo sapiens"},
	{"title": "Regeneration of the axolotl limb", "summary": "Blastema formation after amputation.", "organism": "Ambystoma mexicanum"},
	{"title": "Kidney organoids from stem cells", "summary": "Zebrafish pronephros compared with human organoids.", "organism": "Homo sapiens"},
}

type testBundle struct {
	pool    *pgxpool.Pool
	store   *records.Store
	svc     *search.Service
	vec     *pgvector.Backend
	kw      *keyword.Backend
	srnByIx []records.SRN
}

// setup publishes the corpus and 60 filler records and indexes all of them in both backends.
func setup(t *testing.T) *testBundle {
	t.Helper()
	b := newBundle(t)
	docs := append([]map[string]any{}, corpus...)
	for i := range 60 {
		docs = append(docs, map[string]any{
			"title":    fmt.Sprintf("Gene expression profiling of sample group %d", i),
			"summary":  "Bulk RNA sequencing of tissue samples.",
			"organism": organisms[i%3],
		})
	}
	var params []records.PublishParams
	for _, d := range docs {
		m, _ := json.Marshal(d)
		params = append(params, records.PublishParams{Metadata: m})
	}
	for _, id := range b.publish(t, params) {
		b.srnByIx = append(b.srnByIx, records.SRN{Domain: records.DomainDefault, ID: id, Version: 1})
	}
	b.svc = search.New(b.pool, []backends.Searcher{b.vec, b.kw}, search.Config{})
	return b
}

// newBundle returns a bundle on a fresh database with both backends and no records.
func newBundle(t *testing.T) *testBundle {
	t.Helper()
	vec, kw := newBackends(t)
	pool := pgtest.New(t)
	noop := func(context.Context, pgx.Tx, []records.Change, int) error { return nil }
	return &testBundle{pool: pool, store: records.NewStore(pool, noop, records.StoreConfig{}), vec: vec, kw: kw}
}

// publish publishes params, indexes them in both backends, as the index workers would, and
// returns the records' ids.
func (b *testBundle) publish(t *testing.T, params []records.PublishParams) []uuid.UUID {
	t.Helper()
	res, err := b.store.Publish(context.Background(), params, records.PriorityInteractive)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]uuid.UUID, len(res))
	var docs []backends.Document
	for i, r := range res {
		var m map[string]any
		if err := json.Unmarshal(params[i].Metadata, &m); err != nil {
			t.Fatal(err)
		}
		ids[i] = r.Record.ID
		docs = append(docs, backends.Document{RecordID: r.Record.ID, Version: r.Record.Version, Metadata: m})
	}
	b.index(t, docs)
	return ids
}

// newBackends returns a pgvector backend "vector" (hash embedder) and a keyword backend
// "keyword", both with their defaults.
func newBackends(t *testing.T) (*pgvector.Backend, *keyword.Backend) {
	t.Helper()
	vec, err := pgvector.New(pgvector.Config{Name: "vector", Embedder: embed.NewHash(embed.HashConfig{})})
	if err != nil {
		t.Fatal(err)
	}
	kw, err := keyword.New(keyword.Config{Name: "keyword"})
	if err != nil {
		t.Fatal(err)
	}
	return vec, kw
}

// index writes docs into both backends directly, as the index workers would.
func (b *testBundle) index(t *testing.T, docs []backends.Document) {
	t.Helper()
	ctx := context.Background()
	for _, be := range []backends.Backend{b.vec, b.kw} {
		if err := be.Ensure(ctx, b.pool); err != nil {
			t.Fatal(err)
		}
		docs := append([]backends.Document{}, docs...)
		for _, err := range be.Prepare(ctx, docs) {
			if err != nil {
				t.Fatal(err)
			}
		}
		err := pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
			return errors.Join(be.IngestBatch(ctx, tx, docs)...)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func (b *testBundle) search(t *testing.T, req search.Request) *search.Result {
	t.Helper()
	res, err := b.svc.Search(context.Background(), req)
	if err != nil {
		t.Fatalf("Search(%+v): %v", req, err)
	}
	return res
}

func field(h search.Hit, name string) string {
	var m map[string]any
	_ = json.Unmarshal(h.Metadata, &m)
	s, _ := m[name].(string)
	return s
}

func TestKeywordFindsTitleWordFirst(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := b.search(t, search.Request{Query: "zebrafish", Mode: search.ModeKeyword})
	// Record 0 has the word in its title (weight A), record 4 only in its summary.
	if len(res.Hits) != 2 || res.Hits[0].SRN != b.srnByIx[0] || res.Hits[1].SRN != b.srnByIx[4] {
		t.Fatalf("hits %v, want record 0 (title) then record 4 (summary)", res.Hits)
	}
	if res.Mode != search.ModeKeyword || len(res.Backends) != 1 || res.Backends[0] != "keyword" {
		t.Fatalf("mode %v backends %v", res.Mode, res.Backends)
	}
	if res.Hits[0].KeywordRank != 1 || res.Hits[0].VectorRank != 0 {
		t.Fatalf("ranks %+v", res.Hits[0])
	}
}

func TestKeywordSyntax(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, tc := range []struct {
		query string
		want  []int // corpus indexes, in order
	}{
		{`"heart regeneration"`, []int{0}},
		{`axolotl OR melanoma`, nil}, // both, order by rank: checked by count below
		{`regeneration -zebrafish`, []int{3}},
	} {
		res := b.search(t, search.Request{Query: tc.query, Mode: search.ModeKeyword})
		if tc.want == nil {
			if len(res.Hits) != 2 {
				t.Fatalf("%s: %d hits, want 2", tc.query, len(res.Hits))
			}
			continue
		}
		if len(res.Hits) != len(tc.want) {
			t.Fatalf("%s: hits %v, want records %v", tc.query, res.Hits, tc.want)
		}
		for i, w := range tc.want {
			if res.Hits[i].SRN != b.srnByIx[w] {
				t.Fatalf("%s: hit %d is %v, want record %d", tc.query, i, res.Hits[i].SRN, w)
			}
		}
	}
}

func TestVectorFindsNearest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := b.search(t, search.Request{Query: "mouse liver circadian transcriptome", Mode: search.ModeVector, Limit: 5})
	if len(res.Hits) != 5 || res.Hits[0].SRN != b.srnByIx[1] || res.Hits[0].VectorRank != 1 {
		t.Fatalf("hits %v, want record 1 first", res.Hits)
	}
	for i := 1; i < len(res.Hits); i++ {
		if res.Hits[i].Score > res.Hits[i-1].Score {
			t.Fatalf("hits not ordered by score: %v", res.Hits)
		}
	}
	if res.Hits[0].Score < 0.5 || res.Hits[0].Score > 1.0001 {
		t.Fatalf("cosine similarity %v of a near-identical text", res.Hits[0].Score)
	}
}

func TestFilterFillsLimit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, mode := range []search.Mode{search.ModeVector, search.ModeKeyword, search.ModeHybrid} {
		res := b.search(t, search.Request{Query: "gene expression profiling", Mode: mode, Limit: 15,
			Filter: json.RawMessage(`{"organism": "Mus musculus"}`)})
		if len(res.Hits) != 15 {
			t.Fatalf("%v: %d hits with a filter matching 20 records, want 15", mode, len(res.Hits))
		}
		for _, h := range res.Hits {
			if field(h, "organism") != "Mus musculus" {
				t.Fatalf("%v: hit %v has organism %q", mode, h.SRN, field(h, "organism"))
			}
		}
	}
}

func TestHybridRanksBothSidesFirst(t *testing.T) {
	t.Parallel()
	b := setup(t)
	res := b.search(t, search.Request{Query: "zebrafish heart regeneration", Limit: 30})
	if res.Mode != search.ModeHybrid || strings.Join(res.Backends, ",") != "vector,keyword" {
		t.Fatalf("default mode %v over %v, want hybrid over vector,keyword", res.Mode, res.Backends)
	}
	if res.Hits[0].SRN != b.srnByIx[0] || res.Hits[0].VectorRank == 0 || res.Hits[0].KeywordRank == 0 {
		t.Fatalf("first hit %+v, want record 0 found by both sides", res.Hits[0])
	}
	oneSided := false
	for _, h := range res.Hits {
		both := h.VectorRank > 0 && h.KeywordRank > 0
		if both && oneSided {
			t.Fatalf("a record found by both sides ranks below one found by one side: %v", res.Hits)
		}
		oneSided = oneSided || !both
	}
	if !oneSided {
		t.Fatal("the test needs hits found by one side only")
	}
}

func TestPagesAreDisjoint(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, mode := range []search.Mode{search.ModeVector, search.ModeKeyword, search.ModeHybrid} {
		all := b.search(t, search.Request{Query: "gene expression samples", Mode: mode, Limit: 15})
		seen := map[records.SRN]bool{}
		for page := range 3 {
			res := b.search(t, search.Request{Query: "gene expression samples", Mode: mode, Limit: 5, Offset: 5 * page})
			for i, h := range res.Hits {
				if seen[h.SRN] {
					t.Fatalf("%v: page %d repeats %v", mode, page, h.SRN)
				}
				seen[h.SRN] = true
				if all.Hits[5*page+i].SRN != h.SRN {
					t.Fatalf("%v: page %d hit %d is %v, the full list has %v", mode, page, i, h.SRN, all.Hits[5*page+i].SRN)
				}
			}
		}
		if len(seen) != 15 {
			t.Fatalf("%v: 3 pages held %d records, want 15", mode, len(seen))
		}
	}
}

func TestDeletedAndUnindexedRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	// Deleted, though its index rows are still there: never a hit.
	if err := b.store.Delete(ctx, b.srnByIx[0]); err != nil {
		t.Fatal(err)
	}
	// Published, not indexed yet: not a hit until the backends have it.
	m, _ := json.Marshal(map[string]any{"title": "Zebrafish heart fresh record"})
	if _, err := b.store.Publish(ctx, []records.PublishParams{{Metadata: m}}, records.PriorityInteractive); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []search.Mode{search.ModeVector, search.ModeKeyword, search.ModeHybrid} {
		res := b.search(t, search.Request{Query: "zebrafish heart", Mode: mode})
		for _, h := range res.Hits {
			if h.SRN.ID == b.srnByIx[0].ID || strings.Contains(field(h, "title"), "fresh") {
				t.Fatalf("%v: hit %v (%s) is deleted or not indexed yet", mode, h.SRN, field(h, "title"))
			}
		}
	}
}

func TestMinScore(t *testing.T) {
	t.Parallel()
	b := setup(t)
	all := b.search(t, search.Request{Query: "zebrafish heart regeneration", Mode: search.ModeVector, Limit: 50})
	// Just above the lowest score: the hits tied at it go, the better ones stay.
	cut := math.Nextafter(all.Hits[len(all.Hits)-1].Score, math.Inf(1))
	if cut <= 0 {
		cut = all.Hits[2].Score // hits scoring 0: min_score 0 would keep everything
	}
	res := b.search(t, search.Request{Query: "zebrafish heart regeneration", Mode: search.ModeVector, Limit: 50, MinScore: cut})
	if len(res.Hits) < 3 || len(res.Hits) >= len(all.Hits) {
		t.Fatalf("min_score %v kept %d of %d hits", cut, len(res.Hits), len(all.Hits))
	}
	for _, h := range res.Hits {
		if h.Score < cut {
			t.Fatalf("hit scoring %v below min_score %v", h.Score, cut)
		}
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	vec, _ := pgvector.New(pgvector.Config{Name: "vector", Embedder: embed.NewHash(embed.HashConfig{})})
	kw, _ := keyword.New(keyword.Config{Name: "keyword"})
	svc := search.New(pool, []backends.Searcher{vec, kw}, search.Config{})
	kwOnly := search.New(pool, []backends.Searcher{kw}, search.Config{})
	for _, tc := range []struct {
		name  string
		svc   *search.Service
		req   search.Request
		field string
	}{
		{"empty query", svc, search.Request{}, "query"},
		{"10 KB query", svc, search.Request{Query: strings.Repeat("gene ", 2048)}, "query"},
		{"limit 1000", svc, search.Request{Query: "x", Limit: 1000}, "limit"},
		{"negative limit", svc, search.Request{Query: "x", Limit: -1}, "limit"},
		{"negative offset", svc, search.Request{Query: "x", Offset: -1}, "offset"},
		{"offset over 10000", svc, search.Request{Query: "x", Offset: 10001}, "offset"},
		{"filter not an object", svc, search.Request{Query: "x", Filter: json.RawMessage(`[1]`)}, "filter"},
		{"unknown backend", svc, search.Request{Query: "x", Backend: "nope"}, "backend"},
		{"wrong kind for the mode", svc, search.Request{Query: "x", Mode: search.ModeVector, Backend: "keyword"}, "backend"},
		{"mode without its backend", kwOnly, search.Request{Query: "x", Mode: search.ModeHybrid}, "mode"},
		{"query with nothing to embed", svc, search.Request{Query: "!!! ???", Mode: search.ModeVector}, "query"},
	} {
		_, err := tc.svc.Search(ctx, tc.req)
		var invalid *domainerr.ValidationError
		if !errors.As(err, &invalid) || invalid.Field != tc.field {
			t.Fatalf("%s: %v, want a validation error naming %q", tc.name, err, tc.field)
		}
	}
}

func TestInjectionAttemptsAreOrdinaryQueries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, q := range []string{`'; drop table records; --`, `%`, `\`, `:*`, `"unbalanced`, `a & b | !c`, `(zebrafish`,
		`zebrafish' OR '1'='1`, "null\x01byte"} {
		for _, mode := range []search.Mode{search.ModeKeyword, search.ModeHybrid} {
			if _, err := b.svc.Search(context.Background(), search.Request{Query: q, Mode: mode}); err != nil {
				t.Fatalf("%v query %q: %v", mode, q, err)
			}
		}
	}
	var n int
	if err := b.pool.QueryRow(context.Background(), `SELECT count(*) FROM records`).Scan(&n); err != nil || n != 65 {
		t.Fatalf("records after the attempts: %d, %v", n, err)
	}
	// Its words are words: "zebrafish" and "1" (any of them, ranked), nothing else.
	res := b.search(t, search.Request{Query: `zebrafish' OR '1'='1`, Mode: search.ModeKeyword})
	if !slices.ContainsFunc(res.Hits, func(h search.Hit) bool { return h.SRN == b.srnByIx[0] }) {
		t.Fatalf("a quoted query found %v", res.Hits)
	}
}

func TestListBackends(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	if _, err := b.pool.Exec(ctx, `INSERT INTO index_state (record_id, backend, version, state)
		SELECT id, 'vector', version, CASE WHEN random() < 2 THEN 'indexed' END FROM records`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `UPDATE index_state SET state = 'failed' WHERE record_id = $1`, b.srnByIx[0].ID); err != nil {
		t.Fatal(err)
	}
	infos, err := b.svc.Backends(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(infos) != 2 {
		t.Fatalf("%d backends", len(infos))
	}
	v, k := infos[0], infos[1]
	if v.Name != "vector" || v.Kind != "pgvector" || v.Model != "hash-v2" || v.Dims != 384 || !v.Healthy ||
		v.Indexed != 64 || v.Failed != 1 || v.Pending != 0 || v.Queue != "index_vector" {
		t.Fatalf("vector backend %+v", v)
	}
	if k.Name != "keyword" || k.Kind != "keyword" || k.Model != "" || k.Dims != 0 || !k.Healthy || k.Indexed != 0 {
		t.Fatalf("keyword backend %+v", k)
	}
}
