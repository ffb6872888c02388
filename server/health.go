package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"connectrpc.com/grpchealth"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/jobs/heartbeat"
	"github.com/osa-archive/osa/migrations"
)

// readiness answers whether this process can serve: the database is reachable and its schema is
// current. It backs GET /readyz and grpc.health.v1.
//
// It pings the database on a connection of its own, outside the pool (as the heartbeat beats on
// its own): a pool whose connections are all in use, or slow to open, on a slow network tells
// nothing about whether the database answers, and a check through it would time out and report
// a reachable database unreachable. A connection that fails is replaced at once, in the same
// check, so a connection cut since the last check (a reset, a restarted proxy) is no outage
// either.
type readiness struct {
	pool *pgxpool.Pool
	// conn holds the check's connection (nil before the first check and after a failed one)
	// while no check uses it: a check takes it out and puts it back, so checks take turns, and
	// one waiting for its turn gives up at its deadline.
	conn chan *pgx.Conn
	// current latches once the schema has been seen current: migrations are never undone by a
	// running server, so the check need not be repeated.
	current atomic.Bool
	// heartbeat is the worker process's heartbeat once it runs (nil without workers): a process
	// that cannot beat is not ready.
	heartbeat atomic.Pointer[heartbeat.Heart]
}

// newReadiness returns the readiness of a process on pool; it connects at the first check.
func newReadiness(pool *pgxpool.Pool) *readiness {
	r := &readiness{pool: pool, conn: make(chan *pgx.Conn, 1)}
	r.conn <- nil
	return r
}

// readyTimeout bounds one readiness check, so a hung database answers "not ready", not a hang.
const readyTimeout = 2 * time.Second

// check returns nil when the process is ready, else the reason it is not.
func (r *readiness) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := r.ping(ctx); err != nil {
		return errors.New("database unreachable")
	}
	if h := r.heartbeat.Load(); h != nil {
		if err := h.Err(); err != nil {
			return err
		}
	}
	if r.current.Load() {
		return nil
	}
	pending, err := migrations.Pending(ctx, r.pool)
	if err != nil {
		return errors.New("cannot read the migration state")
	}
	if len(pending) > 0 {
		return fmt.Errorf("%d migrations pending: run `osa migrate up`", len(pending))
	}
	r.current.Store(true)
	return nil
}

// ping pings the database on the check's connection, and on a new one when there is none or
// the ping fails.
func (r *readiness) ping(ctx context.Context) error {
	var conn *pgx.Conn
	select {
	case conn = <-r.conn:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { r.conn <- conn }()
	if conn != nil {
		if err := conn.Ping(ctx); err == nil {
			return nil
		}
		closeConn(conn)
		conn = nil
	}
	c, err := pgx.ConnectConfig(ctx, r.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	conn = c
	return nil
}

// close closes the check's connection; a check after it connects again.
func (r *readiness) close() {
	conn := <-r.conn
	if conn != nil {
		closeConn(conn)
	}
	r.conn <- nil
}

// closeConn closes conn, giving its goodbye to the server a moment at most: a connection into a
// network that swallows everything must not hold up a check or a shutdown.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_ = conn.Close(ctx)
}

// Check implements [grpchealth.Checker]: every service, and the server as a whole (""), is
// SERVING when the process is ready.
func (r *readiness) Check(ctx context.Context, req *grpchealth.CheckRequest) (*grpchealth.CheckResponse, error) {
	if err := r.check(ctx); err != nil {
		return &grpchealth.CheckResponse{Status: grpchealth.StatusNotServing}, nil
	}
	return &grpchealth.CheckResponse{Status: grpchealth.StatusServing}, nil
}

// serveReadyz answers 200 "ready" or 503 with the reason.
func (r *readiness) serveReadyz(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := r.check(req.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "not ready: %v\n", err)
		return
	}
	fmt.Fprintln(w, "ready")
}

// serveHealthz answers 200 while the process is up; it checks nothing else.
func serveHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintln(w, "ok")
}
