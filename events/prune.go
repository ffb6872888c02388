package events

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PruneBatchDefault is the default of events.prune_batch: how many events one prune
// transaction deletes at most.
const PruneBatchDefault = 1000

// pruneSQL deletes, in one transaction, the oldest events (by place) written before $1, at most
// $2 of them, and moves the horizon to the last place deleted. Events below the new horizon
// that are younger than $1 (written by a transaction with a smaller xid that ran longer) go
// too: a cursor below the horizon is refused anyway. Only final events (xid below the feed's
// horizon in the snapshot, [horizonSQL], as a read exposes them) are considered, so the horizon
// never passes an event still to come, and every event a reader has been shown can be pruned.
var pruneSQL = `
WITH last AS (
    SELECT xid, id FROM (
        SELECT xid, id FROM record_events
        WHERE committed_at < $1 AND xid < ` + horizonSQL + `
        ORDER BY xid, id LIMIT $2
    ) d ORDER BY xid DESC, id DESC LIMIT 1
), gone AS (
    DELETE FROM record_events e USING last WHERE (e.xid, e.id) <= (last.xid, last.id) RETURNING 1
), moved AS (
    UPDATE record_events_horizon h SET xid = last.xid, id = last.id FROM last
    WHERE (last.xid, last.id) > (h.xid, h.id) RETURNING 1
)
SELECT count(*) FROM gone`

// PruneTx deletes in tx the oldest events written before cutoff, at most batch of them (0
// means [PruneBatchDefault]), and returns how many it deleted; fewer than batch means none
// older is left. Cursors before the last event deleted are refused from then on.
func PruneTx(ctx context.Context, tx pgx.Tx, cutoff time.Time, batch int) (int, error) {
	if batch <= 0 {
		batch = PruneBatchDefault
	}
	var n int
	if err := tx.QueryRow(ctx, pruneSQL, cutoff, batch).Scan(&n); err != nil {
		return 0, fmt.Errorf("error pruning events: %w", err)
	}
	return n, nil
}

// Prune deletes every event written before cutoff, batch by batch, each batch in its own
// transaction so none holds its locks (or its xid, which holds the feed back) for long. It
// returns how many it deleted.
func Prune(ctx context.Context, pool *pgxpool.Pool, cutoff time.Time, batch int) (int, error) {
	if batch <= 0 {
		batch = PruneBatchDefault
	}
	total := 0
	for {
		var n int
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			var err error
			n, err = PruneTx(ctx, tx, cutoff, batch)
			return err
		})
		total += n
		if err != nil || n < batch {
			return total, err
		}
	}
}
