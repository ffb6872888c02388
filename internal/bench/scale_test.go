package bench

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/pgvector"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/internal/pgtest"
	"github.com/osa-archive/osa/server"
)

// TestScaleSmoke runs the scale benchmark on a small corpus: every phase is timed, the corpus
// is embedded once for both vector backends, the halfvec table is the smaller, recall is sane
// and every series runs without errors. The figures themselves are for osa bench scale.
func TestScaleSmoke(t *testing.T) {
	t.Parallel()
	rep, err := Scale(context.Background(), ScaleOpts{AdminURL: pgtest.AdminURL(t), Records: ScaleRecordsSmokeDefault, Queries: ScaleQueriesSmokeDefault})
	if err != nil {
		t.Fatal(err)
	}
	l := rep.Load
	if l == nil || l.Records <= 0 || l.Generate <= 0 || len(l.Backends) != 3 {
		t.Fatalf("load phases %+v", l)
	}
	embedded := map[string]int64{}
	for _, b := range l.Backends {
		if b.Write <= 0 || b.Index <= 0 || b.Swap <= 0 {
			t.Fatalf("phases of %s: %+v", b.Name, b)
		}
		embedded[b.Name] = b.Embedded
	}
	if embedded["vector"] != int64(rep.Records) || embedded[ScaleHalfvecBackend] != 0 {
		t.Fatalf("texts embedded %v: want the corpus once, by vector", embedded)
	}
	if len(rep.Vectors) != 2 || rep.Vectors[0].Type != "vector" || rep.Vectors[1].Type != "halfvec" {
		t.Fatalf("vector backends %+v", rep.Vectors)
	}
	for _, v := range rep.Vectors {
		if v.RecallAt10 < 0.8 || v.RecallAt10 > 1+1e-9 || len(v.RecallByEf) != len(recallEfSearches) {
			t.Fatalf("%s: recall@10 %.3f, by ef_search %v", v.Name, v.RecallAt10, v.RecallByEf)
		}
		for _, s := range []Latency{v.Vector, v.Hybrid, v.Similar} {
			if s.Errors != 0 || s.EmptyCount != 0 || s.Requests == 0 || s.P99Ms < s.P50Ms {
				t.Fatalf("%s: series %+v", v.Name, s)
			}
		}
	}
	if h, v := rep.Vectors[1], rep.Vectors[0]; h.TableBytes <= 0 || h.TableBytes >= v.TableBytes || h.IndexBytes <= 0 || h.IndexBytes >= v.IndexBytes {
		t.Fatalf("halfvec table %d and index %d bytes, vector's %d and %d: want halfvec's smaller", h.TableBytes, h.IndexBytes, v.TableBytes, v.IndexBytes)
	}
	if len(rep.Series) != 6 {
		t.Fatalf("%d series, want keyword and the 5 search features besides similar", len(rep.Series))
	}
	for _, s := range rep.Series {
		if s.Errors != 0 || s.Requests == 0 {
			t.Fatalf("series %+v", s)
		}
	}
	if relation(rep.Relations, "records") == nil || relation(rep.Relations, "vec_vector_half") == nil {
		t.Fatalf("relations %+v", rep.Relations)
	}
	if rep.PeakRSSBytes <= 0 || rep.PeakRSSBytes < rep.RSSBytes {
		t.Fatalf("peak RSS %d, RSS %d", rep.PeakRSSBytes, rep.RSSBytes)
	}
	md := rep.Markdown()
	for _, want := range []string{"## Targets", "vector_half (halfvec): recall@10", "HNSW build, seconds", "| vec_vector_half |",
		"maintenance_work_mem", "| browse_page50 |", "peak resident memory"} {
		if !strings.Contains(md, want) {
			t.Fatalf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// exactHitsByScan finds what the backend's own exact search finds, one query at a time.
func TestExactHitsByScan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := createScratchDB(ctx, pgtest.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.drop(ctx)
	cfg := config.Default()
	cfg.Database.URL = db.url
	cfg.Node.Role = config.RoleAPI
	cfg.Log.Level = "error"
	srv, err := server.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if _, err := loadCorpus(ctx, srv.Pool(), srv.Backends(), corpusChunks(3000, searchLoadBatch), 3000, func(string, ...any) {}); err != nil {
		t.Fatal(err)
	}
	vec := srv.Backends()[slices.IndexFunc(srv.Backends(), func(b backends.Backend) bool { return b.Kind() == backends.KindPgvector })]
	queries := searchQueries(Corpus(3000), 30)
	want, err := exactHits(ctx, srv.Pool(), vec, queries)
	if err != nil {
		t.Fatal(err)
	}
	got, err := exactHitsByScan(ctx, srv.Pool(), vec.(*pgvector.Backend), queries)
	if err != nil {
		t.Fatal(err)
	}
	for i := range queries {
		ids, scores := make([]uuid.UUID, len(got[i])), make([]float64, len(got[i]))
		for j, h := range got[i] {
			ids[j], scores[j] = h.RecordID, h.Score
		}
		if tie, _ := recallOf(want[i], ids, scores); len(got[i]) != len(want[i]) || tie < 1 {
			t.Fatalf("%q: %d hits by scan, %d by exact search, recall %.2f", queries[i], len(got[i]), len(want[i]), tie)
		}
	}
}

// ScaleOpts.Check names the flag of options Scale cannot run with.
func TestScaleOptsCheck(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		opts ScaleOpts
		want string
	}{
		{ScaleOpts{Records: 999}, "--records 999 is too few: send at least 1000"},
		{ScaleOpts{Queries: -1}, "--queries -1 is negative"},
		{ScaleOpts{}, ""},
	} {
		err := tt.opts.Check()
		if (err == nil) != (tt.want == "") || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Check(%+v) = %v, want %q", tt.opts, err, tt.want)
		}
	}
}
