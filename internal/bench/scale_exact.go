package bench

import (
	"container/heap"
	"context"
	"fmt"
	"math"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	pgvec "github.com/pgvector/pgvector-go"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/pgvector"
)

// exactCandidates is how many of the nearest records of each query one pass over the table
// keeps for the backend's own exact search to rank: the backend's exact search looks at its
// 50 nearest at most (a lexical embedder's fetch), and the margin absorbs ties that the two
// computations order differently.
const exactCandidates = 100

// exactHitsByScan returns the exact top 10 of every query in vec, as [exactHits] does, for a
// table too large to scan once per query (the backend's exact statement sorts the whole table,
// on disk beyond work_mem: minutes a query at a million records). One pass reads every vector
// (pgvector's binary form, on a pool with its types registered) and keeps each query's
// exactCandidates nearest by cosine distance; then the backend's own exact search, restricted to
// those records, ranks them and applies its relevance floor and shared-word rule.
func exactHitsByScan(ctx context.Context, pool *pgxpool.Pool, vec *pgvector.Backend, queries []string) ([][]backends.Hit, error) {
	qs, errs := vec.Embedder().Embed(ctx, queries)
	type sparse struct {
		idx  []int
		val  []float64
		norm float64
		near *nearestKept
	}
	sq := make([]sparse, len(queries))
	for i, v := range qs {
		if errs[i] != nil {
			return nil, fmt.Errorf("embedding query %q: %w", queries[i], errs[i])
		}
		s := sparse{near: &nearestKept{}}
		for j, x := range v {
			if x != 0 {
				s.idx, s.val = append(s.idx, j), append(s.val, float64(x))
				s.norm += float64(x) * float64(x)
			}
		}
		s.norm = math.Sqrt(s.norm)
		sq[i] = s
	}
	rows, err := pool.Query(ctx, "SELECT record_id, embedding FROM "+pgx.Identifier{vec.Table()}.Sanitize())
	if err != nil {
		return nil, err
	}
	var (
		id uuid.UUID
		v  pgvec.Vector
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &v}, func() error {
		row := v.Slice()
		var norm float64
		for _, x := range row {
			norm += float64(x) * float64(x)
		}
		norm = math.Sqrt(norm)
		for i := range sq {
			s := &sq[i]
			var dot float64
			for k, j := range s.idx {
				dot += s.val[k] * float64(row[j])
			}
			d := 1 - dot/(s.norm*norm)
			if s.near.Len() < exactCandidates {
				heap.Push(s.near, candidate{id, d})
			} else if d < (*s.near)[0].distance {
				(*s.near)[0] = candidate{id, d}
				heap.Fix(s.near, 0)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", vec.Table(), err)
	}
	exacts := make([][]backends.Hit, len(queries))
	for i, q := range queries {
		ids := make([]uuid.UUID, 0, sq[i].near.Len())
		for _, n := range *sq[i].near {
			ids = append(ids, n.id)
		}
		if exacts[i], err = vec.Search(ctx, pool, backends.Query{Text: q, Limit: searchK, Exact: true, Where: idsIn(ids)}); err != nil {
			return nil, fmt.Errorf("exact search %q: %w", q, err)
		}
	}
	return exacts, nil
}

// candidate is a record and its distance to a query.
type candidate struct {
	id       uuid.UUID
	distance float64
}

// nearestKept is a max-heap of records by distance: its root is the farthest kept.
type nearestKept []candidate

func (h nearestKept) Len() int           { return len(h) }
func (h nearestKept) Less(i, j int) bool { return h[i].distance > h[j].distance }
func (h nearestKept) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nearestKept) Push(x any)        { *h = append(*h, x.(candidate)) }
func (h *nearestKept) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// idsIn is a condition on records: the record is one of its ids.
type idsIn []uuid.UUID

// SQL implements [backends.Condition].
func (c idsIn) SQL(alias string, first int) (string, []any) {
	return fmt.Sprintf("%s.id = ANY($%d::uuid[])", alias, first), []any{[]uuid.UUID(c)}
}
