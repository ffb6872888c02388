package pgvector

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	pgvec "github.com/pgvector/pgvector-go"

	"github.com/osa-archive/osa/backends"
)

// exactMarker starts the text of an exact search's statement (see Search).
const exactMarker = "/* exact: planned with enable_indexscan off */"

// EfSearchMax is pgvector's upper bound of hnsw.ef_search.
const EfSearchMax = 1000

// A backend with Config.SharesWord fetches lexicalFetchFactor × the limit nearest records, at
// least lexicalFetchMin and at most EfSearchMax, before it drops those that share no word with
// the query: one statement, so the latency stays that of one HNSW walk (fetching more only when
// short, in rounds, cost hybrid search 5× its p99 on the search benchmark).
const (
	lexicalFetchFactor = 4
	lexicalFetchMin    = 50
)

// Search embeds q.Text with the backend's embedder and returns the nearest live records by
// cosine distance. The HNSW scan's ef_search is at least 2 × the rows fetched (capped at
// EfSearchMax); with a filter, or a limit beyond the cap, the scan is iterative (relaxed order,
// re-sorted here), so a filtered query still fills q.Limit when that many records match. Hits
// below the relevance floor (Config.MinSimilarity) are dropped: a query close to nothing finds
// nothing. A backend with Config.SharesWord keeps, of the nearest records it fetches, the first
// q.Limit that share a word with the query.
func (b *Backend) Search(ctx context.Context, pool *pgxpool.Pool, q backends.Query) ([]backends.Hit, error) {
	vecs, errs := b.cfg.Embedder.Embed(ctx, []string{q.Text})
	if errs[0] != nil {
		return nil, fmt.Errorf("error embedding the query: %w", errs[0])
	}
	v := pgvec.NewVector(vecs[0])
	if b.cfg.SharesWord == nil {
		return b.nearest(ctx, pool, q, v, q.Limit)
	}
	n := max(q.Limit, min(max(lexicalFetchFactor*q.Limit, lexicalFetchMin), EfSearchMax))
	hits, err := b.nearest(ctx, pool, q, v, n)
	if err != nil {
		return nil, err
	}
	return b.matching(hits, b.cfg.SharesWord(q.Text), q.Limit), nil
}

// nearest returns the limit nearest live records to v that clear the relevance floor.
func (b *Backend) nearest(ctx context.Context, pool *pgxpool.Pool, q backends.Query, v pgvec.Vector, limit int) ([]backends.Hit, error) {
	ef := min(max(q.EfSearch, 2*limit), EfSearchMax)
	iterative := q.Filter != nil || q.Where != nil || 2*limit > EfSearchMax

	var hits []backends.Hit
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		settings := "SET LOCAL hnsw.ef_search = " + strconv.Itoa(ef)
		if iterative {
			settings += "; SET LOCAL hnsw.iterative_scan = relaxed_order"
		}
		if q.Exact {
			settings += "; SET LOCAL enable_indexscan = off"
		}
		if _, err := tx.Exec(ctx, settings); err != nil {
			return err
		}
		sql, args := b.sql.search, []any{v, limit}
		if q.Filter != nil {
			sql, args = b.sql.searchFiltered, append(args, []byte(q.Filter))
		}
		if q.Where != nil {
			cond, whereArgs := q.Where.SQL("r", len(args)+1)
			sql = strings.Replace(b.sql.searchWhere, "{where}", cond, 1)
			if q.Filter != nil {
				sql = strings.Replace(b.sql.searchWhere, "{where}", "r.metadata @> $3::jsonb AND "+cond, 1)
			}
			args = append(args, whereArgs...)
		}
		if q.Exact {
			// A statement of its own: pgx prepares statements by their text, and PostgreSQL
			// reuses a statement's cached plan whatever enable_indexscan says later, so an exact
			// and an approximate search must never share one.
			sql = exactMarker + sql
		}
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		hits, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (backends.Hit, error) {
			var h backends.Hit
			err := row.Scan(&h.RecordID, &h.Version, &h.Score, &h.Metadata, &h.Source)
			return h, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("error searching %s: %w", b.table, err)
	}
	// Best first: the hits below the floor are the tail.
	if i := slices.IndexFunc(hits, func(h backends.Hit) bool { return h.Score < b.cfg.MinSimilarity }); i >= 0 {
		hits = hits[:i]
	}
	return hits, nil
}

// matching returns the first limit of hits whose text passes shares (shares a word with the
// query); a hit whose metadata cannot be read is kept.
func (b *Backend) matching(hits []backends.Hit, shares func(text string) bool, limit int) []backends.Hit {
	kept := hits[:0]
	for _, h := range hits {
		if len(kept) == limit {
			break
		}
		var m map[string]any
		if err := json.Unmarshal(h.Metadata, &m); err != nil || shares(backends.Text(m, b.cfg.Text)) {
			kept = append(kept, h) // what cannot be checked is kept
		}
	}
	return kept
}

// SearchStatement returns the statement an unfiltered Search runs ($1 the query vector, $2 the
// limit; hnsw.ef_search set beforehand in the same transaction), so a benchmark can time the
// same query sent straight to PostgreSQL.
func (b *Backend) SearchStatement() string { return b.sql.search }
