// Package replicas sends reads to PostgreSQL streaming replicas (hot standbys that replay the
// primary's WAL), within a bound on how far behind the primary they are, and to the primary
// otherwise. PostgreSQL does the replication; this package only decides, per read, which pool
// answers it.
//
// # What goes where
//
// A [Router] is built on the primary's pool and one pool per replica (database.replica_urls).
// The server pins a pool to the context of each read request at its edge ([Router.Read]): the
// searches, the record reads (GetRecord, ListRecords, GetIndexStatus), ListBackends,
// SimilarRecords, ListEvents and the web interface's search and record pages. Every statement
// of such a request asks [Router.Pool] for its pool, so one request reads one server and never
// mixes two replicas' different pasts. Whatever is not pinned runs on the primary: every
// write, River (its fetches, its leader, River UI), the index workers, the catalog, the wait of
// a publish with wait_indexed (which then reads the replicas too: below), WatchEvents streams,
// the status page, /readyz.
//
// # Lag
//
// [Router.Run] probes every replica each database.replica_probe_interval (1s): the primary's
// pg_current_wal_lsn(), then each replica's pg_last_wal_replay_lsn() and the age of
// pg_last_xact_replay_timestamp(). A replica holds the primary's data as of the newest of two
// times: the last probe of the primary whose WAL position it has replayed (right on an idle
// primary, where the last replayed transaction is old although the replica misses nothing),
// and the commit time of the last transaction it replayed (finer under steady writes). Its lag
// is the time since then, counted up to the moment of each read, not only to the probe's: a
// replica cannot fall further behind than the time that passed, so the bound holds between
// probes, and a replica whose probes stop answering leaves the routing by itself.
//
// A read goes to the least busy replica (fewest connections in use, ties in turn) that is up
// and lags at most database.max_replica_lag (5s); when there is none, to the primary. A probe
// that fails marks the replica down; so does, at once, a read that finds it unreachable. A
// replica that is no longer a standby (promoted) is down too.
//
// # Failures
//
// A read that fails on its replica with anything but the request's own answer (bad input, not
// found) is asked again of the primary, once ([Router.Retry]): the replica went away, refused
// the connection, had the query cancelled by its replay, or has not replayed a migration or a
// rebuild's swap yet. A replica that cannot be reached ([Down]) also leaves the routing at once,
// until a probe finds it up. So a replica that dies fails no request: the in-flight ones are
// answered by the primary, the next ones go there directly.
//
// # Reading one's own writes
//
// A reader on a replica may not see what it has just written. Two places promise that it does:
//
//   - A publish with wait_indexed answers "indexed" when a search right after it finds the
//     record. Its wait reads index_state on the primary and then, within the same
//     wait_timeout, on every replica reads may go to ([Router.Routable]), until each shows
//     the records settled too; a record that some replica does not show indexed when the time
//     runs out is reported not indexed, with that replica's view of it. Reading the data
//     itself, rather than comparing WAL positions, is exact whatever synchronous_commit is.
//   - The web interface's page after a form it posted: the answer to a POST sets a cookie
//     that lasts database.max_replica_lag, and pages of a browser that has it read the
//     primary. Once that time has passed, every replica that may take a read has replayed the
//     write (its lag is at most max_replica_lag), so no log sequence number needs to travel in
//     the cookie.
//
// A client of the API that reads right after a write without wait_indexed may see the
// replica's past, up to max_replica_lag old: GetRecord of a record just published may be
// NotFound for that long. Other processes route by their own probes: a replica that was out of
// a publishing process's routing and comes back within max_replica_lag of the publish may
// answer another process's search without it.
//
// # The changefeed
//
// ListEvents may read a replica: below a standby snapshot's xmin the events are as final as
// below the primary's, so the changefeed's cursor misses nothing when a reader moves between
// servers (package events, "On a standby"). WatchEvents stays on the primary: its stream
// follows the head, where a replica only adds its lag, and one poller of the head serves every
// stream of a process from one pool.
package replicas
