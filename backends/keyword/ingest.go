package keyword

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/indexerr"
	"github.com/osa-archive/osa/backends/internal/batchwrite"
)

// Prepare has nothing to do outside the database: it only gives a doc without text an
// [indexerr.NoTextError].
func (b *Backend) Prepare(_ context.Context, docs []backends.Document) []error {
	errs := make([]error, len(docs))
	for i, d := range docs {
		if backends.Text(d.Metadata, b.cfg.Text) == "" {
			errs[i] = b.errNoText()
		}
	}
	return errs
}

func (b *Backend) errNoText() error {
	return indexerr.NoTextf("record has no text to index in fields %s or any other top-level string field",
		strings.Join(b.cfg.Text.Fields, ", "))
}

// IngestBatch upserts the docs' tsvectors in tx in one round trip, keeping a stored row of a
// newer version. Of several docs of one record, the highest version is written and the others
// share its outcome. A doc whose tsvector Postgres rejects gets a permanent error and the others
// are written. A failed write rolls back to a savepoint, so tx normally stays usable.
func (b *Backend) IngestBatch(ctx context.Context, tx pgx.Tx, docs []backends.Document) []error {
	errs := make([]error, len(docs))
	titles := make([]string, len(docs))
	bodies := make([]string, len(docs))
	for i, d := range docs {
		titles[i], bodies[i] = backends.TextParts(d.Metadata, b.cfg.Text)
		switch {
		case titles[i] == "" && bodies[i] == "":
			errs[i] = b.errNoText()
		case d.Version < 1 || d.Version > math.MaxInt32:
			errs[i] = indexerr.Permanentf("record %s: version %d is out of range", d.RecordID, d.Version)
		}
	}
	rows, winner := batchwrite.Dedupe(docs, errs)
	batchwrite.WriteIsolated(ctx, tx, b.table, rows, errs, func(rows []int) (string, []any) {
		ids := make([]uuid.UUID, len(rows))
		versions := make([]int32, len(rows))
		ts := make([]string, len(rows))
		bs := make([]string, len(rows))
		for k, r := range rows {
			ids[k], versions[k], ts[k], bs[k] = docs[r].RecordID, int32(docs[r].Version), titles[r], bodies[r]
		}
		return b.sql.upsert, []any{ids, versions, b.cfg.Language, ts, bs}
	})
	batchwrite.ShareOutcome(errs, winner)
	if b.writes.Add(1)%compactEvery == 0 {
		b.compact(ctx, tx)
	}
	return errs
}

// compactEvery is how many IngestBatch calls of one backend (per process) go between two
// compactions of its statistics.
const compactEvery = 16

// compact sums up the statistics' rows of changes in tx, under a savepoint: the rows stay
// correct without it, only more numerous, so a compaction that fails is rolled back and left
// to the next one.
func (b *Backend) compact(ctx context.Context, tx pgx.Tx) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return
	}
	if _, err := sp.Exec(ctx, b.sql.compact); err != nil {
		_ = sp.Rollback(ctx)
		return
	}
	_ = sp.Commit(ctx)
}

// DeleteBatch removes the rows of ids in tx; ids without a row are ignored.
func (b *Backend) DeleteBatch(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, b.sql.delete, ids); err != nil {
		return fmt.Errorf("error deleting from %s: %w", b.table, err)
	}
	return nil
}
