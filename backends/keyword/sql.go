package keyword

import (
	"strconv"
	"strings"
)

// statements are the backend's SQL, with its table name (validated by [New]) filled in.
type statements struct {
	createTable string
	createIndex string
	// createIndexConcurrently builds the index without blocking writes (outside a transaction).
	createIndexConcurrently string
	createStats             string
	backfillStats           string
	upsert                  string
	delete                  string
	compact                 string
	terms                   string
	// candidates and candidatesFiltered select the records a search ranks ([rankSQL] writes the
	// search statement around them); candidatesFiltered keeps metadata @> $13.
	candidates         string
	candidatesFiltered string
	// candidatesWhere keeps the records meeting the condition {where}, on records r0.
	candidatesWhere string
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

	// createStatsSQL creates the statistics BM25 needs, as rows that add up: per lexeme, the
	// number of documents that contain it (docs); for lexeme '', the number of documents (docs)
	// and the sum of their lengths in distinct lexemes (size). Writers only insert rows of
	// changes (base false), so they never wait for each other; compactSQL sums them up.
	createStatsSQL = `
CREATE TABLE IF NOT EXISTS {stats} (
    lexeme text    NOT NULL,
    docs   bigint  NOT NULL,
    size   bigint  NOT NULL DEFAULT 0,
    base   boolean NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS {stats}_idx ON {stats} (lexeme)`

	// backfillStatsSQL computes the statistics of the documents already in the table: once, when
	// the statistics table is new beside an older table.
	backfillStatsSQL = `
INSERT INTO {stats} (lexeme, docs, size, base)
SELECT l, count(*), 0, true FROM {table}, unnest(tsvector_to_array(document)) AS l GROUP BY l
UNION ALL
SELECT '', count(*), coalesce(sum(length(document)), 0), true FROM {table}`

	// applyDeltaSQL ends the statements that write documents: it inserts the changes of the
	// statistics (the CTE delta: lexeme, docs, size), one row per lexeme.
	applyDeltaSQL = `
INSERT INTO {stats} (lexeme, docs, size)
SELECT lexeme, sum(docs), sum(size) FROM delta GROUP BY lexeme
HAVING sum(docs) <> 0 OR sum(size) <> 0`

	// compactSQL sums the rows of every lexeme that has changes into one base row, unless
	// another transaction is compacting (try-lock, keyed on the table). It scans the table for
	// the changes: an index of them cost the pipeline more (8 % of keyword records/s) than the
	// scan every compactEvery batches. It is safe beside
	// writers, which only insert, and beside another compaction: each sums only the rows it
	// deleted, and rows committed after its snapshot are neither deleted nor counted.
	compactSQL = `
WITH lock AS (
    SELECT pg_try_advisory_xact_lock(hashtextextended('osa.backend.stats.' || '{stats}', 0)) AS got
), changed AS (
    SELECT DISTINCT s.lexeme FROM {stats} s, lock WHERE lock.got AND NOT s.base
), gone AS (
    DELETE FROM {stats} s USING changed c WHERE s.lexeme = c.lexeme RETURNING s.lexeme, s.docs, s.size
)
INSERT INTO {stats} (lexeme, docs, size, base)
SELECT lexeme, sum(docs), sum(size), true FROM gone GROUP BY lexeme
HAVING sum(docs) <> 0 OR sum(size) <> 0 OR lexeme = ''`

	// upsertSQL builds the tsvectors of a batch from arrays and writes them, and the change they
	// make to the statistics, in one statement. The language is a parameter cast to regconfig,
	// never part of the SQL text. The version guard keeps a newer row; a row of the same version
	// is rewritten only when its document changed. old reads the rows as they were before the
	// statement (every part of a statement shares one snapshot), so a replaced document's
	// lexemes are subtracted exactly.
	upsertSQL = `
WITH input AS (
    SELECT u.record_id, u.version,
           setweight(to_tsvector($3::text::regconfig, u.title), 'A') ||
           setweight(to_tsvector($3::text::regconfig, u.body), 'B') AS document
    FROM unnest($1::uuid[], $2::int[], $4::text[], $5::text[]) AS u (record_id, version, title, body)
), old AS (
    SELECT t.record_id, t.document FROM {table} t JOIN input USING (record_id)
), written AS (
    INSERT INTO {table} AS t (record_id, version, document)
    SELECT record_id, version, document FROM input
    ON CONFLICT (record_id) DO UPDATE
    SET version = EXCLUDED.version, document = EXCLUDED.document, indexed_at = now()
    WHERE t.version < EXCLUDED.version
       OR (t.version = EXCLUDED.version AND t.document <> EXCLUDED.document)
    RETURNING t.record_id, t.document
), replaced AS (
    SELECT old.document FROM old JOIN written USING (record_id)
), delta (lexeme, docs, size) AS (
    SELECT l, 1, 0 FROM written, unnest(tsvector_to_array(written.document)) AS l
    UNION ALL SELECT l, -1, 0 FROM replaced, unnest(tsvector_to_array(replaced.document)) AS l
    UNION ALL SELECT '', 1, length(document) FROM written
    UNION ALL SELECT '', -1, -length(document) FROM replaced
)` + applyDeltaSQL

	deleteSQL = `
WITH gone AS (
    DELETE FROM {table} WHERE record_id = ANY($1::uuid[]) RETURNING document
), delta (lexeme, docs, size) AS (
    SELECT l, -1, 0 FROM gone, unnest(tsvector_to_array(gone.document)) AS l
    UNION ALL SELECT '', -1, -length(document) FROM gone
)` + applyDeltaSQL

	// termsSQL returns the distinct lexemes of the query text $2 in language $1 with the number
	// of documents containing each, then the row of lexeme '': the number of documents and the
	// sum of their lengths.
	termsSQL = `
SELECT q.lexeme, coalesce(s.docs, 0)::bigint, coalesce(s.size, 0)::bigint
FROM (SELECT '' UNION ALL SELECT unnest(tsvector_to_array(to_tsvector($1::text::regconfig, $2)))) AS q (lexeme)
CROSS JOIN LATERAL (SELECT sum(docs) AS docs, sum(size) AS size FROM {stats} WHERE lexeme = q.lexeme) AS s`
)

// newStatements returns the statements on table, whose GIN index is named index and whose
// statistics are in the table stats.
func newStatements(table, index, stats string) statements {
	r := strings.NewReplacer("{table}", table, "{index}", index, "{stats}", stats)
	return statements{
		createTable:             r.Replace(createTableSQL),
		createIndex:             strings.Replace(r.Replace(createIndexSQL), "{concurrently}", "", 1),
		createIndexConcurrently: strings.Replace(r.Replace(createIndexSQL), "{concurrently}", "CONCURRENTLY ", 1),
		createStats:             r.Replace(createStatsSQL),
		backfillStats:           r.Replace(backfillStatsSQL),
		upsert:                  r.Replace(upsertSQL),
		delete:                  r.Replace(deleteSQL),
		compact:                 r.Replace(compactSQL),
		terms:                   r.Replace(termsSQL),
		candidates:              r.Replace(candidatesSQL),
		candidatesFiltered:      r.Replace(candidatesFilteredSQL),
		candidatesWhere:         r.Replace(candidatesWhereSQL),
	}
}

// tfSQL is the frequency of the query's term number {i} ($4[{i}], a tsquery of one lexeme) in
// the document c.document, read from ts_rank in O(log n) instead of unnesting the whole
// tsvector. For a query of one lexeme whose positions all have weight 1, PostgreSQL's ts_rank
// is H(tf) / 1.64493406685, where H(n) = Σ 1/j² for j ≤ n (calc_rank_or in tsrank.c); since
// π²/6 − H(n) ≈ 1/n − 1/2n², tf is the nearest whole number to 1/(π²/6 − H) − 1/2. The
// weights {D,C,B,A} = {0,0,0,1} count only the title's positions (weight A, which come first in
// the document). TestTermFrequency checks the decoding against unnest for every lexeme of a
// corpus, so that a PostgreSQL that ranks otherwise fails loudly.
const tfSQL = `round(1 / greatest(1.6449340668482264 - ts_rank('{W}', c.document, ($4::tsquery[])[{i}])::float8 * 1.64493406685, 1e-9) - 0.5)`

// termTFSQL is the frequency of term {i} with the title's occurrences counted $9 times.
const termTFSQL = `{tfAll} + CASE WHEN $9::float8 = 1 THEN 0 ELSE ($9::float8 - 1) * {tfTitle} END AS tf{i}`

// termScoreSQL is what term {i} adds to a document's BM25 score.
const termScoreSQL = `($5::float8[])[{i}] * f.tf{i} * ($6::float8 + 1) / (f.tf{i} + n.norm)`

// searchSQL ranks the candidates by BM25: each term i of the query ($4, tsqueries of one
// lexeme; $5 their inverse document frequencies) adds idf · tf·(k1+1) / (tf + k1·(1 − b +
// b·dl/avgdl)), with k1 $6, b $7, avgdl $8, dl the document's number of distinct lexemes, and
// tf the term's frequency in the document, its title's occurrences counted $9 times. The
// candidates are the records matching the tsquery $2 that contain every phrase of $10 and none
// of $11 (phrases in language $1), at most $3 of them. Then, as the former statement did, it
// walks them best first and joins each to its record until $12 live ones are found. Ties go
// to the lower record id.
//
// The statement is written out for the query's number of terms ({tfs} and {score}, see
// rankSQL): a sum of one expression per term costs half of a subquery over the arrays, for
// every candidate. The OFFSET 0 keeps each tf from being computed twice.
const searchSQL = `
SELECT m.record_id, r.version, m.score, {metadata}, COALESCE(r.source, '')
FROM (
    SELECT c.record_id, ({score})::float8 AS score
    FROM ({candidates}) c
    CROSS JOIN LATERAL (SELECT $6::float8 * (1 - $7::float8 + $7::float8 * length(c.document) / $8::float8) AS norm) AS n
    CROSS JOIN LATERAL (SELECT {tfs} OFFSET 0) AS f
    ORDER BY score DESC, c.record_id
    OFFSET 0
) m
JOIN records r ON r.id = m.record_id
WHERE r.deleted_at IS NULL
ORDER BY m.score DESC, m.record_id
LIMIT $12`

// phraseFiltersSQL keeps the documents k that contain every phrase of $10 and none of $11. A
// phrase without a lexeme (stop words only) requires nothing.
const phraseFiltersSQL = `
      AND NOT EXISTS (SELECT FROM unnest($10::text[]) AS p (phrase)
                      WHERE numnode(phraseto_tsquery($1::text::regconfig, p.phrase)) > 0
                        AND NOT k.document @@ phraseto_tsquery($1::text::regconfig, p.phrase))
      AND NOT EXISTS (SELECT FROM unnest($11::text[]) AS p (phrase)
                      WHERE k.document @@ phraseto_tsquery($1::text::regconfig, p.phrase))`

const candidatesSQL = `
    SELECT k.record_id, k.document FROM {table} k
    WHERE k.document @@ $2::tsquery` + phraseFiltersSQL + `
    LIMIT $3`

// candidatesFilteredSQL also keeps metadata @> $13, before the cap.
const candidatesFilteredSQL = `
    SELECT k.record_id, k.document FROM {table} k JOIN records r0 ON r0.id = k.record_id
    WHERE k.document @@ $2::tsquery AND r0.deleted_at IS NULL AND r0.metadata @> $13::jsonb` + phraseFiltersSQL + `
    LIMIT $3`

// candidatesWhereSQL keeps the records meeting {where} (a filter expression on r0, and
// the metadata filter when there is one), before the cap.
const candidatesWhereSQL = `
    SELECT k.record_id, k.document FROM {table} k JOIN records r0 ON r0.id = k.record_id
    WHERE k.document @@ $2::tsquery AND r0.deleted_at IS NULL AND {where}` + phraseFiltersSQL + `
    LIMIT $3`

// rankSQL returns searchSQL over the candidates statement candidates (with its table name
// filled in), written out for n terms; without metadata (NULL instead) when idsOnly.
func rankSQL(candidates string, n int, idsOnly bool) string {
	metadata := "r.metadata"
	if idsOnly {
		metadata = "NULL::jsonb"
	}
	tf := strings.NewReplacer(
		"{tfAll}", strings.Replace(tfSQL, "{W}", "{1,1,1,1}", 1),
		"{tfTitle}", strings.Replace(tfSQL, "{W}", "{0,0,0,1}", 1),
	).Replace(termTFSQL)
	tfs, score := make([]string, n), make([]string, n)
	for i := range n {
		tfs[i] = strings.ReplaceAll(tf, "{i}", strconv.Itoa(i+1))
		score[i] = strings.ReplaceAll(termScoreSQL, "{i}", strconv.Itoa(i+1))
	}
	return strings.NewReplacer(
		"{candidates}", candidates,
		"{tfs}", strings.Join(tfs, ",\n           "),
		"{score}", strings.Join(score, "\n         + "),
		"{metadata}", metadata,
	).Replace(searchSQL)
}
