// Package heartbeat recovers the jobs of a dead worker process in seconds. Every worker process
// beats a row of worker_heartbeats (its River client id) every [Config.Interval], on a
// goroutine and a database connection of its own, so a busy process never misses a beat. A
// process that finds a peer's row stale for [Config.DeadAfter] makes the peer's running jobs
// (River records the client that took a job last in attempted_by) retryable at once, or
// discarded when they have no attempt left, and deletes the row; one process at a time does so,
// under an advisory lock. River's rescuer (worker.rescue_after) stays the last resort.
//
// A process whose own beats have failed for half of DeadAfter reports it ([Heart.Err], which
// /readyz shows) and logs it at ERROR: its peers will soon take it for dead. It does not stop
// its River client (River offers no pause of one client's fetching); a process cut off from the
// database cannot fetch anyway, and a job it finishes after its peers retried it is written
// twice, which the version guards make harmless.
//
// A live process can orphan jobs too: when a connection fails after PostgreSQL committed River's
// fetch but before its answer arrived, the fetched jobs stay running in the table, taken by a
// process that never learned of them, until River's rescuer (worker.rescue_after, 10 minutes by
// default). With [Config.Working], the heartbeat also makes retryable at once every running job
// that the process itself took more than DeadAfter ago and is not working ([Working]).
package heartbeat

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults of [Config].
const (
	IntervalDefault  = 3 * time.Second
	DeadAfterDefault = 15 * time.Second
)

// Config configures a process's heartbeat.
type Config struct {
	// Interval is how often the process beats (worker.heartbeat_interval); 0 means
	// IntervalDefault.
	Interval time.Duration
	// DeadAfter is how long a peer's row may go without a beat before its jobs are rescued
	// (worker.dead_after); 0 means DeadAfterDefault. It must be at least 3 × Interval.
	DeadAfter time.Duration
	// Working, when set, is the set of jobs the process works (a middleware of its River
	// client): the process's own running jobs taken more than DeadAfter ago and not in it are
	// orphans, rescued like a dead peer's. nil rescues none.
	Working *Working
}

// WithDefaults returns c with its zero settings replaced by their defaults.
func (c Config) WithDefaults() Config {
	if c.Interval == 0 {
		c.Interval = IntervalDefault
	}
	if c.DeadAfter == 0 {
		c.DeadAfter = DeadAfterDefault
	}
	return c
}

// Heart is a running heartbeat.
type Heart struct {
	cfg      Config
	pool     *pgxpool.Pool
	clientID string
	logger   *slog.Logger
	lastBeat atomic.Int64 // unix nanoseconds of the last beat that succeeded
	cancel   context.CancelFunc
	done     sync.WaitGroup
}

// Start beats clientID's row from now on, and rescues the jobs of dead peers, until [Heart.Stop].
func Start(ctx context.Context, pool *pgxpool.Pool, clientID string, cfg Config, logger *slog.Logger) (*Heart, error) {
	cfg = cfg.WithDefaults()
	if cfg.DeadAfter < 3*cfg.Interval {
		return nil, fmt.Errorf("heartbeat: DeadAfter (%v) must be at least 3 × Interval (%v)", cfg.DeadAfter, cfg.Interval)
	}
	h := &Heart{cfg: cfg, pool: pool, clientID: clientID, logger: logger}
	conn, err := h.connect(ctx)
	if err != nil {
		return nil, err
	}
	if err := h.beat(ctx, conn); err != nil {
		conn.Close(ctx)
		return nil, err
	}
	h.lastBeat.Store(time.Now().UnixNano())
	ctx, h.cancel = context.WithCancel(context.WithoutCancel(ctx))
	h.done.Go(func() { h.beatLoop(ctx, conn) })
	h.done.Go(func() { h.rescueLoop(ctx) })
	return h, nil
}

// Err reports, while the process has not beaten for half of DeadAfter, that its peers will soon
// take it for dead; nil otherwise.
func (h *Heart) Err() error {
	if since := time.Since(time.Unix(0, h.lastBeat.Load())); since >= h.cfg.DeadAfter/2 {
		return fmt.Errorf("no heartbeat for %s (worker.dead_after %s): peers will take this process for dead",
			since.Round(time.Second), h.cfg.DeadAfter)
	}
	return nil
}

// Stop ends the heartbeat and deletes the process's row (a clean stop is no death).
func (h *Heart) Stop(ctx context.Context) {
	h.cancel()
	h.done.Wait()
	if _, err := h.pool.Exec(ctx, `DELETE FROM worker_heartbeats WHERE client_id = $1`, h.clientID); err != nil {
		h.logger.WarnContext(ctx, "heartbeat: error deleting this process's row; peers will take it for dead and find "+
			"nothing to rescue", "error", err)
	}
}

// connect opens the heartbeat's own connection, outside the pool, so that a pool exhausted by
// work never delays a beat.
func (h *Heart) connect(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Interval)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, h.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("heartbeat: error connecting: %w", err)
	}
	return conn, nil
}

const beatSQL = `INSERT INTO worker_heartbeats (client_id, host, pid) VALUES ($1, $2, $3)
ON CONFLICT (client_id) DO UPDATE SET beat_at = now()`

func (h *Heart) beat(ctx context.Context, conn *pgx.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Interval)
	defer cancel()
	host, _ := os.Hostname()
	if _, err := conn.Exec(ctx, beatSQL, h.clientID, host, os.Getpid()); err != nil {
		return fmt.Errorf("heartbeat: error beating: %w", err)
	}
	return nil
}

func (h *Heart) beatLoop(ctx context.Context, conn *pgx.Conn) {
	defer func() {
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
	}()
	t := time.NewTicker(h.cfg.Interval)
	defer t.Stop()
	reported := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var err error
		if conn == nil || conn.IsClosed() {
			conn, err = h.connect(ctx)
		}
		if err == nil {
			if err = h.beat(ctx, conn); err != nil {
				conn.Close(ctx)
				conn = nil
			}
		}
		if err == nil {
			h.lastBeat.Store(time.Now().UnixNano())
			if reported {
				h.logger.InfoContext(ctx, "heartbeat: beating again")
				reported = false
			}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		h.logger.WarnContext(ctx, "heartbeat: a beat failed; trying again", "error", err)
		if lost := h.Err(); lost != nil && !reported {
			h.logger.ErrorContext(ctx, "heartbeat: "+lost.Error()+" and retry its running jobs", "error", err)
			reported = true
		}
	}
}

func (h *Heart) rescueLoop(ctx context.Context) {
	t := time.NewTicker(h.cfg.Interval)
	defer t.Stop()
	for {
		if rescued, err := Rescue(ctx, h.pool, h.cfg.DeadAfter); err != nil {
			if ctx.Err() != nil {
				return
			}
			h.logger.WarnContext(ctx, "heartbeat: error rescuing the jobs of dead processes; trying again", "error", err)
		} else {
			for _, r := range rescued {
				h.logger.WarnContext(ctx, "heartbeat: a worker process stopped beating; its running jobs are retried now",
					"client_id", r.ClientID, "host", r.Host, "pid", r.PID, "last_beat", r.BeatAt, "jobs", r.Jobs)
			}
		}
		if h.cfg.Working != nil {
			if n, err := h.rescueOrphans(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				h.logger.WarnContext(ctx, "heartbeat: error rescuing this process's orphaned jobs; trying again", "error", err)
			} else if n > 0 {
				h.logger.WarnContext(ctx, "heartbeat: jobs this process took but is not working (the answer of a fetch was lost "+
					"with its connection) are retried now", "jobs", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Rescued is a dead process whose jobs [Rescue] made retryable.
type Rescued struct {
	ClientID string
	Host     string
	PID      int
	BeatAt   time.Time
	// Jobs is how many running jobs it held.
	Jobs int64
}

// rescueLockSQL lets one process at a time rescue.
const rescueLockSQL = `SELECT pg_try_advisory_xact_lock(hashtextextended('osa.worker_heartbeats.rescue', 0))`

// rescueJobsSQL makes the running jobs a client took last retryable now (discarded without an
// attempt left), with an error saying why, as River's rescuer does for stuck jobs.
const rescueJobsSQL = `
UPDATE river_job SET
    state = CASE WHEN attempt >= max_attempts THEN 'discarded' ELSE 'retryable' END::river_job_state,
    scheduled_at = now(),
    finalized_at = CASE WHEN attempt >= max_attempts THEN now() END,
    errors = array_append(errors, jsonb_build_object('at', now(), 'attempt', attempt,
        'error', 'worker process ' || $1 || ' stopped beating (worker.dead_after): job rescued', 'trace', ''))
WHERE state = 'running' AND attempted_by[cardinality(attempted_by)] = $1`

// Rescue makes the running jobs of every process whose row is older than deadAfter retryable,
// deletes those rows, and returns them; nothing when another process is rescuing.
func Rescue(ctx context.Context, pool *pgxpool.Pool, deadAfter time.Duration) ([]Rescued, error) {
	var out []Rescued
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var locked bool
		if err := tx.QueryRow(ctx, rescueLockSQL).Scan(&locked); err != nil || !locked {
			return err
		}
		rows, err := tx.Query(ctx, `DELETE FROM worker_heartbeats WHERE beat_at < now() - $1 * interval '1 microsecond'
			RETURNING client_id, host, pid, beat_at`, deadAfter.Microseconds())
		if err != nil {
			return err
		}
		var r Rescued
		if _, err := pgx.ForEachRow(rows, []any{&r.ClientID, &r.Host, &r.PID, &r.BeatAt}, func() error {
			out = append(out, r)
			return nil
		}); err != nil {
			return err
		}
		for i := range out {
			tag, err := tx.Exec(ctx, rescueJobsSQL, out[i].ClientID)
			if err != nil {
				return err
			}
			out[i].Jobs = tag.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("heartbeat: %w", err)
	}
	return out, nil
}

// rescueOrphansSQL makes the running jobs that client $1 took more than $2 microseconds ago and
// is not working ($3) retryable now (discarded without an attempt left), with an error saying
// why.
const rescueOrphansSQL = `
UPDATE river_job SET
    state = CASE WHEN attempt >= max_attempts THEN 'discarded' ELSE 'retryable' END::river_job_state,
    scheduled_at = now(),
    finalized_at = CASE WHEN attempt >= max_attempts THEN now() END,
    errors = array_append(errors, jsonb_build_object('at', now(), 'attempt', attempt,
        'error', 'worker process ' || $1 || ' took the job but is not working it (the answer of its fetch was lost): job rescued',
        'trace', ''))
WHERE state = 'running' AND attempted_by[cardinality(attempted_by)] = $1
  AND attempted_at < now() - $2 * interval '1 microsecond' AND NOT (id = ANY($3))`

// rescueOrphans rescues the process's orphaned jobs (see [Config.Working]) and returns how many.
func (h *Heart) rescueOrphans(ctx context.Context) (int64, error) {
	// The set is read before the statement runs: a job started since was taken less than
	// DeadAfter ago, which the statement leaves alone.
	working := h.cfg.Working.IDs()
	ctx, cancel := context.WithTimeout(ctx, h.cfg.DeadAfter)
	defer cancel()
	tag, err := h.pool.Exec(ctx, rescueOrphansSQL, h.clientID, h.cfg.DeadAfter.Microseconds(), working)
	if err != nil {
		return 0, fmt.Errorf("heartbeat: %w", err)
	}
	return tag.RowsAffected(), nil
}
