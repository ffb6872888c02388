package records

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/indexstate"
)

// IndexStatus returns the record's current version and its status in each of backends, in that
// order. A backend the fan-out of the current version (or of the delete) has not reached yet
// reports pending at the current version, with what it holds as IndexedVersion.
func (s *Store) IndexStatus(ctx context.Context, srn SRN, backends []string) (int, []indexstate.Status, error) {
	if srn.Domain != s.cfg.Domain {
		return 0, nil, otherDomain(srn, s.cfg.Domain)
	}
	var (
		version   int
		deleted   bool
		updatedAt time.Time
	)
	err := s.readPool(ctx).QueryRow(ctx, `SELECT version, deleted_at IS NOT NULL, updated_at FROM records WHERE id = $1`, srn.ID).
		Scan(&version, &deleted, &updatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, ErrNotFound
	}
	if err != nil {
		return 0, nil, err
	}
	found, err := indexstate.OfRecord(ctx, s.readPool(ctx), srn.ID)
	if err != nil {
		return 0, nil, err
	}
	out := make([]indexstate.Status, len(backends))
	for i, b := range backends {
		st, ok := found[b]
		switch {
		case !ok:
			st = indexstate.Status{Backend: b, State: indexstate.Pending, Version: version, UpdatedAt: updatedAt}
		case st.Version < version || (deleted && st.State != indexstate.Deleted) || (!deleted && st.State == indexstate.Deleted):
			// The change is committed but its fan-out has not run: the backend has work to do.
			st.State, st.Version, st.LastError = indexstate.Pending, version, ""
		}
		out[i] = st
	}
	return version, out, nil
}
