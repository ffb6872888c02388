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
	addTextHash             string // the text_hash column of a table made before it existed
	storedHashes            string // record_id and text_hash of $1's rows of model $2
	storedVectorsLive       string // of the live table: record_id, text_hash and embedding (as text) of $1's rows of model $2
	moveVersion             string // the unchanged rows to their new version; returns those it could not move
	delete                  string
	// search and searchFiltered return (record_id, version, score, metadata) of the nearest
	// live records to $1, at most $2, best first; searchFiltered keeps metadata @> $3.
	search         string
	searchFiltered string
	// searchWhere keeps the records meeting {where}, a condition on records r written in per
	// query (a filter expression, and the metadata filter when there is one).
	searchWhere string
}

// lockSQL serialises Ensure across processes, keyed on the table name.
const lockSQL = `SELECT pg_advisory_xact_lock(hashtextextended('osa.backend.' || $1, 0))`

// existsSQL reports whether the table exists (in the search path).
const existsSQL = `SELECT to_regclass($1) IS NOT NULL`

// columnTypeSQL returns the type of the table's embedding column ("vector(384)", "halfvec(384)").
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
    embedding  {type}({dims}) NOT NULL,
    text_hash  bytea,
    indexed_at timestamptz NOT NULL DEFAULT now()
)`

	addTextHashSQL = `ALTER TABLE {table} ADD COLUMN IF NOT EXISTS text_hash bytea`

	storedHashesSQL = `SELECT record_id, text_hash FROM {table}
WHERE record_id = ANY($1::uuid[]) AND model = $2 AND text_hash IS NOT NULL`

	storedVectorsSQL = `SELECT record_id, text_hash, embedding::text FROM {table}
WHERE record_id = ANY($1::uuid[]) AND model = $2 AND text_hash IS NOT NULL{sametype}`

	// moveVersionSQL moves rows built from the same text ($3) with the same model ($4) to
	// their new version, and returns the records it could not move although their row is older:
	// their text changed since Prepare looked, so they must be embedded again.
	moveVersionSQL = `
WITH u AS (
    SELECT * FROM unnest($1::uuid[], $2::int[], $3::bytea[]) AS u (record_id, version, text_hash)
), moved AS (
    UPDATE {table} t SET version = u.version, indexed_at = now()
    FROM u WHERE t.record_id = u.record_id AND t.text_hash = u.text_hash AND t.model = $4 AND t.version < u.version
    RETURNING t.record_id
)
SELECT u.record_id FROM u LEFT JOIN {table} t ON t.record_id = u.record_id
WHERE u.record_id NOT IN (SELECT record_id FROM moved) AND (t.record_id IS NULL OR t.version < u.version)`

	createIndexSQL = `
CREATE INDEX {concurrently}IF NOT EXISTS {index} ON {table}
USING hnsw (embedding {type}_cosine_ops) WITH (m = {m}, ef_construction = {ef})`

	// The models of a sample of rows: enough to detect a model change (a reindex rewrites every
	// row), without scanning a large table at start-up.
	sampleModelSQL = `SELECT DISTINCT model FROM (SELECT model FROM {table} LIMIT 100) s ORDER BY model`

	// upsertSQL writes a batch from arrays in one statement. The version guard keeps a newer
	// row; a row of the same version is rewritten only when its vector changed, so re-running a
	// batch does not pay for HNSW inserts again.
	upsertSQL = `
INSERT INTO {table} AS t (record_id, version, model, embedding, text_hash)
SELECT u.record_id, u.version, $3::text, {stored}, u.text_hash
FROM unnest($1::uuid[], $2::int[], {vectors}, $5::bytea[]) AS u (record_id, version, embedding, text_hash)
ON CONFLICT (record_id) DO UPDATE
SET version = EXCLUDED.version, model = EXCLUDED.model, embedding = EXCLUDED.embedding, text_hash = EXCLUDED.text_hash,
    indexed_at = now()
WHERE t.version < EXCLUDED.version
   OR (t.version = EXCLUDED.version AND (t.model <> EXCLUDED.model OR t.embedding <> EXCLUDED.embedding))`

	deleteSQL = `DELETE FROM {table} WHERE record_id = ANY($1::uuid[])`

	// searchSQL walks the HNSW index in distance order, joins each candidate to its record and
	// keeps live ones (and, filtered, the matching ones) until $2 are found. The candidates are
	// materialised and re-sorted, because an iterative scan in relaxed order may return them
	// slightly out of order.
	searchSQL = `
WITH c AS MATERIALIZED (
    SELECT v.record_id, v.embedding <=> {query} AS distance
    FROM {table} v JOIN records r ON r.id = v.record_id
    WHERE r.deleted_at IS NULL {filter}
    ORDER BY v.embedding <=> {query}
    LIMIT $2
)
SELECT c.record_id, r.version, 1 - c.distance, r.metadata, COALESCE(r.source, '')
FROM c JOIN records r ON r.id = c.record_id
ORDER BY c.distance, c.record_id`
)

// newStatements returns the statements on table, whose HNSW index is named index and whose
// embedding column is of type typ (vector or halfvec); live is the live table (table itself, or
// the live table of a shadow).
//
// Vectors always travel as vector (the query as $1, a batch as vector[] or text[]): on a halfvec
// table the statements cast them, the query explicitly so that the distance is halfvec's and the
// HNSW index serves it. A rebuild copies the live table's vectors only when no precision is lost:
// a vector table takes only a vector table's (halfvec values would stay rounded forever), a
// halfvec table either's.
func newStatements(table, index, live, typ string, dims, m, ef int) statements {
	query, stored, sameType := "$1", "u.embedding", " AND pg_typeof(embedding) = 'vector'::regtype"
	if typ == TypeHalfvec {
		query = fmt.Sprintf("$1::vector::halfvec(%d)", dims)
		stored = fmt.Sprintf("u.embedding::halfvec(%d)", dims)
		sameType = ""
	}
	r := strings.NewReplacer(
		"{table}", table,
		"{index}", index,
		"{type}", typ,
		"{dims}", fmt.Sprint(dims),
		"{m}", fmt.Sprint(m),
		"{ef}", fmt.Sprint(ef),
		"{query}", query,
		"{stored}", stored,
	)
	return statements{
		createTable:             r.Replace(createTableSQL),
		createIndex:             strings.Replace(r.Replace(createIndexSQL), "{concurrently}", "", 1),
		createIndexConcurrently: strings.Replace(r.Replace(createIndexSQL), "{concurrently}", "CONCURRENTLY ", 1),
		sampleModel:             r.Replace(sampleModelSQL),
		upsert:                  strings.Replace(r.Replace(upsertSQL), "{vectors}", "$4::vector[]", 1),
		upsertText:              strings.Replace(r.Replace(upsertSQL), "{vectors}", "$4::text[]::vector[]", 1),
		delete:                  r.Replace(deleteSQL),
		addTextHash:             r.Replace(addTextHashSQL),
		storedHashes:            r.Replace(storedHashesSQL),
		storedVectorsLive:       strings.NewReplacer("{table}", live, "{sametype}", sameType).Replace(storedVectorsSQL),
		moveVersion:             r.Replace(moveVersionSQL),
		search:                  strings.Replace(r.Replace(searchSQL), "{filter}", "", 1),
		searchFiltered:          strings.Replace(r.Replace(searchSQL), "{filter}", "AND r.metadata @> $3::jsonb", 1),
		searchWhere:             strings.Replace(r.Replace(searchSQL), "{filter}", "AND {where}", 1),
	}
}
