package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osa-archive/osa/internal/pgtest"
)

// tinyDataset writes a dataset of 20 documents and 6 queries (5 judged) and returns its folder.
// Query q1's only relevant document, d01, is the only one with the word "xylophone".
func tinyDataset(tb testing.TB) string {
	tb.Helper()
	docs := [][2]string{
		{"Xylophone bars", "The xylophone is a percussion instrument whose wooden bars resonate when struck."},
		{"Protein folding", "Chaperones help proteins fold inside living cells under stress."},
		{"Misfolded proteins", "Misfolded proteins aggregate in cells and are cleared by the proteasome."},
		{"Diet and obesity in mice", "Mice fed a high-fat diet gained weight and developed obesity."},
		{"Antiviral immunity", "The innate immune response to a virus starts with interferon signalling."},
		{"T cells and viruses", "Cytotoxic T cells kill cells infected by the virus."},
		{"Climate change", "Rising temperatures from climate change shift the ranges of species."},
		{"Soil bacteria", "Bacteria in the soil fix nitrogen for plants."},
		{"Bone density", "Bone density falls with age in both sexes."},
		{"Sleep and memory", "Sleep consolidates memory in the hippocampus."},
		{"Coral reefs", "Coral reefs bleach when the ocean warms."},
		{"Insulin signalling", "Insulin lowers blood glucose through its receptor on liver cells."},
		{"Gut microbiome", "The gut microbiome differs between lean and obese people."},
		{"Stem cells", "Stem cells renew themselves and give rise to many cell types."},
		{"Vaccines", "Vaccines train the adaptive immune system with harmless antigens."},
		{"Photosynthesis", "Plants turn light, water and carbon dioxide into sugar."},
		{"Antibiotic resistance", "Bacteria resist antibiotics by pumping them out."},
		{"Heart failure", "Heart failure reduces how much blood the heart pumps."},
		{"Neurons", "Neurons fire action potentials along their axons."},
		{"Kidney function", "The kidneys filter the blood and make urine."},
	}
	var corpus strings.Builder
	for i, d := range docs {
		b, _ := json.Marshal(map[string]string{"_id": fmt.Sprintf("d%02d", i+1), "title": d[0], "text": d[1]})
		corpus.Write(append(b, '\n'))
	}
	return writeDataset(tb, map[string]string{
		"corpus.jsonl": corpus.String(),
		"queries_train.jsonl": `{"_id": "q1", "text": "xylophone"}
{"_id": "q2", "text": "How do proteins fold in cells?"}
{"_id": "q3", "text": "a high-fat diet causes obesity in mice"}
{"_id": "q4", "text": "immune response to a virus"}
{"_id": "q5", "text": "effects of climate change"}
{"_id": "q6", "text": "a query nobody judged"}
`,
		"qrels_train.tsv": "query-id\tcorpus-id\tscore\nq1\td01\t1\nq2\td02\t2\nq2\td03\t1\nq2\td08\t0\nq3\td04\t1\nq4\td05\t1\nq4\td06\t1\nq5\td07\t1\n",
	})
}

// TestRelevance runs the benchmark on a tiny dataset with one variant: every variant has every
// mode, every figure is within [0, 1], the reference BM25 ranks q1's document first, and the
// scratch database is gone. Not parallel: it checks that no scratch database is left on the
// server.
func TestRelevance(t *testing.T) {
	before := scratchDBs(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Relevance(ctx, RelevanceOpts{
		AdminURL: pgtest.AdminURL(t),
		Dataset:  tinyDataset(t),
		Variants: []RelevanceVariant{{Name: "ef", Set: []string{"search.ef_search=200"}}},
		Progress: testWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Docs != 20 || rep.Queries != 5 || rep.Judgements != 8 || rep.Split != RelevanceSplitDefault || rep.Limit != RelevanceLimit ||
		rep.Language != "english" || rep.BM25 != (BM25Params{K1: BM25K1Default, B: BM25BDefault}) {
		t.Errorf("report %+v", rep)
	}
	if rep.PublishSeconds <= 0 || rep.IndexSeconds < rep.PublishSeconds || rep.Seconds <= 0 {
		t.Errorf("publish %v s, index %v s, whole run %v s", rep.PublishSeconds, rep.IndexSeconds, rep.Seconds)
	}

	var want [][2]string
	for _, v := range []string{RelevanceDefaultVariant, "ef"} {
		for _, m := range []string{RelevanceModeKeyword, RelevanceModeVector, RelevanceModeHybrid} {
			want = append(want, [2]string{v, m})
		}
	}
	want = append(want, [2]string{RelevanceReferenceVariant, RelevanceModeBM25})
	if len(rep.Rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rep.Rows), len(want), rep.Rows)
	}
	for i, row := range rep.Rows {
		if row.Variant != want[i][0] || row.Mode != want[i][1] {
			t.Errorf("row %d is %s/%s, want %s/%s", i, row.Variant, row.Mode, want[i][0], want[i][1])
		}
		for name, v := range map[string]float64{"nDCG@10": row.NDCG10, "Recall@100": row.Recall100, "MRR@10": row.MRR10} {
			if v < 0 || v > 1 {
				t.Errorf("%s/%s: %s %v is outside [0, 1]", row.Variant, row.Mode, name, v)
			}
		}
		if row.Queries != 5 || row.ZeroHits < 0 || row.ZeroHits > 5 || len(row.byQuery) != 5 {
			t.Errorf("%s/%s: %d queries, %d zero-hit, %d scored", row.Variant, row.Mode, row.Queries, row.ZeroHits, len(row.byQuery))
		}
		api := row.Variant != RelevanceReferenceVariant
		if l := row.Latency; api != (l != nil) || api && (l.P50Ms <= 0 || l.P99Ms < l.P50Ms) {
			t.Errorf("%s/%s: latency %+v", row.Variant, row.Mode, l)
		}
	}
	ref := rep.Row(RelevanceReferenceVariant, RelevanceModeBM25)
	if q1 := ref.byQuery["q1"]; q1.mrr != 1 || q1.ndcg != 1 {
		t.Errorf("reference BM25, q1: %+v, want d01 ranked first (MRR@10 1, nDCG@10 1)", q1)
	}
	if ref.ZeroHits != 0 || ref.NDCG10 <= 0.5 {
		t.Errorf("reference BM25: %+v", ref)
	}

	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(js), `"q1"`) {
		t.Errorf("the JSON report has per-query results: %s", js)
	}
	md := rep.Markdown()
	for _, s := range []string{"| variant | mode | nDCG@10 | Recall@100 | MRR@10 | zero-hit queries | p50 ms | p99 ms |",
		"| default | keyword |", "| ef | hybrid |", "| bm25 (reference, harness) | bm25 |", "`--set search.ef_search=200`", "0.665",
		"20 documents, 5 queries with 8 judgements"} {
		if !strings.Contains(md, s) {
			t.Errorf("Markdown lacks %q:\n%s", s, md)
		}
	}
	assertNoNewScratchDBs(t, before)
}

// TestRelevanceBadVariant fails on a key config does not know, with config's message, before it
// creates a database. Not parallel, as [TestRelevance].
func TestRelevanceBadVariant(t *testing.T) {
	before := scratchDBs(t)
	var progress strings.Builder
	_, err := Relevance(context.Background(), RelevanceOpts{
		AdminURL: pgtest.AdminURL(t),
		Dataset:  tinyDataset(t),
		Variants: []RelevanceVariant{{Name: "bad", Set: []string{"search.no_such_key=1"}}},
		Progress: &progress,
	})
	if err == nil || !strings.Contains(err.Error(), "variant bad") || !strings.Contains(err.Error(), `unknown key "search.no_such_key" (in command-line flags)`) {
		t.Fatalf("Relevance with a bad key: %v", err)
	}
	if progress.Len() > 0 {
		t.Errorf("it ran before failing:\n%s", progress.String())
	}
	assertNoNewScratchDBs(t, before)
}

// TestRelevanceCancelCleansUp cancels a run once the documents are published: Relevance
// returns the context's error and leaves no scratch database behind. Not parallel, as
// [TestRelevance].
func TestRelevanceCancelCleansUp(t *testing.T) {
	before := scratchDBs(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	progress := writerFunc(func(p []byte) (int, error) {
		if strings.Contains(string(p), "published 20/20") {
			once.Do(cancel)
		}
		return len(p), nil
	})
	_, err := Relevance(ctx, RelevanceOpts{AdminURL: pgtest.AdminURL(t), Dataset: tinyDataset(t), Progress: progress})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Relevance after cancel: %v, want context.Canceled", err)
	}
	assertNoNewScratchDBs(t, before)
}

func TestParseRelevanceVariant(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want RelevanceVariant
	}{
		{"rrf=search.fusion=rrf", RelevanceVariant{Name: "rrf", Set: []string{"search.fusion=rrf"}}},
		{"mix=search.fusion=convex,search.semantic_ratio=0.3", RelevanceVariant{Name: "mix",
			Set: []string{"search.fusion=convex", "search.semantic_ratio=0.3"}}},
		// A comma not followed by key= belongs to the value.
		{"list=a.b=[x, y],c=1", RelevanceVariant{Name: "list", Set: []string{"a.b=[x, y]", "c=1"}}},
	} {
		got, err := ParseRelevanceVariant(tc.in)
		if err != nil || got.Name != tc.want.Name || strings.Join(got.Set, "|") != strings.Join(tc.want.Set, "|") {
			t.Errorf("ParseRelevanceVariant(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "name", "name=", "=a=b"} {
		if _, err := ParseRelevanceVariant(in); err == nil {
			t.Errorf("ParseRelevanceVariant(%q) succeeded", in)
		}
	}
}

func TestRelevanceOptsCheck(t *testing.T) {
	t.Parallel()
	dir := tinyDataset(t)
	if err := (RelevanceOpts{Dataset: dir}).Check(); err != nil {
		t.Errorf("Check of a good dataset: %v", err)
	}
	for _, tc := range []struct {
		name string
		opts RelevanceOpts
		want string
	}{
		{"NoDataset", RelevanceOpts{}, "Dataset is required"},
		{"MissingDataset", RelevanceOpts{Dataset: dir + "/nope"}, "no such file"},
		{"SmokeVariants", RelevanceOpts{Dataset: dir, Smoke: true, Variants: []RelevanceVariant{{"a", []string{"x=1"}}, {"b", []string{"x=1"}}}},
			"at most one variant"},
		{"DefaultName", RelevanceOpts{Dataset: dir, Variants: []RelevanceVariant{{"default", []string{"x=1"}}}}, `"default" is taken`},
		{"SameName", RelevanceOpts{Dataset: dir, Variants: []RelevanceVariant{{"a", []string{"x=1"}}, {"a", []string{"x=1"}}}}, `"a" is taken`},
		{"BadName", RelevanceOpts{Dataset: dir, Variants: []RelevanceVariant{{"a b", []string{"x=1"}}}}, "variant name"},
		{"NoOverride", RelevanceOpts{Dataset: dir, Variants: []RelevanceVariant{{"a", nil}}}, "has no override"},
		{"BadValue", RelevanceOpts{Dataset: dir, Variants: []RelevanceVariant{{"a", []string{"search.ef_search=many"}}}}, `search.ef_search: "many" is not an integer`},
		{"BM25", RelevanceOpts{Dataset: dir, BM25: &BM25Params{K1: -1, B: 1.5}}, "BM25.K1 must be 0 or more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := tc.opts.Check(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check: %v, want an error with %q", err, tc.want)
			}
		})
	}
}
