// Package pglock takes PostgreSQL advisory locks for work that runs outside one transaction,
// such as CREATE INDEX CONCURRENTLY or a run of migrations, in a way that stays correct behind
// a pooler in transaction mode (PgBouncer's pool_mode = transaction).
//
// A session lock (pg_advisory_lock) does not survive such a pooler: the server connection that
// took it goes back to the pooler's pool once the statement ends, so the lock stays with
// whichever client gets that connection next, and the unlock runs on another connection. A
// [Lock] is instead a transaction-scoped lock (pg_advisory_xact_lock) taken in a transaction of
// its own, on a connection of its own, that stays open until [Lock.Release]: a pooler keeps a
// server connection for a client for as long as its transaction is open. The work itself runs
// on other connections.
//
// The holding transaction writes nothing and, after its one statement, keeps no snapshot (read
// committed), so it holds back neither VACUUM nor a CREATE INDEX CONCURRENTLY, which waits for
// every transaction with an older snapshot. That statement runs by the simple protocol: an
// extended-protocol portal would stay open until the transaction ends, and keep its snapshot.
//
// The lock's connection is opened for it, with the settings of the pool's connections, and is
// not one of the pool's: a lock held for minutes never takes a connection the pool's other
// users, or the locked work itself, need, however small the pool. Session and transaction locks share one key space, so a Lock excludes an older
// process's session lock on the same key.
package pglock

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Key names an advisory lock: [Name] or [ID].
type Key struct {
	expr string // the SQL expression of the lock's bigint key, of the argument $1
	arg  any
}

// Name is the lock keyed by hashtextextended(name, 0), PostgreSQL's 64-bit hash of name.
func Name(name string) Key { return Key{expr: "hashtextextended($1::text, 0)", arg: name} }

// ID is the lock keyed by the number id.
func ID(id int64) Key { return Key{expr: "$1::bigint", arg: id} }

// Lock is a held advisory lock: its connection and transaction, open until [Lock.Release].
type Lock struct {
	conn *pgx.Conn
}

// Acquire waits for the lock of key on a connection of its own, opened with the settings of
// pool's connections, and returns it. Cancelling ctx stops the wait.
func Acquire(ctx context.Context, pool *pgxpool.Pool, key Key) (*Lock, error) {
	return take(ctx, pool, "SELECT true FROM pg_advisory_xact_lock("+key.expr+")", key)
}

// TryAcquire takes the lock of key when it is free, as [Acquire] does, and returns nil without
// waiting when another session holds it.
func TryAcquire(ctx context.Context, pool *pgxpool.Pool, key Key) (*Lock, error) {
	return take(ctx, pool, "SELECT pg_try_advisory_xact_lock("+key.expr+")", key)
}

// take opens the lock's connection, begins its transaction and runs sql, which answers whether
// the lock was taken.
func take(ctx context.Context, pool *pgxpool.Pool, sql string, key Key) (*Lock, error) {
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("error connecting for the lock: %w", err)
	}
	var got bool
	if _, err = conn.Exec(ctx, "BEGIN"); err == nil {
		err = conn.QueryRow(ctx, sql, pgx.QueryExecModeSimpleProtocol, key.arg).Scan(&got)
	}
	if err != nil || !got {
		_ = conn.Close(context.WithoutCancel(ctx)) // ends the transaction, and any wait
		if err != nil {
			return nil, fmt.Errorf("error taking the lock: %w", err)
		}
		return nil, nil
	}
	return &Lock{conn: conn}, nil
}

// Release ends the lock's transaction and closes its connection, which releases the lock. It
// runs even when ctx is cancelled. Releasing twice is harmless.
func (l *Lock) Release(ctx context.Context) {
	if l == nil || l.conn == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	_, _ = l.conn.Exec(ctx, "ROLLBACK")
	_ = l.conn.Close(ctx)
	l.conn = nil
}
