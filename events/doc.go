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
// so one snapshot S, and returns only events with xid < H(S), the feed's horizon in S: the
// smallest xid among S's running transactions (pg_snapshot_xip) that is not quiet, or xmax(S)
// when there is none. A quiet transaction has declared that it writes no events ([QuietTx];
// see "Quiet transactions" below). Without quiet transactions, H(S) is xmin(S) =
// pg_snapshot_xmin(pg_current_snapshot()). The claim: once a read returns an event at place
// P, no event at a place below P is ever written or committed later, so a reader that goes on
// after P misses nothing. The argument:
//
//  1. Every xid below xmax(S) that is not among S's running transactions belongs to a
//     transaction that had ended, committed or aborted, before S. So every transaction with an
//     xid below H(S) had ended before S, or is quiet. S sees every row that the ended ones
//     committed, and none of them can write again; the quiet ones write no events.
//  2. A transaction that had not started, or had no xid yet, when S was taken gets an xid of at
//     least the next xid to be assigned, which is xmax(S), at least H(S). So no transaction
//     that writes an event and ends later has an xid below H(S).
//  3. Every event a transaction writes carries that transaction's xid (subtransactions too:
//     pg_current_xact_id() returns the top-level xid), and all of them are written before it
//     commits.
//  4. So the set of events with xid < H(S) is final: S sees all of them, and no later commit
//     adds one. The read returns those after the cursor, in place order, up to P, the last one
//     it returns. Any event written later has an xid of at least H(S) (2), so its place is
//     above P, and above (H(S), 0): a later read reaches it.
//  5. A page's Next, which may be (H(S), 0) when the page is not full, is final too (4), and a
//     read never returns a Next before the cursor it read after, so the reads of one reader
//     never go backwards. (The horizon of a later read can be lower: its scan of pg_locks may
//     no longer see a quiet transaction that is ending. Such a read returns nothing new; it
//     loses nothing, as every read's claim rests on its own snapshot alone.)
//
// Ordering by xid is not commit order either: a transaction that took its xid early and
// committed late comes first. It does not matter, because it is exposed only once every
// transaction with a smaller xid has ended or is quiet (1), and everything after it in the feed
// is still to be read.
//
// The price: while a transaction that is not quiet holds an xid, the feed exposes nothing
// written by a later one, whatever table or database it writes (xids and snapshots are the
// whole server's: a long transaction in another database of the same PostgreSQL server stalls
// the feed too). A transaction that only reads gets no xid: a plain SELECT, VACUUM (not FULL)
// and the long build of CREATE INDEX CONCURRENTLY do not stall the feed (checked:
// pg_stat_activity.backend_xid of a CREATE INDEX CONCURRENTLY on 3,000,000 rows stayed empty
// throughout its build, so a rebuild's shadow index build does not). One that writes, takes a
// row lock (SELECT ... FOR UPDATE) or changes the schema does, from its first such statement
// to its end. In OSA the long ones are quiet: an index batch (its HNSW insert of a vector batch
// took up to 1.5 s on a loaded 2-core machine, which held the feed's p95 at 700 ms there before
// batches were quiet) and a rebuild chunk. The others are short: a publish, the fan-out,
// River's fetches and completions, a prune of events.prune_batch rows; a migration or a bulk
// load by hand may be long. While such a transaction runs, events are delayed, not lost: they
// arrive, in order, when it ends (TestWatch/LongTransactionDelays measures it). An operator
// sees what holds the feed with
//
//	SELECT pid, now() - xact_start, query FROM pg_stat_activity
//	WHERE backend_xid IS NOT NULL AND pid NOT IN (SELECT pid FROM pg_locks
//	    WHERE locktype = 'advisory' AND classid = 7303009 AND objid = 1 AND objsubid = 2)
//	ORDER BY xact_start;
//
// # Quiet transactions
//
// [QuietTx] marks a transaction with a shared transaction-level advisory lock on a key of the
// feed's own ([QuietLockClass], [QuietLockObject]). A read finds the quiet ones among S's
// running xids in pg_locks, in one scan, so in one state of the lock table: the transactions
// (by virtual transaction id) that hold the mark, and the xids each holds its exclusive lock on,
// which every transaction holds on its own xid (and its subtransactions') from the moment it
// gets one until it ends. An xid is skipped only when the scan shows it held by a transaction
// that holds the mark, and such a transaction writes no events, before or after the mark: its
// xid hides nothing. Every way the scan can miss a mark is safe, as the xid then holds the
// horizon, the plain rule: the scan runs after S was taken, so a transaction of S's running list
// may have ended by then, released its locks, or not yet inserted the lock on the xid it has
// just been given. The mark may be taken at any point of the transaction. A transaction that
// is marked and then writes an event breaks the claim, so only code that never changes records
// marks itself: the index batches (package pipeline) and the rebuild chunks (package reindex).
// TestWatch/QuietTransactionDoesNotDelay shows a quiet transaction that holds an xid not
// delaying the feed, and TestNoGaps runs quiet transactions among its publishers.
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
// ones. On a standby the feed's horizon is xmin(S), the plain rule, which this argument is
// about: a standby's pg_locks shows no transaction of the primary, so no quiet one, and its
// snapshot keeps the transactions it knows to be running apart from the list that
// pg_snapshot_xip shows (which is empty there), so the quiet rule would read as if none ran. [Feed.Watch] reads the
// feed's own pool, the primary: it follows the head, where a replica would only add its lag.
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
// key after a scan of pg_locks for the quiet transactions: 0.1 ms with 40 transactions
// running); a Watch reads its own page (a range scan from its cursor) only when that place
// has passed its cursor, or when a keep-alive is due. The poller runs while at least one Watch
// does. It decides only when a Watch reads, never what: the read is the sound one above.
package events
