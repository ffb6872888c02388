package records

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Index states of a record in one backend (index_state.state).
const (
	StatePending = "pending"
	StateIndexed = "indexed"
	StateFailed  = "failed"
	StateDeleted = "deleted"
)

// IndexStatus is where one record stands in one backend.
type IndexStatus struct {
	Backend string
	// State is one of StatePending, StateIndexed, StateFailed, StateDeleted.
	State string
	// Version is the version the backend is asked to reach.
	Version int
	// IndexedVersion is the version the backend holds; 0 when none.
	IndexedVersion int
	// Attempts counts the tries of the latest index job.
	Attempts int
	// LastError is the latest failure, "" after a success.
	LastError string
	// IndexedAt is when the backend last wrote the record; nil before the first write.
	IndexedAt *time.Time
	UpdatedAt time.Time
}

// IndexStatus returns the record's current version and its status in each of backends, in that
// order. A backend the fan-out of the current version (or of the delete) has not reached yet
// reports pending at the current version, with what it holds as IndexedVersion.
func (s *Store) IndexStatus(ctx context.Context, srn SRN, backends []string) (int, []IndexStatus, error) {
	if srn.Domain != s.cfg.Domain {
		return 0, nil, ErrNotFound
	}
	var (
		version   int
		deleted   bool
		updatedAt time.Time
	)
	err := s.pool.QueryRow(ctx, `SELECT version, deleted_at IS NOT NULL, updated_at FROM records WHERE id = $1`, srn.ID).
		Scan(&version, &deleted, &updatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, ErrNotFound
	}
	if err != nil {
		return 0, nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT backend, state, version, COALESCE(indexed_version, 0), attempts,
		COALESCE(last_error, ''), indexed_at, updated_at FROM index_state WHERE record_id = $1`, srn.ID)
	if err != nil {
		return 0, nil, err
	}
	found := map[string]IndexStatus{}
	var st IndexStatus
	_, err = pgx.ForEachRow(rows, []any{&st.Backend, &st.State, &st.Version, &st.IndexedVersion, &st.Attempts,
		&st.LastError, &st.IndexedAt, &st.UpdatedAt}, func() error {
		found[st.Backend] = st
		st = IndexStatus{} // the next row must not scan into this row's IndexedAt
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	out := make([]IndexStatus, len(backends))
	for i, b := range backends {
		st, ok := found[b]
		switch {
		case !ok:
			st = IndexStatus{Backend: b, State: StatePending, Version: version, UpdatedAt: updatedAt}
		case st.Version < version || (deleted && st.State != StateDeleted) || (!deleted && st.State == StateDeleted):
			// The change is committed but its fan-out has not run: the backend has work to do.
			st.State, st.Version, st.LastError = StatePending, version, ""
		}
		out[i] = st
	}
	return version, out, nil
}
