package keyword

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/backends"
)

// Search matches q.Text with websearch_to_tsquery in the backend's language — quoted phrases,
// OR and -word work, and no input is a syntax error — and ranks live matches by ts_rank_cd,
// title matches (weight A) above the rest (weight B).
func (b *Backend) Search(ctx context.Context, pool *pgxpool.Pool, q backends.Query) ([]backends.Hit, error) {
	sql, args := b.sql.search, []any{b.cfg.Language, q.Text, q.Limit}
	if q.Filter != nil {
		sql, args = b.sql.searchFiltered, append(args, []byte(q.Filter))
	}
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("error searching %s: %w", b.table, err)
	}
	hits, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (backends.Hit, error) {
		var h backends.Hit
		err := row.Scan(&h.RecordID, &h.Version, &h.Score, &h.Metadata)
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("error searching %s: %w", b.table, err)
	}
	return hits, nil
}
