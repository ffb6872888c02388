// Package backends defines the index backends OSA keeps in sync with its records — an interface
// ([Backend]) with two kinds, backends/pgvector (semantic search) and backends/keyword (full-text
// search) — and the text both index, built from configurable metadata fields ([Text]).
//
// The job layer drives a backend one batch at a time: [Backend.Prepare] does the work that needs
// no database (embedding), then [Backend.IngestBatch] and [Backend.DeleteBatch] write inside the
// caller's transaction, so the index_state row of every document commits with its index row.
// Every write is an upsert guarded by record version: an older version never overwrites a newer
// one, and re-running a batch changes nothing.
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
	// Embedding is filled by Prepare for backends that embed; nil otherwise.
	Embedding []float32
}

// Backend is one index backend. Implementations are safe for concurrent use.
type Backend interface {
	// Name is the configured name; the backend's queue is "index_" + Name.
	Name() string
	// Kind is KindPgvector or KindKeyword.
	Kind() string
	// Model is the embedding model ("" for backends that do not embed).
	Model() string
	// Dims is the vector length (0 for backends that do not embed).
	Dims() int
	// Ensure creates the backend's table and indexes when missing, and fails with an error that
	// names the fix when the existing table does not match the configuration (dims, model).
	Ensure(ctx context.Context, pool *pgxpool.Pool) error
	// Prepare does the batch's work outside the database (embedding) and returns one error per
	// document, classified with package indexerr; documents with an error are not written.
	Prepare(ctx context.Context, docs []Document) []error
	// IngestBatch upserts docs in tx, guarded by version, in one round trip, and returns one
	// error per document.
	IngestBatch(ctx context.Context, tx pgx.Tx, docs []Document) []error
	// DeleteBatch removes the rows of ids in tx.
	DeleteBatch(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) error
	// Search returns the best q.Limit live records for q, best first; ties are broken by record
	// id. An error classified permanent by package indexerr means the query itself can never
	// be answered (a query with no words to embed).
	Search(ctx context.Context, pool *pgxpool.Pool, q Query) ([]Hit, error)
	// Health reports whether the backend can serve (its table exists, its provider answers).
	Health(ctx context.Context, pool *pgxpool.Pool) error
}

// Queue returns the River queue of the backend named name.
func Queue(name string) string { return "index_" + name }
