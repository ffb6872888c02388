package events

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The key of the quiet mark ([QuietTx]): a transaction-level advisory lock, taken shared (so
// marks never wait on each other), on the two-integer key (QuietLockClass, QuietLockObject).
// pg_locks shows it as locktype 'advisory', classid QuietLockClass, objid QuietLockObject,
// objsubid 2. Nothing else may take it.
const (
	QuietLockClass  = 7303009 // "osa" in ASCII
	QuietLockObject = 1
)

// quietSQL marks the transaction quiet.
var quietSQL = fmt.Sprintf(`SELECT pg_advisory_xact_lock_shared(%d, %d)`, QuietLockClass, QuietLockObject)

// QuietTx declares that tx writes no events, now or later, so the feed does not wait for it:
// its xid does not hold back the events of younger transactions (see the package doc, "Quiet
// transactions"). It may be called at any point of tx, before or after tx takes an xid. It is
// for long transactions that never write events, such as an index batch's HNSW insert; a
// transaction that calls it and then writes an event (through [InsertTx]) may have that event
// skipped by a reader that had passed its place, so never call it where a change of a record
// may follow.
func QuietTx(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, quietSQL); err != nil {
		return fmt.Errorf("error marking the transaction quiet for the changefeed: %w", err)
	}
	return nil
}

// horizonSQL is the feed's horizon in the statement's snapshot S: the oldest running xid of S
// whose transaction has not been seen to be quiet, or xmax(S) when there is none. Every
// transaction with a smaller xid has ended before S, or writes no events. The quiet ones are
// read from pg_locks in one scan, so in one state of the lock table: the transactions (virtual
// ids) holding the quiet mark, and the xids each holds its own lock on (its xid and its
// subtransactions'). pg_locks is read after S was taken, and an xid of S's running list that
// has ended by then, or has not yet taken its lock, is simply not seen as quiet: it holds the
// horizon, as it would without the mark. On a standby the horizon is xmin(S), the plain rule:
// a hot standby's snapshot keeps the transactions it knows to be running where
// pg_snapshot_xip does not show them (it lists none), and its pg_locks shows no transaction of
// the primary anyway. TestNoGaps/Standby fails without that case.
var horizonSQL = fmt.Sprintf(`(
    CASE WHEN pg_is_in_recovery() THEN pg_snapshot_xmin(pg_current_snapshot()) ELSE (
        WITH quiet AS MATERIALIZED (
            SELECT unnest(array_agg(transactionid) FILTER (WHERE locktype = 'transactionid')) AS xid
            FROM pg_locks
            WHERE granted AND ((locktype = 'transactionid' AND mode = 'ExclusiveLock')
               OR (locktype = 'advisory' AND classid = %d AND objid = %d AND objsubid = 2))
            GROUP BY virtualtransaction
            HAVING bool_or(locktype = 'advisory')
        )
        SELECT coalesce(min(x), pg_snapshot_xmax(pg_current_snapshot()))
        FROM pg_snapshot_xip(pg_current_snapshot()) x
        WHERE NOT EXISTS (SELECT 1 FROM quiet q WHERE q.xid = x::xid)
    ) END
)`, QuietLockClass, QuietLockObject)
