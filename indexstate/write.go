package indexstate

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// busySQL returns the rows of ids × backends that exist and that an index write holds locked
// (a backend writing the record right now): those [MarkPending] does not wait for. It locks
// none: the lockable ones are locked by freeSQL.
const busySQL = `
SELECT s.record_id, s.backend FROM index_state s
WHERE s.record_id = ANY($1) AND s.backend = ANY($2)
EXCEPT
SELECT s.record_id, s.backend FROM (
    SELECT record_id, backend FROM index_state
    WHERE record_id = ANY($1) AND backend = ANY($2)
    ORDER BY record_id, backend
    FOR NO KEY UPDATE SKIP LOCKED
) s`

// markPendingSQL marks records pending in each backend, unless a newer version got there first;
// the rows of $4/$5 (record, backend) are left out.
const markPendingSQL = `
INSERT INTO index_state AS s (record_id, backend, version, state)
SELECT u.id, b, u.version, 'pending' FROM unnest($1::uuid[], $2::int[]) AS u (id, version) CROSS JOIN unnest($3::text[]) AS b
WHERE (u.id, b) NOT IN (SELECT * FROM unnest($4::uuid[], $5::text[]))
ORDER BY u.id, b
ON CONFLICT (record_id, backend) DO UPDATE
    SET version = EXCLUDED.version, state = 'pending', attempts = 0, last_error = NULL, updated_at = now()
    WHERE s.version <= EXCLUDED.version`

// Busy is a record's row in one backend that [MarkPending] left to [MarkBusyPending]: the
// backend was writing the record (an older version, or this one) when it was marked.
type Busy struct {
	RecordID uuid.UUID
	Backend  string
	Version  int32
}

// MarkPending marks every record of ids, at the version of the same index in versions, pending
// in each of backends, in db (the fan-out's transaction): its fan-out has asked them to index
// it. A row already at a newer version is left alone. The ids must be distinct (one statement
// cannot update a row twice); rows are written in id order, the order [Lock] takes them in.
//
// A row that a backend's index write holds locked is not waited for, and is returned instead,
// to be marked after db commits ([MarkBusyPending]): a slow write in one backend must not hold
// the fan-out, and with it every other backend, until it commits. Until then the row shows an
// older version than the record's, which the readers ([OfRecord] callers) already count as
// pending.
func MarkPending(ctx context.Context, db DB, ids []uuid.UUID, versions []int32, backends []string) ([]Busy, error) {
	rows, err := db.Query(ctx, busySQL, ids, backends)
	if err != nil {
		return nil, fmt.Errorf("error marking index state pending: %w", err)
	}
	version := make(map[uuid.UUID]int32, len(ids))
	for i, id := range ids {
		version[id] = versions[i]
	}
	var (
		busy     []Busy
		b        Busy
		busyIDs  []uuid.UUID
		busyName []string
	)
	if _, err := pgx.ForEachRow(rows, []any{&b.RecordID, &b.Backend}, func() error {
		b.Version = version[b.RecordID]
		busy = append(busy, b)
		busyIDs, busyName = append(busyIDs, b.RecordID), append(busyName, b.Backend)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("error marking index state pending: %w", err)
	}
	if _, err := db.Exec(ctx, markPendingSQL, ids, versions, backends, busyIDs, busyName); err != nil {
		return nil, fmt.Errorf("error marking index state pending: %w", err)
	}
	return busy, nil
}

// markBusySQL marks rows pending at a newer version than they hold, locking them in record id
// order as [Lock] does. A row the backend has meanwhile brought to the version (its write read
// the record after the change) is left alone.
const markBusySQL = `
UPDATE index_state s SET version = u.version, state = 'pending', attempts = 0, last_error = NULL, updated_at = now()
FROM (
    SELECT x.record_id, x.backend, u.version FROM index_state x
    JOIN unnest($1::uuid[], $2::text[], $3::int[]) AS u (id, backend, version) ON x.record_id = u.id AND x.backend = u.backend
    ORDER BY x.record_id, x.backend
    FOR NO KEY UPDATE OF x
) u
WHERE s.record_id = u.record_id AND s.backend = u.backend AND s.version < u.version`

// MarkBusyPending marks the rows [MarkPending] returned pending, after the fan-out committed:
// it waits for the backends' writes that held them.
func MarkBusyPending(ctx context.Context, db DB, busy []Busy) error {
	if len(busy) == 0 {
		return nil
	}
	var (
		ids      = make([]uuid.UUID, len(busy))
		names    = make([]string, len(busy))
		versions = make([]int32, len(busy))
	)
	for i, b := range busy {
		ids[i], names[i], versions[i] = b.RecordID, b.Backend, b.Version
	}
	if _, err := db.Exec(ctx, markBusySQL, ids, names, versions); err != nil {
		return fmt.Errorf("error marking index state pending: %w", err)
	}
	return nil
}

// lockSQL locks rows in id order so concurrent batches cannot deadlock. It is a statement of its
// own: PostgreSQL never runs a SELECT in WITH that the main query does not reference, FOR UPDATE
// or not.
const lockSQL = `SELECT record_id FROM index_state WHERE backend = $1 AND record_id = ANY($2) ORDER BY record_id FOR UPDATE`

// Lock locks the rows of ids in backend until tx ends, in record id order. Every writer of a
// backend's documents holds these locks while it writes: the index workers and a rebuild's
// chunks, so what one reads of a record stays true until it commits.
func Lock(ctx context.Context, tx pgx.Tx, backend string, ids []uuid.UUID) error {
	if _, err := tx.Exec(ctx, lockSQL, backend, ids); err != nil {
		return fmt.Errorf("error locking index state: %w", err)
	}
	return nil
}

// Done is a record a backend has written (or removed, when Deleted or Empty).
type Done struct {
	RecordID uuid.UUID
	Version  int
	// Attempt is the attempt of the job that wrote it.
	Attempt int
	// Deleted says the backend removed the deleted record.
	Deleted bool
	// Empty, when not "", says the version has no text the backend can index, and why: the
	// backend holds no row for it, and its state is Empty with this as its LastError.
	Empty string
}

// markDoneSQL records successful writes, never moving a row back to an older version.
const markDoneSQL = `
INSERT INTO index_state AS s (record_id, backend, version, indexed_version, state, attempts, last_error, updated_at, indexed_at)
SELECT u.id, $1, u.version, u.version, u.state, u.attempt, NULLIF(u.reason, ''), now(), now()
FROM unnest($2::uuid[], $3::int[], $4::text[], $5::int[], $6::text[]) AS u(id, version, state, attempt, reason)
ON CONFLICT (record_id, backend) DO UPDATE
    SET version = EXCLUDED.version, indexed_version = EXCLUDED.indexed_version, state = EXCLUDED.state,
        attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error, updated_at = now(), indexed_at = now()
    WHERE s.version <= EXCLUDED.version`

// MarkDone marks done Indexed (or Deleted, or Empty) at their versions in backend, in tx — the transaction
// of the backend's write, so the state commits with the index row. A row already at a newer
// version is left alone.
func MarkDone(ctx context.Context, tx pgx.Tx, backend string, done []Done) error {
	if len(done) == 0 {
		return nil
	}
	var (
		ids      = make([]uuid.UUID, len(done))
		versions = make([]int32, len(done))
		states   = make([]string, len(done))
		attempts = make([]int32, len(done))
		reasons  = make([]string, len(done))
	)
	for i, d := range done {
		ids[i], versions[i], states[i], attempts[i], reasons[i] = d.RecordID, int32(d.Version), Indexed, int32(d.Attempt), d.Empty
		switch {
		case d.Deleted:
			states[i] = Deleted
		case d.Empty != "":
			states[i] = Empty
		}
	}
	if _, err := tx.Exec(ctx, markDoneSQL, backend, ids, versions, states, attempts, reasons); err != nil {
		return fmt.Errorf("error marking records indexed: %w", err)
	}
	return nil
}

// Failure is one failed or snoozed index job.
type Failure struct {
	RecordID uuid.UUID
	Version  int
	Attempt  int
	Error    string
	// Final says the job will not be tried again (cancelled, or out of attempts): the record
	// becomes Failed.
	Final bool
	// Snoozed says the job waits without using an attempt (a provider outage, a rate limit):
	// only its reason is recorded.
	Snoozed bool
}

// failuresSQL records failed attempts and snoozes; a final failure sets state failed. A row at
// an older version (one [MarkPending] left busy, not yet marked) moves to the failed version:
// pending, or failed when final.
const failuresSQL = `
UPDATE index_state AS s
SET attempts = CASE WHEN u.snoozed THEN s.attempts ELSE u.attempt END, last_error = u.error, updated_at = now(),
    state = CASE WHEN u.final THEN 'failed' WHEN s.version < u.version THEN 'pending' ELSE s.state END,
    version = u.version
FROM unnest($2::uuid[], $3::int[], $4::int[], $5::text[], $6::bool[], $7::bool[]) AS u(id, version, attempt, error, final, snoozed)
WHERE s.backend = $1 AND s.record_id = u.id AND s.version <= u.version AND s.state <> 'indexed'
    OR s.backend = $1 AND s.record_id = u.id AND s.version < u.version`

// RecordFailures writes the failures' errors to their rows in backend, so GetIndexStatus shows
// why a record waits. A row a newer version's success has reached is left alone.
func RecordFailures(ctx context.Context, db DB, backend string, fs []Failure) error {
	if len(fs) == 0 {
		return nil
	}
	var (
		ids      = make([]uuid.UUID, len(fs))
		versions = make([]int32, len(fs))
		attempts = make([]int32, len(fs))
		messages = make([]string, len(fs))
		final    = make([]bool, len(fs))
		snoozed  = make([]bool, len(fs))
	)
	for i, f := range fs {
		ids[i], versions[i], attempts[i], messages[i], final[i], snoozed[i] =
			f.RecordID, int32(f.Version), int32(f.Attempt), f.Error, f.Final, f.Snoozed
	}
	if _, err := db.Exec(ctx, failuresSQL, backend, ids, versions, attempts, messages, final, snoozed); err != nil {
		return fmt.Errorf("error recording index failures: %w", err)
	}
	return nil
}

// resetFailedSQL locks the failed rows in record id order, as [Lock] does: the jobs a retry has
// just re-queued are being worked meanwhile, and an update in any other order deadlocks with
// them. A row indexed meanwhile is no longer failed and is left alone.
const resetFailedSQL = `
UPDATE index_state s SET state = 'pending', attempts = 0, updated_at = now()
FROM (
    SELECT record_id FROM index_state
    WHERE backend = $1 AND state = 'failed'
    ORDER BY record_id
    FOR UPDATE
) f
WHERE s.backend = $1 AND s.record_id = f.record_id`

// ResetFailed marks the failed records of backend pending again, with no attempts, and returns
// how many it reset.
func ResetFailed(ctx context.Context, db DB, backend string) (int64, error) {
	tag, err := db.Exec(ctx, resetFailedSQL, backend)
	if err != nil {
		return 0, fmt.Errorf("error marking failed records pending: %w", err)
	}
	return tag.RowsAffected(), nil
}

// syncSQL marks every record a table holds as indexed at the table's version, adding the rows a
// backend that is new to the records lacks; it writes the rows in record id order, as [Lock]
// takes them, so that it never deadlocks with the index workers.
const syncSQL = `
INSERT INTO index_state AS s (record_id, backend, version, indexed_version, state, attempts, updated_at, indexed_at)
SELECT t.record_id, $1, t.version, t.version, 'indexed', 0, now(), now()
FROM %s t JOIN records r ON r.id = t.record_id
ORDER BY t.record_id
ON CONFLICT (record_id, backend) DO UPDATE
    SET state = 'indexed', version = EXCLUDED.version, indexed_version = EXCLUDED.version, indexed_at = now(),
        updated_at = now(), attempts = 0, last_error = NULL
    WHERE s.version <= EXCLUDED.version
      AND (s.state <> 'indexed' OR s.indexed_version IS DISTINCT FROM EXCLUDED.version)`

// SyncFromTable marks every record that table (a backend's table, with columns record_id and
// version) holds as indexed in backend at the table's version, unless the row asks for a newer
// one: after a rebuild, records whose live writes had failed or were still pending are indexed,
// and after the backfill of a new backend every record it holds gets its row.
func SyncFromTable(ctx context.Context, db DB, backend, table string) error {
	if _, err := db.Exec(ctx, fmt.Sprintf(syncSQL, pgx.Identifier{table}.Sanitize()), backend); err != nil {
		return fmt.Errorf("error updating index state from table %s: %w", table, err)
	}
	return nil
}
