package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"connectrpc.com/grpchealth"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/jobs/heartbeat"
	"github.com/osa-archive/osa/migrations"
)

// readiness answers whether this process can serve: the database is reachable and its schema is
// current. It backs GET /readyz and grpc.health.v1.
type readiness struct {
	pool *pgxpool.Pool
	// current latches once the schema has been seen current: migrations are never undone by a
	// running server, so the check need not be repeated.
	current atomic.Bool
	// heartbeat is the worker process's heartbeat once it runs (nil without workers): a process
	// that cannot beat is not ready.
	heartbeat atomic.Pointer[heartbeat.Heart]
}

// readyTimeout bounds one readiness check, so a hung database answers "not ready", not a hang.
const readyTimeout = 2 * time.Second

// check returns nil when the process is ready, else the reason it is not.
func (r *readiness) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := r.pool.Ping(ctx); err != nil {
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
