package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Names in a [RelevanceReport].
const (
	// RelevanceDefaultVariant is the variant of the built-in configuration, always measured first.
	RelevanceDefaultVariant = "default"
	// RelevanceReferenceVariant is the variant of the reference BM25 computed in the harness;
	// its Mode is [RelevanceModeBM25].
	RelevanceReferenceVariant = "bm25 (reference, harness)"
	// RelevanceModeBM25 is the mode of the reference BM25's row.
	RelevanceModeBM25 = "bm25"
)

// Modes of a [RelevanceRow] measured through the API.
const (
	RelevanceModeKeyword = "keyword"
	RelevanceModeVector  = "vector"
	RelevanceModeHybrid  = "hybrid"
)

// PublishedBM25SciFactTest is the nDCG@10 of BM25 on SciFact's test split published by BEIR
// (Thakur et al., 2021), the report's point of reference.
const PublishedBM25SciFactTest = 0.665

// RelevanceReport is the outcome of [Relevance]: aggregate figures per variant and mode (no
// per-query results). It is JSON-serialisable; [RelevanceReport.Markdown] renders it.
type RelevanceReport struct {
	// Command is the command line that produced the report.
	Command string    `json:"command"`
	Date    time.Time `json:"date"`
	Machine Machine   `json:"machine"`
	// Dataset is the dataset's folder and Split the split measured; CorpusFile, QueriesFile and
	// QrelsFile are the files read.
	Dataset     string `json:"dataset"`
	Split       string `json:"split"`
	CorpusFile  string `json:"corpus_file"`
	QueriesFile string `json:"queries_file"`
	QrelsFile   string `json:"qrels_file"`
	// Docs is the number of documents published, Queries the number of queries run (those with
	// judgements) and Judgements their judgements.
	Docs       int `json:"docs"`
	Queries    int `json:"queries"`
	Judgements int `json:"judgements"`
	// Smoke says the run measured the smoke slice of the dataset ([RelevanceOpts.Smoke]).
	Smoke bool `json:"smoke,omitempty"`
	// Limit is the limit of every search and the depth of the reference ranking.
	Limit int `json:"limit"`
	// Language is the text search configuration of the reference BM25's to_tsvector: the
	// built-in keyword backend's.
	Language string     `json:"language"`
	BM25     BM25Params `json:"bm25"`
	// Variants are the configurations measured, the default first (without overrides).
	Variants []RelevanceVariant `json:"variants"`
	// Rows are the figures: per variant, the keyword, vector and hybrid modes; last the
	// reference BM25 ([RelevanceReferenceVariant]).
	Rows []RelevanceRow `json:"rows"`
	// PublishSeconds is the time to publish the corpus, IndexSeconds the time from the first
	// publish until every backend had indexed it.
	PublishSeconds float64 `json:"publish_seconds"`
	IndexSeconds   float64 `json:"index_seconds"`
	// Seconds is the whole run, set-up and clean-up included.
	Seconds float64 `json:"seconds"`
}

// RelevanceRow is the figures of one variant and mode, means over the queries.
type RelevanceRow struct {
	Variant string `json:"variant"`
	// Mode is "keyword", "vector" or "hybrid", or "bm25" for the reference.
	Mode    string `json:"mode"`
	Queries int    `json:"queries"`
	// NDCG10 is nDCG@10 as trec_eval's ndcg_cut.10: graded gains, log2 discount, the ideal DCG
	// from the judgements.
	NDCG10 float64 `json:"ndcg_at_10"`
	// Recall100 is the share of each query's relevant documents among its first 100 hits.
	Recall100 float64 `json:"recall_at_100"`
	// MRR10 is the reciprocal rank of each query's first relevant hit within the first 10, 0
	// without one.
	MRR10 float64 `json:"mrr_at_10"`
	// ZeroHits is the number of queries without any hit.
	ZeroHits int `json:"zero_hit_queries"`
	// Latency is the client-side latency of the Search calls; nil for the reference.
	Latency *RowLatency `json:"latency,omitempty"`
	// Scores spreads the scores of the hits, judged-relevant against the rest: where a relevance
	// floor (embedder.min_similarity) would cut. Nil for the reference.
	Scores *ScoreSpread `json:"scores,omitempty"`

	// byQuery are the figures of each query, by query id, for tests (the reports are aggregate).
	byQuery map[string]queryScores
}

// ScoreSpread is the spread of the scores of a mode's hits.
type ScoreSpread struct {
	Relevant Spread `json:"relevant"`
	Others   Spread `json:"others"`
}

// Spread is the distribution of some scores, by the nearest rank.
type Spread struct {
	N   int     `json:"n"`
	P01 float64 `json:"p01"`
	P10 float64 `json:"p10"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
}

// spreadOf returns the spread of scores (sorted here).
func spreadOf(scores []float64) Spread {
	slices.Sort(scores)
	return Spread{N: len(scores), P01: percentile(scores, 0.01), P10: percentile(scores, 0.10), P50: percentile(scores, 0.50),
		P90: percentile(scores, 0.90), P99: percentile(scores, 0.99)}
}

// RowLatency is the latency of the Search calls of a [RelevanceRow], by the nearest rank.
type RowLatency struct {
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
}

// Row returns the row of variant and mode, or nil.
func (r *RelevanceReport) Row(variant, mode string) *RelevanceRow {
	for i := range r.Rows {
		if r.Rows[i].Variant == variant && r.Rows[i].Mode == mode {
			return &r.Rows[i]
		}
	}
	return nil
}

// Markdown renders the report: the command, the machine, the dataset, the table of every row,
// the variants' overrides and notes on the metrics and the reference.
func (r *RelevanceReport) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := r.Machine

	m.writeHeader(&b, "Relevance benchmark", r.Command, r.Date)
	w("Dataset `%s`, split `%s`: %s documents, %s queries with %s judgements (the queries without judgements are not run). ",
		r.Dataset, r.Split, fmtNum(float64(r.Docs)), fmtNum(float64(r.Queries)), fmtNum(float64(r.Judgements)))
	w("Every document was published through the API as a record `{\"title\": title, \"summary\": text, \"bench\": {\"doc_id\": _id}}` "+
		"(PublishRecords, %s per call) in %.1f s and indexed by every backend of the built-in configuration (`vector`: pgvector, hash "+
		"embedder; `keyword`) %.1f s after the first publish. Each variant is a server on the same database; every query, as written, "+
		"went to SearchService.Search with limit %d in each mode, one call at a time from one client.\n\n",
		fmtNum(relevancePublishBatch), r.PublishSeconds, r.IndexSeconds, r.Limit)
	if r.Smoke {
		w("**Smoke run**: the first %d judged queries and %d documents (those judged for them, then others): the figures check that "+
			"every part works, they are not comparable with a full run.\n\n", r.Queries, r.Docs)
	}

	w("| variant | mode | nDCG@10 | Recall@100 | MRR@10 | zero-hit queries | p50 ms | p99 ms |\n")
	w("|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, row := range r.Rows {
		p50, p99 := "n/a", "n/a"
		if l := row.Latency; l != nil {
			p50, p99 = fmt.Sprintf("%.1f", l.P50Ms), fmt.Sprintf("%.1f", l.P99Ms)
		}
		w("| %s | %s | %.3f | %.3f | %.3f | %d | %s | %s |\n", row.Variant, row.Mode, row.NDCG10, row.Recall100, row.MRR10,
			row.ZeroHits, p50, p99)
	}
	w("\n")

	w("Scores of the hits of the `%s` variant (the first %d of each query), judged-relevant against the rest, by percentile: "+
		"where a relevance floor would cut (for a vector backend, `embedder.min_similarity`).\n\n", r.Variants[0].Name, r.Limit)
	w("| variant | mode | hits | p01 | p10 | p50 | p90 | p99 |\n|---|---|---|---:|---:|---:|---:|---:|\n")
	for _, row := range r.Rows {
		if row.Scores == nil || row.Variant != r.Variants[0].Name {
			continue
		}
		for _, part := range []struct {
			name string
			s    Spread
		}{{"relevant", row.Scores.Relevant}, {"others", row.Scores.Others}} {
			w("| %s | %s | %s %d | %.3f | %.3f | %.3f | %.3f | %.3f |\n", row.Variant, row.Mode, part.name, part.s.N,
				part.s.P01, part.s.P10, part.s.P50, part.s.P90, part.s.P99)
		}
	}
	w("\n")

	w("Variants:\n\n")
	for _, v := range r.Variants {
		if len(v.Set) == 0 {
			w("- `%s`: the built-in configuration\n", v.Name)
			continue
		}
		sets := make([]string, len(v.Set))
		for i, s := range v.Set {
			sets[i] = "`--set " + s + "`"
		}
		w("- `%s`: the built-in configuration with %s\n", v.Name, strings.Join(sets, " "))
	}
	w("\n")

	w("Notes:\n\n")
	w("- nDCG@10 as trec_eval's `ndcg_cut.10`: the gain of a hit is its judgement's score, discounted by log2(rank + 1), over the " +
		"ideal DCG of the query's judgements. Recall@100: the share of a query's relevant documents (score above 0) among its first " +
		"100 hits. MRR@10: 1/rank of the first relevant hit within the first 10, 0 without one. Each is the mean over the queries; " +
		"zero-hit queries had no hit at all. p50 and p99 are client-side, per Search call (Connect over loopback, no gzip).\n")
	w("- `%s` is computed in the harness, not by OSA: Lucene's BM25 (k1 %s, b %s; idf ln(1 + (N − df + 0.5)/(df + 0.5))) over the "+
		"lexemes and counts PostgreSQL's `to_tsvector('%s', …)` gives each document's title + \"\\n\" + text and each query (its "+
		"distinct lexemes), the top %d by score, ties by document id: what plain BM25 reaches on the keyword backend's own tokens.\n",
		RelevanceReferenceVariant, fmtFloat(r.BM25.K1), fmtFloat(r.BM25.B), r.Language, r.Limit)
	w("- Published BM25 on SciFact's **test** split (300 queries): nDCG@10 %.3f (BEIR, Thakur et al., 2021). Another split and "+
		"another tokenizer: compare the range, not the digits.\n\n", PublishedBM25SciFactTest)

	w("After the run: CPU %s. Whole run: %.0f s.\n", m.CPUAfter, r.Seconds)
	return b.String()
}

// fmtFloat formats v with as few digits as it needs (0.9, 1.2, 0.75).
func fmtFloat(v float64) string { return fmt.Sprintf("%g", v) }
