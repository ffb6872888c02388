package pgvector

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	pgvec "github.com/pgvector/pgvector-go"

	"github.com/osa-archive/osa/backends"
)

// Similar returns the best q.Limit live records nearest to the vector stored for record id,
// never id itself, as [Backend.Search] would for a query with that vector (the relevance floor
// and q's filters apply, the shared-word rule does not: there are no query words). No embedding
// call is made. A record without a row here is an error wrapping [backends.ErrNoRow].
func (b *Backend) Similar(ctx context.Context, pool *pgxpool.Pool, id uuid.UUID, q backends.Query) ([]backends.Hit, error) {
	var text string
	err := pool.QueryRow(ctx, "SELECT embedding::text FROM "+pgx.Identifier{b.table}.Sanitize()+" WHERE record_id = $1", id).Scan(&text)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("backend %q: record %s: %w", b.cfg.Name, id, backends.ErrNoRow)
	}
	if err != nil {
		return nil, fmt.Errorf("error reading the vector of record %s from %s: %w", id, b.table, err)
	}
	var v pgvec.Vector
	if err := v.Parse(text); err != nil {
		return nil, fmt.Errorf("record %s: stored vector: %w", id, err)
	}
	hits, err := b.nearest(ctx, pool, q, v, q.Limit+1)
	if err != nil {
		return nil, err
	}
	out := hits[:0]
	for _, h := range hits {
		if h.RecordID != id && len(out) < q.Limit {
			out = append(out, h)
		}
	}
	return out, nil
}
