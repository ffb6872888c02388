package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/indexstate"
	"github.com/osa-archive/osa/replicas"
)

// Polls of a publish that waits for its records to be indexed: the first after waitPollMin,
// each next one 1.5 times later, at most waitPollMax apart. An interactive publish is indexed
// in tens of milliseconds (worker.fanout_delay plus a backend's batch.max_delay and its write),
// so the first polls come early; the cap keeps a long wait to ten statements a second.
const (
	waitPollMin = 5 * time.Millisecond
	waitPollMax = 100 * time.Millisecond
	// waitDeadlineMargin is how long before the client's own deadline a wait answers, so that the
	// client gets the report of what is not indexed rather than its deadline's error.
	waitDeadlineMargin = 100 * time.Millisecond
)

// indexWaiter waits, for a publish with wait_indexed, until every live backend has indexed the
// versions it stored: read-your-writes, as Elasticsearch's refresh=wait_for. It polls
// index_state ([indexstate.OfRecords]) with a short backoff; each poll is one statement on a
// connection taken from the pool for it, so a waiting request holds no connection between
// polls.
type indexWaiter struct {
	db     indexstate.DB
	live   func() []string // the live backends' names, read again at every poll
	logger *slog.Logger
	// stopping is closed when the server shuts down: every wait answers with what it has.
	stopping <-chan struct{}
	// timeoutDefault and timeoutMax are records.wait_timeout_default and records.wait_timeout_max.
	timeoutDefault, timeoutMax time.Duration
	// replicas returns the replicas reads may go to now, whose wait follows the primary's
	// (waitReplicas); nil without replicas.
	replicas func() []replicas.Replica
}

// waitTarget is a version of a record that a publish waits for.
type waitTarget struct {
	id      uuid.UUID
	version int
}

// timeout checks a request's wait_indexed and wait_timeout (field prefix names where they are)
// and returns how long to wait: records.wait_timeout_default when wait_timeout is unset or 0s.
func (w *indexWaiter) timeout(prefix string, wait bool, d *durationpb.Duration) (time.Duration, error) {
	field := prefix + "wait_timeout"
	if d == nil {
		return w.timeoutDefault, nil
	}
	if !wait {
		return 0, domainerr.Invalid(field, "is set without wait_indexed: set wait_indexed: true to wait, or leave wait_timeout out")
	}
	if err := d.CheckValid(); err != nil {
		return 0, domainerr.Invalid(field, "is not a valid duration: %v", err)
	}
	t := d.AsDuration()
	switch {
	case t < 0:
		return 0, domainerr.Invalid(field, "%s is negative; leave it unset or 0s for records.wait_timeout_default (%s)", t, w.timeoutDefault)
	case t == 0:
		return w.timeoutDefault, nil
	case t > w.timeoutMax:
		return 0, domainerr.Invalid(field, "%s is longer than records.wait_timeout_max (%s)", t, w.timeoutMax)
	}
	return t, nil
}

// wait polls until every live backend has settled every target ([indexstate.Status.Settled]),
// timeout has passed, ctx's deadline is near or the server shuts down, whichever comes first.
// It returns, for each target, the status of every live backend that does not hold its version
// Indexed: pending ones (the time ran out), and the terminal Failed, Empty and Deleted, which
// end a backend's wait at once. A target that every live backend indexed has none. A failed
// poll is logged and tried again at the next one: the records are stored whatever the wait
// sees, so only the end of ctx ends the call with an error. With replicas, the wait then
// follows them within the same time (waitReplicas).
func (w *indexWaiter) wait(ctx context.Context, targets []waitTarget, timeout time.Duration) ([][]indexstate.Status, error) {
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Add(-waitDeadlineMargin).Before(deadline) {
		deadline = d.Add(-waitDeadlineMargin)
	}
	seen := map[uuid.UUID]map[string]indexstate.Status{}
	settled := func(t waitTarget, backend string) bool {
		st, ok := seen[t.id][backend]
		return ok && st.Settled(t.version)
	}
	open := targets
	var live []string
	for pause := waitPollMin; ; pause = min(pause*3/2, waitPollMax) {
		live = w.live()
		ids := make([]uuid.UUID, 0, len(open))
		for _, t := range open {
			ids = append(ids, t.id) // a record twice in a batch is read twice: harmless
		}
		if len(live) > 0 && len(ids) > 0 {
			got, err := indexstate.OfRecords(ctx, w.db, ids, live)
			switch {
			case ctx.Err() != nil:
				return nil, ctx.Err()
			case err != nil:
				w.logger.WarnContext(ctx, "server: error reading index state for wait_indexed; trying again", "error", err)
			default:
				for id, byBackend := range got {
					seen[id] = byBackend
				}
			}
		}
		next := open[:0:0]
		for _, t := range open {
			for _, b := range live {
				if !settled(t, b) {
					next = append(next, t)
					break
				}
			}
		}
		open = next
		if len(open) == 0 {
			break
		}
		again, err := w.sleep(ctx, deadline, pause)
		if err != nil {
			return nil, err
		}
		if !again {
			break
		}
	}
	out := make([][]indexstate.Status, len(targets))
	for i, t := range targets {
		out[i] = notIndexed(t, live, seen[t.id])
	}
	if w.replicas != nil {
		if err := w.waitReplicas(ctx, targets, live, out, deadline); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// notIndexed returns, of the live backends, those that do not hold t's version Indexed in rows
// (a record's index_state rows by backend), with their status: pending ones, and the terminal
// Failed, Empty and Deleted.
func notIndexed(t waitTarget, live []string, rows map[string]indexstate.Status) []indexstate.Status {
	var out []indexstate.Status
	for _, b := range live {
		st, ok := rows[b]
		switch {
		case ok && st.Settled(t.version) && st.State == indexstate.Indexed:
			continue
		case !ok:
			st = indexstate.Status{Backend: b, State: indexstate.Pending, Version: t.version}
		case !st.Settled(t.version) && st.Version < t.version:
			// The version's fan-out has not reached the backend: what the row says is about an
			// older version.
			st.State, st.Version, st.Attempts, st.LastError = indexstate.Pending, t.version, 0, ""
		case !st.Settled(t.version):
			st.State = indexstate.Pending
		}
		out = append(out, st)
	}
	return out
}

// waitReplicas goes on waiting, for the targets that every live backend holds on the primary
// (out[i] empty), until every replica that reads may go to (w.replicas, asked again at every
// poll) shows them indexed too, or until deadline: a search right after the publish finds them
// wherever it is routed. A target some replica does not show indexed by then gets that
// replica's view in out[i], what a search routed there would see. A replica that lags beyond
// database.max_replica_lag meanwhile takes no reads, and leaves the wait.
func (w *indexWaiter) waitReplicas(ctx context.Context, targets []waitTarget, live []string, out [][]indexstate.Status,
	deadline time.Time) error {
	var open []int
	for i := range targets {
		if len(out[i]) == 0 {
			open = append(open, i)
		}
	}
	if len(live) == 0 {
		return nil
	}
	behind := map[int]map[string]indexstate.Status{} // a target's rows on a replica that lacks it
	for pause := waitPollMin; len(open) > 0; pause = min(pause*3/2, waitPollMax) {
		clear(behind)
		ids := make([]uuid.UUID, len(open))
		for j, i := range open {
			ids[j] = targets[i].id
		}
		for _, rep := range w.replicas() {
			got, err := indexstate.OfRecords(ctx, rep.Pool, ids, live)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			for _, i := range open {
				if err != nil || len(notIndexed(targets[i], live, got[targets[i].id])) > 0 {
					behind[i] = got[targets[i].id] // nil after an error: every backend pending
				}
			}
			if err != nil {
				// The probes take a replica that fails out of the routing, and so out of the wait.
				w.logger.DebugContext(ctx, "server: error reading index state on a replica for wait_indexed; trying again",
					"replica", rep.Name, "error", err)
			}
		}
		next := open[:0:0]
		for _, i := range open {
			if _, ok := behind[i]; ok {
				next = append(next, i)
			}
		}
		if open = next; len(open) == 0 {
			break
		}
		again, err := w.sleep(ctx, deadline, pause)
		if err != nil {
			return err
		}
		if !again {
			break
		}
	}
	for _, i := range open {
		out[i] = notIndexed(targets[i], live, behind[i])
	}
	return nil
}

// sleep waits pause, or until deadline when that comes first, and reports whether to poll
// again: not once the deadline has passed or the server shuts down. The end of ctx is its error.
func (w *indexWaiter) sleep(ctx context.Context, deadline time.Time, pause time.Duration) (bool, error) {
	left := time.Until(deadline)
	if left <= 0 {
		return false, nil
	}
	timer := time.NewTimer(min(pause, left))
	defer timer.Stop()
	select {
	case <-timer.C:
		return true, nil
	case <-w.stopping:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}
