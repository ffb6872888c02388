package backends

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Query is one search against one backend.
type Query struct {
	// Text is the user's query.
	Text string
	// Limit is how many hits to return: the best Limit matches, best first.
	Limit int
	// Filter, when not nil, is a JSON object every hit's metadata must contain (jsonb @>).
	Filter json.RawMessage
	// Where, when not nil, is a condition every hit's record must meet, besides Filter.
	Where Condition
	// EfSearch is the least hnsw.ef_search of a vector search; it is raised to 2 × Limit.
	EfSearch int
	// Exact makes a vector search scan the whole table instead of the HNSW index (for
	// measuring recall).
	Exact bool
	// IDsOnly says the caller needs only the hits' ids, versions and scores (a search's facets
	// over its best 1,000 hits, whose page's metadata it reads itself): a backend may then leave
	// Metadata nil, and skip reading it.
	IDsOnly bool
}

// Hit is one record a backend found. Only live (not deleted) records are hits.
type Hit struct {
	RecordID uuid.UUID
	// Version is the record's current version.
	Version int
	// Score is the backend's relevance: cosine similarity for vector, BM25 for keyword.
	Score    float64
	Metadata json.RawMessage
	// Source is the record's source, "" for a record published without one.
	Source string
}

// Condition is a compiled filter on a record (a parsed where expression, see package
// search/where), written into a backend's statement.
type Condition interface {
	// SQL returns the condition on the records row aliased alias, its parameters numbered from
	// $first on, and their values.
	SQL(alias string, first int) (string, []any)
}

// Neighbours finds the records nearest to one record by the vector a backend stores for it: the
// role of a vector backend in "similar records", with no embedding call.
type Neighbours interface {
	Searcher
	// Similar returns the best q.Limit live records nearest to the stored vector of record id,
	// never id itself, meeting q.Filter and q.Where (q.Text is not used). A record the backend
	// holds no row for is an error wrapping [ErrNoRow].
	Similar(ctx context.Context, pool *pgxpool.Pool, id uuid.UUID, q Query) ([]Hit, error)
}

// ErrNoRow is wrapped by [Neighbours.Similar] for a record the backend holds no row for.
var ErrNoRow = errors.New("the backend holds no row for the record")
