package bench

import (
	"context"
	"fmt"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/records"
)

// recallEfSearches are the hnsw.ef_search values recall is measured at, beside the configured
// one.
var recallEfSearches = []int{40, 100, 200, 400, 800, 1000}

// rescorer returns the similarity of each of ids to query in full precision, for a backend whose
// own scores are rounded (halfvec); nil keeps the hits' own scores.
type rescorer func(ctx context.Context, query string, ids []uuid.UUID) (map[uuid.UUID]float64, error)

// exactHits returns the exact top 10 of every query in vec (a scan of the whole table, not the
// HNSW index): the yardstick of recall.
func exactHits(ctx context.Context, pool *pgxpool.Pool, vec backends.Searcher, queries []string) ([][]backends.Hit, error) {
	exacts := make([][]backends.Hit, len(queries))
	for i, q := range queries {
		var err error
		if exacts[i], err = vec.Search(ctx, pool, backends.Query{Text: q, Limit: searchK, Exact: true}); err != nil {
			return nil, fmt.Errorf("exact search %q: %w", q, err)
		}
	}
	return exacts, nil
}

// recallOf returns the recall of hits (ids and scores, best first) against exact. Hash
// embeddings of short queries tie often, so a hit counts when it is as near as the exact 10th
// (ties at the boundary are interchangeable); strict counts the exact top 10's own ids only.
func recallOf(exact []backends.Hit, ids []uuid.UUID, scores []float64) (tieAware, strict float64) {
	if len(exact) == 0 {
		return 1, 1
	}
	want := map[uuid.UUID]bool{}
	for _, h := range exact {
		want[h.RecordID] = true
	}
	bound := exact[len(exact)-1].Score - 1e-6
	var t, s int
	for j, id := range ids {
		if want[id] {
			s++
		}
		if want[id] || scores[j] >= bound {
			t++
		}
	}
	return float64(min(t, len(exact))) / float64(len(exact)), float64(s) / float64(len(exact))
}

// scoredRecall is recallOf with the hits' scores replaced by rescore's, when given.
func scoredRecall(ctx context.Context, rescore rescorer, query string, exact []backends.Hit, ids []uuid.UUID, scores []float64) (
	tieAware, strict float64, err error) {
	if rescore != nil {
		full, err := rescore(ctx, query, ids)
		if err != nil {
			return 0, 0, err
		}
		for j, id := range ids {
			scores[j] = full[id]
		}
	}
	tieAware, strict = recallOf(exact, ids, scores)
	return tieAware, strict, nil
}

// apiRecall returns the mean recall@10 of the API's vector search (on backend, "" for the
// default one) against exacts, over queries.
func apiRecall(ctx context.Context, client osav1connect.SearchServiceClient, backend string, queries []string, exacts [][]backends.Hit,
	rescore rescorer) (tieAware, strict float64, err error) {
	for i, q := range queries {
		res, err := client.Search(ctx, connect.NewRequest(&osav1.SearchRequest{Query: q, Mode: osav1.SearchMode_SEARCH_MODE_VECTOR,
			Backend: backend, Limit: ptr(int32(searchK))}))
		if err != nil {
			return 0, 0, fmt.Errorf("vector search %q: %w", q, err)
		}
		var (
			ids    []uuid.UUID
			scores []float64
		)
		for _, h := range res.Msg.Hits {
			if srn, err := records.ParseSRN(h.Srn); err == nil {
				ids, scores = append(ids, srn.ID), append(scores, h.GetScore())
			}
		}
		t, s, err := scoredRecall(ctx, rescore, q, exacts[i], ids, scores)
		if err != nil {
			return 0, 0, err
		}
		tieAware += t / float64(len(queries))
		strict += s / float64(len(queries))
	}
	return tieAware, strict, nil
}

// recallByEf returns the mean recall@10 of vec's own search (no API) against exacts at each
// hnsw.ef_search of recallEfSearches, calling each with it.
func recallByEf(ctx context.Context, pool *pgxpool.Pool, vec backends.Searcher, queries []string, exacts [][]backends.Hit,
	rescore rescorer, each func(RecallAtEf)) ([]RecallAtEf, error) {
	var out []RecallAtEf
	for _, ef := range recallEfSearches {
		var mean float64
		for i, q := range queries {
			hits, err := vec.Search(ctx, pool, backends.Query{Text: q, Limit: searchK, EfSearch: ef})
			if err != nil {
				return nil, err
			}
			ids, scores := make([]uuid.UUID, len(hits)), make([]float64, len(hits))
			for j, h := range hits {
				ids[j], scores[j] = h.RecordID, h.Score
			}
			r, _, err := scoredRecall(ctx, rescore, q, exacts[i], ids, scores)
			if err != nil {
				return nil, err
			}
			mean += r / float64(len(queries))
		}
		e := RecallAtEf{EfSearch: ef, Recall: mean}
		out = append(out, e)
		if each != nil {
			each(e)
		}
	}
	return out, nil
}
