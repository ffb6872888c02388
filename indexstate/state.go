// Package indexstate is the store of the index_state table: where each record stands in each
// backend. It is the one place that writes or reads the table, through named operations — mark
// pending ([MarkPending]), lock ([Lock]), mark done ([MarkDone]), record failures
// ([RecordFailures]), reset failed ([ResetFailed]), sync from a rebuilt table ([SyncFromTable]),
// and the reads ([Counts], [OfRecord], [OfRecords]; [Status.Settled] says whether a row is done
// with a version).
//
// Every write is guarded by version: a row never moves back to an older version than it has.
// Writers that touch rows another writer may hold lock them in record id order ([Lock],
// [ResetFailed], [SyncFromTable]); the fan-out marks its records pending in that order too, so
// concurrent batches take turns instead of deadlocking, and leaves a row a backend is writing to
// [MarkBusyPending] rather than wait for it.
package indexstate

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// States of a record in one backend (index_state.state).
const (
	// Pending: the backend has been asked to index a version it does not hold yet.
	Pending = "pending"
	// Indexed: the backend holds the version.
	Indexed = "indexed"
	// Failed: the version's index job has failed for good (cancelled or out of attempts).
	Failed = "failed"
	// Deleted: the backend has removed the deleted record.
	Deleted = "deleted"
	// Empty: the record has no text the backend can index (Status.LastError says which fields
	// it looked in); a terminal state, not a failure. Filters still find the record.
	Empty = "empty"
)

// DB runs statements: a *pgxpool.Pool, a *pgx.Conn or a pgx.Tx.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Status is where one record stands in one backend.
type Status struct {
	Backend string
	// State is one of Pending, Indexed, Failed, Deleted, Empty.
	State string
	// Version is the version the backend is asked to reach.
	Version int
	// IndexedVersion is the version the backend holds; 0 when none.
	IndexedVersion int
	// Attempts counts the tries of the latest index job.
	Attempts int
	// LastError is the latest failure, "" after a success; for Empty, why the record has no text.
	LastError string
	// IndexedAt is when the backend last wrote the record; nil before the first write.
	IndexedAt *time.Time
	UpdatedAt time.Time
}

// Settled reports whether the backend is done with version of its record, for good or ill: it
// holds that version or a later one (Indexed), or ended there in a terminal state (Empty,
// Failed, Deleted). A row that still asks for an older version is not settled: the fan-out of
// version has not reached it. Nothing moves a settled row back, except a newer version's
// fan-out and [ResetFailed].
func (st Status) Settled(version int) bool {
	switch st.State {
	case Indexed, Empty:
		return st.IndexedVersion >= version
	case Failed, Deleted:
		return st.Version >= version
	}
	return false
}
