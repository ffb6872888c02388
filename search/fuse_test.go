package search

import (
	"math"
	"testing"

	"github.com/google/uuid"

	"github.com/osa-archive/osa/records"
)

// ranked returns hits for the records ids, ranked in that order, with those scores, found by
// the vector side (vector) or the keyword side.
func ranked(ids []uuid.UUID, scores []float64, vector bool) []Hit {
	hits := make([]Hit, len(ids))
	for i, id := range ids {
		hits[i] = Hit{SRN: records.SRN{Domain: "localhost", ID: id, Version: 1}, Score: scores[i]}
		if vector {
			hits[i].VectorRank = i + 1
		} else {
			hits[i].KeywordRank = i + 1
		}
	}
	return hits
}

func TestFuseWeighted(t *testing.T) {
	t.Parallel()
	a, b, c, d := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	vec := ranked([]uuid.UUID{c, b, d}, []float64{0.9, 0.5, 0.1}, true)
	kw := ranked([]uuid.UUID{a, b, c}, []float64{12, 11, 2}, false)
	got := fuseWeighted(vec, kw, 0.25)
	// Scaled: vector c 1, b 0.5, d 0; keyword a 1, b 0.9, c 0.
	want := map[uuid.UUID]float64{a: 0.75, b: 0.25*0.5 + 0.75*0.9, c: 0.25, d: 0}
	order := []uuid.UUID{b, a, c, d}
	for i, h := range got {
		if h.SRN.ID != order[i] || math.Abs(h.Score-want[h.SRN.ID]) > 1e-9 {
			t.Fatalf("hit %d: %v score %v, want %v score %v", i, h.SRN.ID, h.Score, order[i], want[order[i]])
		}
	}
	if got[0].VectorRank != 2 || got[0].KeywordRank != 2 || got[1].VectorRank != 0 || got[1].KeywordRank != 1 {
		t.Fatalf("ranks: %+v", got[:2])
	}

	// Ratio 0 is the keyword order, a missing side changes nothing, equal scores scale to 1.
	if got := fuseWeighted(vec, kw, 0); got[0].SRN.ID != a || got[1].SRN.ID != b {
		t.Fatalf("ratio 0: %v", got)
	}
	if got := fuseWeighted(nil, kw, 0.5); len(got) != 3 || got[0].SRN.ID != a || got[0].Score != 0.5 {
		t.Fatalf("no vector hits: %v", got)
	}
	if got := fuseWeighted(ranked([]uuid.UUID{d}, []float64{0.3}, true), nil, 0.5); len(got) != 1 || got[0].Score != 0.5 {
		t.Fatalf("one vector hit: %v", got)
	}
}

func TestFuseRRF(t *testing.T) {
	t.Parallel()
	a, b, c := uuid.New(), uuid.New(), uuid.New()
	got := fuseRRF(ranked([]uuid.UUID{a, b}, []float64{0.9, 0.8}, true), ranked([]uuid.UUID{b, c}, []float64{5, 4}, false), 60)
	if got[0].SRN.ID != b || math.Abs(got[0].Score-(1.0/62+1.0/61)) > 1e-12 || got[1].SRN.ID != a {
		t.Fatalf("%v", got)
	}
}
