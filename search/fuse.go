package search

import (
	"cmp"
	"slices"

	"github.com/google/uuid"
)

// fused collects the hits of both sides by record, each with its rank on each side and the
// scores of the sides that found it.
type fused struct {
	hits     []Hit
	vecScore []float64 // 0 where the vector side did not find the hit
	kwScore  []float64
}

func collect(vec, kw []Hit) fused {
	byID := make(map[uuid.UUID]int, len(vec)+len(kw))
	var f fused
	add := func(h Hit) int {
		if i, ok := byID[h.SRN.ID]; ok {
			return i
		}
		byID[h.SRN.ID] = len(f.hits)
		h.Score, h.VectorRank, h.KeywordRank = 0, 0, 0
		f.hits = append(f.hits, h)
		f.vecScore, f.kwScore = append(f.vecScore, 0), append(f.kwScore, 0)
		return len(f.hits) - 1
	}
	for _, h := range vec {
		i := add(h)
		f.hits[i].VectorRank, f.vecScore[i] = h.VectorRank, h.Score
	}
	for _, h := range kw {
		i := add(h)
		f.hits[i].KeywordRank, f.kwScore[i] = h.KeywordRank, h.Score
	}
	return f
}

// fuseWeighted merges the ranked hits of the vector and keyword sides by their scores: each
// side's scores are scaled to run from 0 at its last candidate to 1 at its best ([scale]), and a
// record's score is ratio × its vector score + (1 − ratio) × its keyword score, a side that did
// not find it counting 0. Unlike ranks, scores keep how much better one hit is than the next,
// so a weak side cannot push a strong side's clear winner down. Ties are broken by SRN.
func fuseWeighted(vec, kw []Hit, ratio float64) []Hit {
	f := collect(vec, kw)
	vs, ks := scale(vec), scale(kw)
	for i := range f.hits {
		f.hits[i].Score = ratio*vs(f.vecScore[i], f.hits[i].VectorRank) + (1-ratio)*ks(f.kwScore[i], f.hits[i].KeywordRank)
	}
	return sorted(f.hits)
}

// scale returns the min-max scaling of the scores of hits (ranked best first): 1 for the best,
// 0 for the last, 1 for all when they are equal; 0 for a hit the side did not find (rank 0).
func scale(hits []Hit) func(score float64, rank int) float64 {
	if len(hits) == 0 {
		return func(float64, int) float64 { return 0 }
	}
	hi, lo := hits[0].Score, hits[len(hits)-1].Score
	return func(score float64, rank int) float64 {
		switch {
		case rank == 0:
			return 0
		case hi <= lo:
			return 1
		}
		return (score - lo) / (hi - lo)
	}
}

// fuseRRF merges the ranked hits of the vector and keyword sides by reciprocal rank fusion: a
// record's score is the sum over the sides that found it of 1 / (k + rank). Records found by
// both sides therefore rank above records found by one at the same rank. Ties are broken by
// SRN, so equal scores page deterministically.
func fuseRRF(vec, kw []Hit, k int) []Hit {
	f := collect(vec, kw)
	for i := range f.hits {
		h := &f.hits[i]
		if h.VectorRank > 0 {
			h.Score += 1 / float64(k+h.VectorRank)
		}
		if h.KeywordRank > 0 {
			h.Score += 1 / float64(k+h.KeywordRank)
		}
	}
	return sorted(f.hits)
}

// sorted sorts hits by score, best first, ties by SRN, and returns them.
func sorted(hits []Hit) []Hit {
	slices.SortFunc(hits, func(a, b Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.SRN.String(), b.SRN.String())
	})
	return hits
}
