package replicas

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ProbeTimeout bounds one probe of the primary or of a replica: a replica that does not answer
// within it is down until a probe does.
const ProbeTimeout = 2 * time.Second

// replica is a configured replica and its last measurement.
type replica struct {
	Replica
	state atomic.Pointer[state]
	// mu serialises the logging of state changes.
	mu sync.Mutex
}

func newReplica(r Replica) *replica {
	rep := &replica{Replica: r}
	rep.state.Store(&state{err: "not probed yet"})
	return rep
}

// state is what the last probe of a replica found.
type state struct {
	// up is set when the probe answered, from a standby.
	up bool
	// asOf is the time whose primary data the replica holds: everything committed on the primary
	// by then has been replayed. Zero when never measured.
	asOf time.Time
	// err is why the replica is not up.
	err string
}

// lsn is a position in the WAL.
type lsn uint64

// parseLSN reads PostgreSQL's text form of a pg_lsn, "16/B374D848".
func parseLSN(s string) (lsn, error) {
	hi, lo, ok := strings.Cut(s, "/")
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%q is not a WAL position", s)
	}
	return lsn(h<<32 | l), nil
}

// history is the primary's WAL positions as the probes read them, newest last, kept for keep.
type history struct {
	keep    time.Duration
	mu      sync.Mutex
	samples []sample
}

// sample is the primary's WAL position read by a statement sent at at: every transaction
// committed by at had written its WAL below pos.
type sample struct {
	at  time.Time
	pos lsn
}

func (h *history) add(s sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.samples = append(h.samples, s)
	cut := 0
	for cut < len(h.samples)-1 && s.at.Sub(h.samples[cut].at) > h.keep {
		cut++
	}
	h.samples = h.samples[cut:]
}

// replayedAsOf returns the time of the newest sample whose position a replica that has replayed
// up to pos has passed: the replica holds the primary's data as of then. Zero when no sample
// kept is below pos.
func (h *history) replayedAsOf(pos lsn) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	// The primary's position only grows: the samples are in position order too.
	i := sort.Search(len(h.samples), func(i int) bool { return h.samples[i].pos > pos })
	if i == 0 {
		return time.Time{}
	}
	return h.samples[i-1].at
}

// Run probes every replica at once and then every Config.ProbeInterval, until ctx ends.
func (r *Router) Run(ctx context.Context) {
	if !r.Enabled() {
		return
	}
	t := time.NewTicker(r.cfg.ProbeInterval)
	defer t.Stop()
	for {
		r.Probe(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// primarySQL reads the primary's WAL position: the end of what it has written, which covers
// every transaction committed before the statement (with synchronous_commit = off, up to
// wal_writer_delay of them may not be written yet).
const primarySQL = `SELECT pg_current_wal_lsn()::text`

// replicaSQL reads what a replica has replayed: its WAL position, and how old the last
// transaction it replayed is (NULL before it replayed one).
const replicaSQL = `SELECT pg_is_in_recovery(), COALESCE(pg_last_wal_replay_lsn()::text, ''),
       EXTRACT(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8`

// Probe measures every replica once: the primary's WAL position first, then each replica's,
// concurrently, each within ProbeTimeout. A replica's lag is the age of the primary data it
// holds, the most recent of two bounds:
//
//   - the newest probe of the primary whose WAL position the replica has replayed: its data is
//     at least that recent. It is exact to a probe interval, and right on an idle primary,
//     where the last transaction replayed is old but nothing newer exists;
//   - the commit time of the last transaction it replayed: under a steady stream of writes
//     that is milliseconds old, finer than the probe interval (it reads the clocks of both
//     servers, which should agree to within milliseconds).
func (r *Router) Probe(ctx context.Context) {
	if !r.Enabled() {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	at := time.Now()
	var pos string
	err := r.primary.QueryRow(pctx, primarySQL).Scan(&pos)
	cancel()
	if err == nil {
		if p, err := parseLSN(pos); err == nil {
			r.samples.add(sample{at: at, pos: p})
		}
	}
	var wg sync.WaitGroup
	for _, rep := range r.replicas {
		wg.Go(func() { r.probeReplica(ctx, rep) })
	}
	wg.Wait()
}

// probeReplica measures rep and stores what it found.
func (r *Router) probeReplica(ctx context.Context, rep *replica) {
	pctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	var (
		standby bool
		replay  string
		age     *float64
	)
	err := rep.Pool.QueryRow(pctx, replicaSQL).Scan(&standby, &replay, &age)
	answered := time.Now()
	prev := rep.state.Load()
	next := &state{asOf: prev.asOf}
	switch {
	case err != nil && ctx.Err() != nil:
		return // shutting down
	case err != nil:
		next.err = oneLine(err)
		// Connections to a replica that went away are broken: open new ones once it is back.
		rep.Pool.Reset()
	case !standby:
		next.err = "not a standby (pg_is_in_recovery() is false): a promoted replica no longer follows the primary"
	default:
		next.up = true
		if p, err := parseLSN(replay); err == nil {
			next.asOf = later(next.asOf, r.samples.replayedAsOf(p))
		}
		if age != nil {
			next.asOf = later(next.asOf, answered.Add(-time.Duration(*age*float64(time.Second))))
		}
	}
	rep.state.Store(next)
	r.logChange(rep, prev, next, answered)
}

// markDown takes rep out of routing after a read failed on it with a connection fault, until a
// probe finds it up again.
func (rep *replica) markDown(err error, logger *slog.Logger) {
	prev := rep.state.Load()
	if !prev.up {
		return
	}
	next := &state{asOf: prev.asOf, err: oneLine(err)}
	if rep.state.CompareAndSwap(prev, next) {
		rep.Pool.Reset()
		logger.Warn("replicas: a read failed on a replica; reads go to the primary until a probe finds it up",
			"replica", rep.Name, "error", next.err)
	}
}

// logChange logs a replica going down, coming back, or crossing the lag bound.
func (r *Router) logChange(rep *replica, prev, next *state, now time.Time) {
	rep.mu.Lock()
	defer rep.mu.Unlock()
	wasIn, isIn := r.routable(prev, now), r.routable(next, now)
	switch {
	case prev.up && !next.up:
		r.cfg.Logger.Warn("replicas: replica down; its reads go to the primary", "replica", rep.Name, "error", next.err)
	case !prev.up && next.up && isIn:
		r.cfg.Logger.Info("replicas: replica up; reads go to it", "replica", rep.Name, "lag", now.Sub(next.asOf).Round(time.Millisecond))
	case !prev.up && next.up:
		r.cfg.Logger.Info("replicas: replica up, but lagging beyond database.max_replica_lag; reads stay on the primary",
			"replica", rep.Name, "max_replica_lag", r.cfg.MaxLag)
	case wasIn && !isIn:
		r.cfg.Logger.Warn("replicas: replica lags beyond database.max_replica_lag; its reads go to the primary",
			"replica", rep.Name, "max_replica_lag", r.cfg.MaxLag)
	case !wasIn && isIn && prev.up:
		r.cfg.Logger.Info("replicas: replica caught up; reads go to it again", "replica", rep.Name,
			"lag", now.Sub(next.asOf).Round(time.Millisecond))
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// oneLine folds a multi-line error (pgx's connect errors, one line per address) into one line.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
