package keyword

import "strings"

// statements are the backend's SQL, with its table name (validated by [New]) filled in.
type statements struct {
	createTable string
	createIndex string
	// createIndexConcurrently builds the index without blocking writes (outside a transaction).
	createIndexConcurrently string
	upsert                  string
	delete                  string
	// search and searchFiltered return (record_id, version, score, metadata) of the live records
	// matching websearch_to_tsquery($1::regconfig, $2), at most $3, best first; searchFiltered
	// keeps metadata @> $4.
	search         string
	searchFiltered string
}

// lockSQL serialises Ensure across processes, keyed on the table name.
const lockSQL = `SELECT pg_advisory_xact_lock(hashtextextended('osa.backend.' || $1, 0))`

// existsSQL reports whether the table exists (in the search path).
const existsSQL = `SELECT to_regclass($1) IS NOT NULL`

// columnTypeSQL returns the type of the table's document column ("tsvector").
const columnTypeSQL = `
SELECT format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
WHERE a.attrelid = to_regclass($1) AND a.attname = 'document' AND NOT a.attisdropped`

// languagesSQL lists the text search configurations a query can name unqualified.
const languagesSQL = `SELECT cfgname::text FROM pg_ts_config WHERE pg_ts_config_is_visible(oid) ORDER BY cfgname`

const (
	createTableSQL = `
CREATE TABLE IF NOT EXISTS {table} (
    record_id  uuid        PRIMARY KEY,
    version    integer     NOT NULL,
    document   tsvector    NOT NULL,
    indexed_at timestamptz NOT NULL DEFAULT now()
)`

	createIndexSQL = `CREATE INDEX {concurrently}IF NOT EXISTS {index} ON {table} USING gin (document)`

	// upsertSQL builds the tsvectors of a batch from arrays and writes them in one statement.
	// The language is a parameter cast to regconfig, never part of the SQL text. The version
	// guard keeps a newer row; a row of the same version is rewritten only when its document
	// changed.
	upsertSQL = `
INSERT INTO {table} AS t (record_id, version, document)
SELECT u.record_id, u.version,
       setweight(to_tsvector($3::text::regconfig, u.title), 'A') ||
       setweight(to_tsvector($3::text::regconfig, u.body), 'B')
FROM unnest($1::uuid[], $2::int[], $4::text[], $5::text[]) AS u (record_id, version, title, body)
ON CONFLICT (record_id) DO UPDATE
SET version = EXCLUDED.version, document = EXCLUDED.document, indexed_at = now()
WHERE t.version < EXCLUDED.version
   OR (t.version = EXCLUDED.version AND t.document <> EXCLUDED.document)`

	deleteSQL = `DELETE FROM {table} WHERE record_id = ANY($1::uuid[])`
)

// newStatements returns the statements on table, whose GIN index is named index.
func newStatements(table, index string) statements {
	r := strings.NewReplacer("{table}", table, "{index}", index)
	return statements{
		createTable:             r.Replace(createTableSQL),
		createIndex:             strings.Replace(r.Replace(createIndexSQL), "{concurrently}", "", 1),
		createIndexConcurrently: strings.Replace(r.Replace(createIndexSQL), "{concurrently}", "CONCURRENTLY ", 1),
		upsert:                  r.Replace(upsertSQL),
		delete:                  r.Replace(deleteSQL),
		search:                  r.Replace(searchSQL),
		searchFiltered:          r.Replace(searchFilteredSQL),
	}
}

// searchSQL ranks the GIN index's matches in the keyword table alone, then walks them best
// first, joining each to its record until $3 live ones are found: the records table is touched
// for about $3 rows rather than for every match, which is most of the cost of a common word.
// The OFFSET 0 keeps the planner from merging the ranking back into the join. Ties go to the
// lower record id, so pages are stable.
const searchSQL = `
SELECT m.record_id, r.version, m.score, r.metadata
FROM (
    SELECT k.record_id, ts_rank_cd(k.document, q)::float8 AS score
    FROM {table} k, websearch_to_tsquery($1::text::regconfig, $2) AS q
    WHERE k.document @@ q
    ORDER BY score DESC, k.record_id
    OFFSET 0
) m
JOIN records r ON r.id = m.record_id
WHERE r.deleted_at IS NULL
ORDER BY m.score DESC, m.record_id
LIMIT $3`

// searchFilteredSQL is searchSQL with a metadata filter ($4), which the planner may apply before
// ranking when it is selective.
const searchFilteredSQL = `
SELECT k.record_id, r.version, ts_rank_cd(k.document, q)::float8 AS score, r.metadata
FROM {table} k
CROSS JOIN websearch_to_tsquery($1::text::regconfig, $2) AS q
JOIN records r ON r.id = k.record_id
WHERE k.document @@ q AND r.deleted_at IS NULL AND r.metadata @> $4::jsonb
ORDER BY score DESC, k.record_id
LIMIT $3`
