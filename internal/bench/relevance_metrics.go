package bench

import (
	"math"
	"slices"
	"time"
)

// Cut-offs of the relevance metrics.
const (
	// RelevanceLimit is the limit of every search of [Relevance] and the depth of the reference
	// BM25's ranking; Recall is measured at it.
	RelevanceLimit = 100
	// relevanceNDCGCut and relevanceMRRCut are the k of nDCG@k and MRR@k.
	relevanceNDCGCut = 10
	relevanceMRRCut  = 10
)

// queryScores are one query's figures against its judgements.
type queryScores struct {
	ndcg, recall, mrr float64
	// hits is the number of documents ranked.
	hits int
}

// scoreQuery measures ranked (document ids, best first) against judged (document id → score;
// 0 or less is not relevant): nDCG@10, Recall@100 and MRR@10.
func scoreQuery(ranked []string, judged map[string]int) queryScores {
	return queryScores{
		ndcg:   ndcgAt(ranked, judged, relevanceNDCGCut),
		recall: recallAt(ranked, judged, RelevanceLimit),
		mrr:    mrrAt(ranked, judged, relevanceMRRCut),
		hits:   len(ranked),
	}
}

// ndcgAt returns nDCG@k as trec_eval's ndcg_cut.k computes it: the gain of a document is its
// judged score (0 for unjudged ones and scores below 0), discounted by log2(rank + 1); the ideal
// DCG ranks the judged scores from the highest. 0 when no judged score is positive.
func ndcgAt(ranked []string, judged map[string]int, k int) float64 {
	var dcg float64
	for i, id := range ranked[:min(k, len(ranked))] {
		if g := judged[id]; g > 0 {
			dcg += float64(g) / math.Log2(float64(i+2))
		}
	}
	gains := make([]int, 0, len(judged))
	for _, g := range judged {
		if g > 0 {
			gains = append(gains, g)
		}
	}
	slices.Sort(gains)
	slices.Reverse(gains)
	var ideal float64
	for i, g := range gains[:min(k, len(gains))] {
		ideal += float64(g) / math.Log2(float64(i+2))
	}
	if ideal == 0 {
		return 0
	}
	return dcg / ideal
}

// recallAt returns the share of the relevant documents (judged score above 0) among the first k
// ranked; 0 when none is relevant.
func recallAt(ranked []string, judged map[string]int, k int) float64 {
	relevant := 0
	for _, g := range judged {
		if g > 0 {
			relevant++
		}
	}
	if relevant == 0 {
		return 0
	}
	found := 0
	for _, id := range ranked[:min(k, len(ranked))] {
		if judged[id] > 0 {
			found++
		}
	}
	return float64(found) / float64(relevant)
}

// mrrAt returns the reciprocal rank of the first relevant document among the first k ranked, 0
// when there is none.
func mrrAt(ranked []string, judged map[string]int, k int) float64 {
	for i, id := range ranked[:min(k, len(ranked))] {
		if judged[id] > 0 {
			return 1 / float64(i+1)
		}
	}
	return 0
}

// relevanceRow sums up the figures of one variant and mode, scores[i] being those of
// queries[i]: their means, the queries without any hit and, when latencies is not nil, the p50
// and p99 of the calls.
func relevanceRow(variant, mode string, queries []datasetQuery, scores []queryScores, latencies []time.Duration) RelevanceRow {
	row := RelevanceRow{Variant: variant, Mode: mode, Queries: len(scores), byQuery: make(map[string]queryScores, len(scores))}
	for i, s := range scores {
		row.byQuery[queries[i].id] = s
		row.NDCG10 += s.ndcg
		row.Recall100 += s.recall
		row.MRR10 += s.mrr
		if s.hits == 0 {
			row.ZeroHits++
		}
	}
	if n := float64(len(scores)); n > 0 {
		row.NDCG10, row.Recall100, row.MRR10 = row.NDCG10/n, row.Recall100/n, row.MRR10/n
	}
	if latencies != nil {
		ms := make([]float64, len(latencies))
		for i, d := range latencies {
			ms[i] = durationMillis(d)
		}
		slices.Sort(ms)
		row.Latency = &RowLatency{P50Ms: percentile(ms, 0.50), P99Ms: percentile(ms, 0.99)}
	}
	return row
}
