// Package events is the changefeed of the archive: one event per change of a record
// (record.published, record.deleted, record.restored), written by the record store in the
// transaction of the change ([InsertTx]), read in pages ([Feed.List]) or followed
// ([Feed.Watch]) after a [Cursor], and pruned by age ([Prune]).
//
// # The cursor, and why no reader misses an event
//
// A cursor taken from a sequence is not enough: values are drawn when a row is inserted, but
// transactions commit in another order. A reader that has read up to 7 misses the 6 of a
// transaction that commits after it read 7. The tests show it happen (TestNoGaps/naive).
//
// Each event row carries the top-level transaction id of its writer, an xid8 from
// pg_current_xact_id() (64 bits, never wrapping), and an id from an identity column that orders
// the events of one transaction. Its place in the feed is (xid, id). A read is one statement,
// so one snapshot S, and returns only events with xid < xmin(S) =
// pg_snapshot_xmin(pg_current_snapshot()). The claim: once a read returns an event at place
// P, no event at a place below P is ever written or committed later, so a reader that goes on
// after P misses nothing. The argument:
//
//  1. xmin(S) is the smallest xid still running when S was taken: every transaction with a
//     smaller xid had ended, committed or aborted, before S. S therefore sees every row that any
//     of them committed, and none of them can write again.
//  2. A transaction that had not started, or had no xid yet, when S was taken gets an xid of at
//     least the next xid to be assigned, which is at least xmin(S). So no transaction that ends
//     later has an xid below xmin(S).
//  3. Every event a transaction writes carries that transaction's xid (subtransactions too:
//     pg_current_xact_id() returns the top-level xid), and all of them are written before it
//     commits.
//  4. So the set of events with xid < xmin(S) is final: S sees all of them, and no later commit
//     adds one. The read returns those after the cursor, in place order, up to P, the last one
//     it returns. Any event written later has an xid of at least xmin(S) (2), so its place is
//     above P, and above (xmin(S), 0): a later read reaches it.
//  5. xmin only grows: a later snapshot's running transactions are those of the earlier one
//     still running, or newer ones, whose xids are not below the earlier xmin (2). So a page's
//     Next, which may be (xmin(S), 0) when the page is not full, is final too, and the reads of
//     one reader never go backwards.
//
// Ordering by xid is not commit order either: a transaction that took its xid early and
// committed late comes first. It does not matter, because it is exposed only once every
// transaction with a smaller xid has ended (1), and everything after it in the feed is still
// to be read.
//
// The price: while any transaction holds an xid, the feed exposes nothing written by a later
// one, whatever table or database it writes (xids and snapshots are the whole server's: a long
// transaction in another database of the same PostgreSQL server stalls the feed too). A
// transaction that only reads gets no xid: a plain SELECT, VACUUM (not FULL) and the long build
// of CREATE INDEX CONCURRENTLY do not stall the feed (checked: pg_stat_activity.backend_xid of
// a CREATE INDEX CONCURRENTLY on 3,000,000 rows stayed empty throughout its build, so a
// rebuild's shadow index build does not). One that writes, takes a row lock (SELECT ... FOR
// UPDATE) or changes the schema does, from its first such statement to its end. In OSA these
// are short: a publish, an index batch (one batch write: an HNSW insert of a vector batch took
// up to 300 ms on a loaded 2-core machine, the largest part of the feed's p95 there), a
// rebuild chunk, River's fetches, a prune of events.prune_batch
// rows; a migration or a bulk load by hand may be long. While such a transaction runs, events
// are delayed, not lost: they arrive, in order, when it ends (TestWatch/LongTransactionDelays
// measures it). An operator sees what holds the feed with
//
//	SELECT pid, now() - xact_start, query FROM pg_stat_activity WHERE backend_xid IS NOT NULL ORDER BY xact_start;
//
// # On a standby
//
// [Feed.List] may read a streaming replica (Config.ReadPool; package replicas), and the claim
// holds there. On a hot standby, pg_current_snapshot() is built from the transactions that the
// replayed WAL shows running (PostgreSQL's KnownAssignedXids): an xid is known as running as
// soon as a record carrying it, or a higher xid, is replayed, and stops being so only when its
// commit or abort record is replayed, or when a running-transactions record of the primary
// (logged after the commit records of the transactions it no longer lists) says it ended. So
// below a standby snapshot's xmin every transaction has ended and been replayed (1), one that
// has not been replayed yet has an xid of at least xmin (2), and the set of events below it is
// final, and the same as the primary's below that xid. A reader that moves between the primary
// and replicas of different lags gets an empty page while its server is behind its cursor
// (Next never goes back), and no gap: every read's events below its own xmin are the final
// ones. [Feed.Watch] reads the feed's own pool, the primary: it follows the head, where a
// replica would only add its lag.
//
// # The cursor of an export, and why a follower gets each change once
//
// An export (package dump) reads the records in one REPEATABLE READ transaction, so in one
// snapshot E, and returns the cursor of E ([SnapshotCursor]). A mirror loads the export, then
// follows the feed after that cursor. The claim: the events it then reads are exactly those of
// the changes E does not show, each once. A transaction's changes are visible in E, all of
// them or none, exactly when its xid is visible in E: below xmin(E), or below xmax(E) and not
// in xip(E), the transactions running when E was taken (an aborted one leaves no event at
// all). Every event carries the xid of the transaction that made its change (3).
//
//  6. The cursor is (xmin(E), 0) and carries the rest of E: xmax(E) and xip(E). Events with an
//     xid below xmin(E) are visible in E and come before the cursor, so they are not read.
//  7. A read after the cursor returns the events after it, as any read does, less those whose
//     xid is visible in E (pg_visible_in_snapshot in the same statement): those with an xid
//     in [xmin(E), xmax(E)) and not in xip(E), whose transactions had committed when E was
//     taken although a transaction with a smaller xid was still running. What a read returns
//     is still final (4): skipping depends only on the event's own xid and on E, which no
//     later commit changes, nor the server that answers (a standby skips the same events).
//  8. Every cursor a read returns (the Next of a page, and each event's) carries E on, less
//     the running xids below its place, whose events it has passed; a cursor at or beyond
//     xmax(E) carries nothing, as every xid from there on is not visible in E. So a reader
//     that resumes from any cursor it was handed skips what E shows and only that.
//
// So an event is read after the cursor exactly when its transaction is not visible in E, that
// is, exactly when the export does not hold its change. The xip list holds at most one xid per
// connection of the server (max_connections), so the cursor stays short.
// TestExportThenFollow (package server) checks it with publishes, new versions and deletes
// running through an export, and TestSnapshotCursor here with a transaction that commits
// before the snapshot while an older one still runs.
//
// # Retention
//
// Events older than events.retention are deleted by a periodic job ([Prune]), in batches, each
// moving the horizon (a one-row table) to the last place it deleted. A cursor below the horizon
// may have lost events after it: [Feed.List] refuses it with [ErrCursorExpired], a
// FailedPrecondition that says how to re-sync. The horizon is read in the same statement as
// the page, so a prune that runs concurrently cannot slip between the check and the read.
//
// # Tailing
//
// [Feed.Watch] polls, with no LISTEN and no session state, so it works behind a transaction
// pooler (PgBouncer in transaction mode). One poller per [Feed] reads the place of the last
// exposed event every events.poll_interval for all its Watches (a backward scan of the primary
// key, 0.1 ms); a Watch reads its own page (a range scan from its cursor) only when that place
// has passed its cursor, or when a keep-alive is due. The poller runs while at least one Watch
// does. It decides only when a Watch reads, never what: the read is the sound one above.
package events
