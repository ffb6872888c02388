package records

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// VersionsMax is the most versions [Store.Versions] returns: the newest.
const VersionsMax = 100

// Version is one published version of a record.
type Version struct {
	Version     int
	Metadata    json.RawMessage
	PublishedAt time.Time
}

// Versions returns the newest [VersionsMax] versions of the record srn names (its version, if
// any, is ignored), newest first. A record of another domain, or absent, is [ErrNotFound].
func (s *Store) Versions(ctx context.Context, srn SRN) ([]Version, error) {
	if srn.Domain != s.cfg.Domain {
		return nil, otherDomain(srn, s.cfg.Domain)
	}
	rows, err := s.readPool(ctx).Query(ctx, `SELECT version, metadata, created_at FROM record_versions WHERE record_id = $1
		ORDER BY version DESC LIMIT $2`, srn.ID, VersionsMax)
	if err != nil {
		return nil, fmt.Errorf("error reading the versions of %s: %w", srn, err)
	}
	vs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Version, error) {
		var v Version
		err := row.Scan(&v.Version, &v.Metadata, &v.PublishedAt)
		return v, err
	})
	if err != nil {
		return nil, fmt.Errorf("error reading the versions of %s: %w", srn, err)
	}
	if len(vs) == 0 {
		return nil, ErrNotFound
	}
	return vs, nil
}
