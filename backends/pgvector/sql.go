package pgvector

import (
	"fmt"
	"strings"
)

// statements are the backend's SQL, with its table name (validated by [New]) filled in.
type statements struct {
	createTable string
	createIndex string
	// createIndexConcurrently builds the index without blocking writes (outside a transaction).
	createIndexConcurrently string
	sampleModel             string
	upsert                  string // vectors as vector[] (pgvector types registered on the connection)
	upsertText              string // vectors as text[] of '[1,2,3]' literals (types not registered)
	delete                  string
	// search and searchFiltered return (record_id, version, score, metadata) of the nearest
	// live records to $1, at most $2, best first; searchFiltered keeps metadata @> $3.
	search         string
	searchFiltered string
}

// lockSQL serialises Ensure across processes, keyed on the table name.
const lockSQL = `SELECT pg_advisory_xact_lock(hashtextextended('osa.backend.' || $1, 0))`

// existsSQL reports whether the table exists (in the search path).
const existsSQL = `SELECT to_regclass($1) IS NOT NULL`

// columnTypeSQL returns the type of the table's embedding column ("vector(384)").
const columnTypeSQL = `
SELECT format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
WHERE a.attrelid = to_regclass($1) AND a.attname = 'embedding' AND NOT a.attisdropped`

const (
	createTableSQL = `
CREATE TABLE IF NOT EXISTS {table} (
    record_id  uuid        PRIMARY KEY,
    version    integer     NOT NULL,
    model      text        NOT NULL,
    embedding  vector({dims}) NOT NULL,
    indexed_at timestamptz NOT NULL DEFAULT now()
)`

	createIndexSQL = `
CREATE INDEX {concurrently}IF NOT EXISTS {index} ON {table}
USING hnsw (embedding vector_cosine_ops) WITH (m = {m}, ef_construction = {ef})`

	// The models of a sample of rows: enough to detect a model change (a reindex rewrites every
	// row), without scanning a large table at start-up.
	sampleModelSQL = `SELECT DISTINCT model FROM (SELECT model FROM {table} LIMIT 100) s ORDER BY model`

	// upsertSQL writes a batch from arrays in one statement. The version guard keeps a newer
	// row; a row of the same version is rewritten only when its vector changed, so re-running a
	// batch does not pay for HNSW inserts again.
	upsertSQL = `
INSERT INTO {table} AS t (record_id, version, model, embedding)
SELECT u.record_id, u.version, $3::text, u.embedding
FROM unnest($1::uuid[], $2::int[], {vectors}) AS u (record_id, version, embedding)
ON CONFLICT (record_id) DO UPDATE
SET version = EXCLUDED.version, model = EXCLUDED.model, embedding = EXCLUDED.embedding, indexed_at = now()
WHERE t.version < EXCLUDED.version
   OR (t.version = EXCLUDED.version AND (t.model <> EXCLUDED.model OR t.embedding <> EXCLUDED.embedding))`

	deleteSQL = `DELETE FROM {table} WHERE record_id = ANY($1::uuid[])`

	// searchSQL walks the HNSW index in distance order, joins each candidate to its record and
	// keeps live ones (and, filtered, the matching ones) until $2 are found. The candidates are
	// materialised and re-sorted, because an iterative scan in relaxed order may return them
	// slightly out of order.
	searchSQL = `
WITH c AS MATERIALIZED (
    SELECT v.record_id, v.embedding <=> $1 AS distance
    FROM {table} v JOIN records r ON r.id = v.record_id
    WHERE r.deleted_at IS NULL {filter}
    ORDER BY v.embedding <=> $1
    LIMIT $2
)
SELECT c.record_id, r.version, 1 - c.distance, r.metadata
FROM c JOIN records r ON r.id = c.record_id
ORDER BY c.distance, c.record_id`
)

// newStatements returns the statements on table, whose HNSW index is named index.
func newStatements(table, index string, dims, m, ef int) statements {
	r := strings.NewReplacer(
		"{table}", table,
		"{index}", index,
		"{dims}", fmt.Sprint(dims),
		"{m}", fmt.Sprint(m),
		"{ef}", fmt.Sprint(ef),
	)
	return statements{
		createTable:             r.Replace(createTableSQL),
		createIndex:             strings.Replace(r.Replace(createIndexSQL), "{concurrently}", "", 1),
		createIndexConcurrently: strings.Replace(r.Replace(createIndexSQL), "{concurrently}", "CONCURRENTLY ", 1),
		sampleModel:             r.Replace(sampleModelSQL),
		upsert:                  strings.Replace(r.Replace(upsertSQL), "{vectors}", "$4::vector[]", 1),
		upsertText:              strings.Replace(r.Replace(upsertSQL), "{vectors}", "$4::text[]::vector[]", 1),
		delete:                  r.Replace(deleteSQL),
		search:                  strings.Replace(r.Replace(searchSQL), "{filter}", "", 1),
		searchFiltered:          strings.Replace(r.Replace(searchSQL), "{filter}", "AND r.metadata @> $3::jsonb", 1),
	}
}
