// Package backends defines the index backends OSA keeps in sync with its records — an interface
// ([Backend]) with two kinds, backends/pgvector (semantic search) and backends/keyword (full-text
// search) — and the text both index, built from configurable metadata fields ([Text]).
//
// A backend has three roles, each an interface of its own: [Indexer], [Searcher] and [Rebuilder].
// The job layer drives an Indexer one batch at a time: [Indexer.Prepare] does the work that needs
// no database (embedding), then [Indexer.IngestBatch] and [Indexer.DeleteBatch] write inside the
// caller's transaction, so the index_state row of every document commits with its index row.
// Every write is an upsert guarded by record version: an older version never overwrites a newer
// one, and re-running a batch changes nothing.
//
// # Online rebuild
//
// A backend is rebuilt while searches keep being answered from its table (the live table) in
// five steps, each safe to repeat when a rebuild resumes:
//
//  1. [Rebuilder.CreateShadow] creates the shadow table, <table>_shadow, without its search index.
//  2. The rebuild writes every record to the shadow through [Rebuilder.Shadow] (bulk batches; a
//     table without an index takes them several times faster). Meanwhile the live indexer writes
//     every batch to both tables in one transaction, the live table first, so nothing published
//     during the rebuild is missed.
//  3. [Rebuilder.IndexShadow] builds the search index once, without blocking those writes.
//  4. [Rebuilder.SwapShadow] replaces the live table by the shadow in the caller's transaction;
//     searches wait for it only while it commits. The replaced table is dropped, or, when the
//     rebuild built a new generation of the backend, kept as the old generation's retired table
//     until the catalog drops it.
//  5. After the swap the indexer writes the live table alone; [Rebuilder.DropShadow] discards the
//     shadow of an abandoned or failed rebuild instead.
package backends

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Kinds of backend.
const (
	KindKeyword  = "keyword"
	KindPgvector = "pgvector"
)

// Document is one record version to index.
type Document struct {
	// RecordID is the record's UUIDv7.
	RecordID uuid.UUID
	// Version is the record version being indexed.
	Version int
	// Metadata is the record's metadata document (a JSON object).
	Metadata map[string]any
	// Embedding is filled by Prepare for backends that embed; nil otherwise. A document given to
	// Prepare with an Embedding, its Model and TextHash (one another table's Prepare made for this
	// version: the live generation's, in a rebuild's dual write) keeps it when Prepare would embed
	// the same text with the same model, instead of embedding it again.
	Embedding []float32
	// Model is the model that made Embedding, filled with it by Prepare.
	Model string
	// TextHash is the SHA-256 of the text the backend builds its row from, filled by Prepare for
	// backends that keep it.
	TextHash []byte
	// Unchanged is set by Prepare when the backend's stored row was built from the same text
	// with the same settings: IngestBatch then only moves the row's version, with no embedding.
	Unchanged bool
}

// Info names a backend and says what it is.
type Info interface {
	// Name is the configured name; the backend's queue is "index_" + Name.
	Name() string
	// Kind is KindPgvector or KindKeyword.
	Kind() string
	// Model is the embedding model ("" for backends that do not embed).
	Model() string
	// Dims is the vector length (0 for backends that do not embed).
	Dims() int
	// Language is the text search configuration documents and queries are parsed with (""
	// for backends that build no text search documents).
	Language() string
}

// Indexer writes documents: the role the index workers drive, one batch at a time.
type Indexer interface {
	// Name is the configured name.
	Name() string
	// Prepare does the batch's work outside the database (embedding) and returns one error per
	// document, classified with package indexerr; documents with an error are not written.
	Prepare(ctx context.Context, docs []Document) []error
	// IngestBatch upserts docs in tx, guarded by version, in one round trip, and returns one
	// error per document.
	IngestBatch(ctx context.Context, tx pgx.Tx, docs []Document) []error
	// DeleteBatch removes the rows of ids in tx.
	DeleteBatch(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) error
}

// Searcher answers queries: the role of the search service.
type Searcher interface {
	Info
	// Search returns the best q.Limit live records for q, best first; ties are broken by record
	// id. An error classified permanent by package indexerr means the query itself can never
	// be answered (a query with no words to embed).
	Search(ctx context.Context, pool *pgxpool.Pool, q Query) ([]Hit, error)
	// Health reports whether the backend can serve (its table exists, its provider answers).
	Health(ctx context.Context, pool *pgxpool.Pool) error
}

// Rebuilder rebuilds the backend's table online (see the package doc): the role of a rebuild.
type Rebuilder interface {
	// Name is the configured name.
	Name() string
	// Table is the live table, with columns record_id and version among others: after a swap,
	// the records it holds are what the backend has indexed.
	Table() string
	// Shadow returns the same backend bound to its shadow table: IngestBatch, DeleteBatch,
	// Prepare, Search, Health and Table use the shadow table, and Ensure creates it without its
	// search index (as CreateShadow does). Name, Kind, Model and Dims are the live backend's, and
	// the shadow methods below act on the same shadow table. The shadow of a shadow is itself.
	//
	// A transaction that writes both tables (a dual write) must write the live table first, the
	// order in which SwapShadow locks them; the other order can deadlock with a swap.
	Shadow() Backend
	// CreateShadow creates the shadow table in tx, with the live table's columns and primary key
	// but without its search index, unless it exists. It fails when an existing shadow table was
	// made for other settings (a vector length or model the configuration no longer has): drop it
	// and start the rebuild again.
	CreateShadow(ctx context.Context, tx pgx.Tx) error
	// IndexShadow builds the shadow table's search index, with the live index's settings, by
	// CREATE INDEX CONCURRENTLY, so writes to the shadow go on during the build, then updates the
	// shadow's planner statistics. An index left invalid by an interrupted build is dropped and
	// built again; a valid one is kept. Calls for one backend take turns.
	//
	// It runs outside any transaction, on a connection of its own. The build waits for the
	// transactions that were writing the shadow when it started and for every transaction of the
	// database holding an older snapshot (REPEATABLE READ): the caller must not hold such a
	// transaction open meanwhile, or the build waits forever.
	IndexShadow(ctx context.Context, pool *pgxpool.Pool) error
	// SwapShadow replaces the live table by the shadow table in tx: it locks the live table,
	// then the shadow (ACCESS EXCLUSIVE, which blocks searches and writes until tx ends), drops
	// the live table, or keeps it as generation retireAs's retired table when retireAs is not 0,
	// and renames the shadow, its search index and its primary key to the live names. It returns
	// the retired tables' names (none when the live table is dropped or missing). It fails, and
	// tx is then aborted, when the shadow table or its valid search index is missing, or when a
	// lock is not granted within 2 s (or the transaction's shorter lock_timeout): a long
	// transaction on either table is in the way, and the caller should roll back and try again.
	// Commit tx promptly.
	SwapShadow(ctx context.Context, tx pgx.Tx, retireAs int) ([]string, error)
	// Retire renames the live tables to generation's retired tables in tx (vec_x to
	// vec_x_retired_2), out of the way of writers, searches and a later backend of the same
	// name, and returns their names; none when there is no live table. The catalog drops them
	// after catalog.retire_after.
	Retire(ctx context.Context, tx pgx.Tx, generation int) ([]string, error)
	// DropShadow drops the shadow table in tx, if it exists.
	DropShadow(ctx context.Context, tx pgx.Tx) error
	// ShadowExists reports whether the shadow table exists.
	ShadowExists(ctx context.Context, q Querier) (bool, error)
}

// Backend is one index backend in every role. Implementations are safe for concurrent use.
// Each consumer takes the role it drives: the index workers an [Indexer], the search service a
// [Searcher], a rebuild a [Rebuilder].
type Backend interface {
	Info
	Indexer
	Searcher
	Rebuilder
	// Ensure creates the backend's table and indexes when missing, and fails with an error that
	// names the fix when the existing table does not match the configuration (dims, model).
	Ensure(ctx context.Context, pool *pgxpool.Pool) error
}

// Querier runs a query that returns one row: a *pgxpool.Pool, a *pgx.Conn or a pgx.Tx.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Queue returns the River queue of the backend named name.
func Queue(name string) string { return "index_" + name }
