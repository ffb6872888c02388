package events

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// insertSQL writes the events of one transaction, in the order given: the identity column
// numbers them in that order, and the column defaults stamp them with the transaction's xid
// and the time.
const insertSQL = `
INSERT INTO record_events (type, record_id, version, source, source_id)
SELECT t, r, v, NULLIF(s, ''), NULLIF(si, '')
FROM unnest($1::text[], $2::uuid[], $3::int[], $4::text[], $5::text[]) WITH ORDINALITY AS c(t, r, v, s, si, n)
ORDER BY n`

// InsertTx writes changes to the feed in tx, the transaction that makes them, so a change and
// its event commit together or not at all. No changes is a no-op.
func InsertTx(ctx context.Context, tx pgx.Tx, changes []Change) error {
	if len(changes) == 0 {
		return nil
	}
	types := make([]string, len(changes))
	ids := make([]uuid.UUID, len(changes))
	versions := make([]int32, len(changes))
	srcs := make([]string, len(changes))
	srcIDs := make([]string, len(changes))
	for i, c := range changes {
		if !c.Type.valid() {
			return fmt.Errorf("events: unknown event type %q", c.Type)
		}
		types[i], ids[i], versions[i], srcs[i], srcIDs[i] = string(c.Type), c.RecordID, int32(c.Version), c.Source, c.SourceID
	}
	if _, err := tx.Exec(ctx, insertSQL, types, ids, versions, srcs, srcIDs); err != nil {
		return fmt.Errorf("error writing %d record events: %w", len(changes), err)
	}
	return nil
}
