package search

import (
	"cmp"
	"slices"

	"github.com/google/uuid"
)

// fuse merges the ranked hits of the vector and keyword sides by reciprocal rank fusion: a
// record's score is the sum over the sides that found it of 1 / (k + rank). Records found by
// both sides therefore rank above records found by one at the same rank. Ties are broken by SRN,
// so equal scores page deterministically.
func fuse(vec, kw []Hit, k int) []Hit {
	byID := make(map[uuid.UUID]int, len(vec)+len(kw))
	var out []Hit
	add := func(h Hit) *Hit {
		if i, ok := byID[h.SRN.ID]; ok {
			return &out[i]
		}
		byID[h.SRN.ID] = len(out)
		h.Score, h.VectorRank, h.KeywordRank = 0, 0, 0
		out = append(out, h)
		return &out[len(out)-1]
	}
	for _, h := range vec {
		add(h).VectorRank = h.VectorRank
	}
	for _, h := range kw {
		add(h).KeywordRank = h.KeywordRank
	}
	for i := range out {
		h := &out[i]
		if h.VectorRank > 0 {
			h.Score += 1 / float64(k+h.VectorRank)
		}
		if h.KeywordRank > 0 {
			h.Score += 1 / float64(k+h.KeywordRank)
		}
	}
	slices.SortFunc(out, func(a, b Hit) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.SRN.String(), b.SRN.String())
	})
	return out
}
