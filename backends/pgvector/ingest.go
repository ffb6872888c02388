package pgvector

import (
	"context"
	"fmt"
	"math"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	pgv "github.com/pgvector/pgvector-go"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/indexerr"
	"github.com/osa-archive/osa/backends/internal/batchwrite"
)

// Prepare embeds the text of every doc in one [embed.Embedder.Embed] call (the embedder splits
// it by its own input limit) and stores each vector in the doc's Embedding. A doc without text
// gets a permanent error and is not sent to the embedder; a doc the embedder fails gets its
// error (classified by the embedder); an invalid vector (wrong length, NaN, infinite or zero)
// is a permanent error.
func (b *Backend) Prepare(ctx context.Context, docs []backends.Document) []error {
	errs := make([]error, len(docs))
	texts := make([]string, 0, len(docs))
	idx := make([]int, 0, len(docs))
	for i := range docs {
		docs[i].Embedding = nil
		text := backends.Text(docs[i].Metadata, b.cfg.Text)
		if text == "" {
			errs[i] = indexerr.Permanentf("record has no text to embed in fields %s or any other top-level string field",
				strings.Join(b.cfg.Text.Fields, ", "))
			continue
		}
		texts = append(texts, text)
		idx = append(idx, i)
	}
	if len(texts) == 0 {
		return errs
	}
	vecs, embedErrs := b.cfg.Embedder.Embed(ctx, texts)
	if len(vecs) != len(texts) || len(embedErrs) != len(texts) {
		err := fmt.Errorf("embedder %s returned %d vectors and %d errors for %d texts", b.model, len(vecs), len(embedErrs), len(texts))
		for _, i := range idx {
			errs[i] = err
		}
		return errs
	}
	for j, i := range idx {
		if embedErrs[j] != nil {
			errs[i] = fmt.Errorf("error embedding with %s: %w", b.model, embedErrs[j])
		} else if err := b.checkVector(vecs[j]); err != nil {
			errs[i] = indexerr.Permanent(err)
		} else {
			docs[i].Embedding = vecs[j]
		}
	}
	return errs
}

// checkVector reports what makes v unstorable or unsearchable.
func (b *Backend) checkVector(v []float32) error {
	if len(v) != b.dims {
		return fmt.Errorf("embedding has %d dims, the backend %d (model %s)", len(v), b.dims, b.model)
	}
	var norm float64
	for _, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("embedding of model %s holds %v", b.model, x)
		}
		norm += float64(x) * float64(x)
	}
	if norm == 0 {
		// Cosine distance is undefined for it and the HNSW index skips it: never findable.
		return fmt.Errorf("embedding of model %s is the zero vector (the text has nothing the model can represent)", b.model)
	}
	return nil
}

// IngestBatch upserts the docs' vectors in tx in one round trip, keeping a stored row of a newer
// version. Docs must have been through [Backend.Prepare]; a doc without a valid Embedding gets
// an error and is not written. Of several docs of one record, the highest version is written and
// the others share its outcome. A failed write rolls back to a savepoint, so tx stays usable.
func (b *Backend) IngestBatch(ctx context.Context, tx pgx.Tx, docs []backends.Document) []error {
	errs := make([]error, len(docs))
	for i, d := range docs {
		switch {
		case d.Embedding == nil:
			errs[i] = fmt.Errorf("record %s has no embedding: Prepare was not called or failed", d.RecordID)
		case d.Version < 1 || d.Version > math.MaxInt32:
			errs[i] = indexerr.Permanentf("record %s: version %d is out of range", d.RecordID, d.Version)
		default:
			errs[i] = indexerr.Permanent(b.checkVector(d.Embedding))
		}
	}
	rows, winner := batchwrite.Dedupe(docs, errs)
	binary := hasVectorType(tx)
	batchwrite.WriteIsolated(ctx, tx, b.table, rows, errs, func(rows []int) (string, []any) {
		ids := make([]uuid.UUID, len(rows))
		versions := make([]int32, len(rows))
		for k, r := range rows {
			ids[k], versions[k] = docs[r].RecordID, int32(docs[r].Version)
		}
		if binary {
			vecs := make([]pgv.Vector, len(rows))
			for k, r := range rows {
				vecs[k] = pgv.NewVector(docs[r].Embedding)
			}
			return b.sql.upsert, []any{ids, versions, b.model, vecs}
		}
		vecs := make([]string, len(rows))
		for k, r := range rows {
			vecs[k] = pgv.NewVector(docs[r].Embedding).String()
		}
		return b.sql.upsertText, []any{ids, versions, b.model, vecs}
	})
	batchwrite.ShareOutcome(errs, winner)
	return errs
}

// hasVectorType reports whether tx's connection has pgvector's types registered (pgvector-go's
// pgx.RegisterTypes in the pool's AfterConnect), so vectors can be sent in binary.
func hasVectorType(tx pgx.Tx) bool {
	_, ok := tx.Conn().TypeMap().TypeForName("_vector")
	return ok
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
