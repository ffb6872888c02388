package pgvector

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
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
// it by its own input limit) and stores each vector in the doc's Embedding, and the text's hash
// in its TextHash. A doc without text gets an [indexerr.NoTextError] and is not sent to the embedder; a
// doc the embedder fails gets its error (classified by the embedder); an invalid vector (wrong
// length, NaN, infinite or zero) is a permanent error.
//
// With Config.Reuse, a doc whose row was built from the same text with the same model is not
// embedded: it is marked Unchanged, and IngestBatch only moves its row's version. For the
// shadow table of a rebuild, a doc whose live row was built from the same text with the same
// model gets that row's vector instead of a new one. A doc that comes with a vector made by the
// same model from the same text (see [backends.Document].Embedding) keeps it.
func (b *Backend) Prepare(ctx context.Context, docs []backends.Document) []error {
	errs := make([]error, len(docs))
	texts := make([]string, 0, len(docs))
	idx := make([]int, 0, len(docs))
	offered := 0
	for i := range docs {
		d := &docs[i]
		given, givenModel, givenHash := d.Embedding, d.Model, d.TextHash
		d.Embedding, d.Model, d.TextHash, d.Unchanged = nil, "", nil, false
		text := backends.Text(d.Metadata, b.cfg.Text)
		if text == "" {
			errs[i] = indexerr.NoTextf("record has no text to embed in fields %s or any other top-level string field",
				strings.Join(b.cfg.Text.Fields, ", "))
			continue
		}
		h := sha256.Sum256([]byte(text))
		d.TextHash = h[:]
		if given != nil && givenModel == b.model && bytes.Equal(givenHash, d.TextHash) && b.checkVector(given) == nil {
			d.Embedding, d.Model = given, b.model
			offered++
			continue
		}
		texts = append(texts, text)
		idx = append(idx, i)
	}
	if offered > 0 && b.cfg.OnReuse != nil {
		b.cfg.OnReuse(offered)
	}
	if b.cfg.Reuse != nil && len(idx) > 0 {
		texts, idx = b.reuse(ctx, docs, texts, idx)
	}
	if len(texts) == 0 {
		return errs
	}
	if b.cfg.OnEmbed != nil {
		b.cfg.OnEmbed(len(texts))
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
			docs[i].Embedding, docs[i].Model = vecs[j], b.model
		}
	}
	return errs
}

// reuse marks Unchanged the docs of idx whose row has their text hash (and the backend's model),
// and, on the shadow table of a rebuild, gives a doc the vector of its live row when that row
// was built from the same text with the same model. It returns the texts and indexes left to
// embed. A lookup that fails leaves the docs to embed.
func (b *Backend) reuse(ctx context.Context, docs []backends.Document, texts []string, idx []int) ([]string, []int) {
	ids := make([]uuid.UUID, len(idx))
	for k, i := range idx {
		ids[k] = docs[i].RecordID
	}
	stored := b.storedRows(ctx, b.sql.storedHashes, ids)
	var live map[uuid.UUID]storedRow
	if b.isShadow() {
		live = b.storedRows(ctx, b.sql.storedVectorsLive, ids)
	}
	var (
		leftTexts []string
		leftIdx   []int
	)
	for k, i := range idx {
		d := &docs[i]
		if r, ok := stored[d.RecordID]; ok && bytes.Equal(r.hash, d.TextHash) {
			d.Unchanged = true
			continue
		}
		if r, ok := live[d.RecordID]; ok && bytes.Equal(r.hash, d.TextHash) && b.checkVector(r.vector) == nil {
			d.Embedding, d.Model = r.vector, b.model
			continue
		}
		leftTexts, leftIdx = append(leftTexts, texts[k]), append(leftIdx, i)
	}
	if n := len(idx) - len(leftIdx); n > 0 && b.cfg.OnReuse != nil {
		b.cfg.OnReuse(n)
	}
	return leftTexts, leftIdx
}

// storedRow is what reuse reads of a stored row.
type storedRow struct {
	hash   []byte
	vector []float32 // only from storedVectorsLive
}

// storedRows runs sql (storedHashes or storedVectorsLive) for ids and the backend's model.
func (b *Backend) storedRows(ctx context.Context, sql string, ids []uuid.UUID) map[uuid.UUID]storedRow {
	out := map[uuid.UUID]storedRow{}
	rows, err := b.cfg.Reuse.Query(ctx, sql, ids, b.model)
	if err != nil {
		return out
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id   uuid.UUID
			hash []byte
			vec  *string
		)
		dest := []any{&id, &hash}
		if len(rows.FieldDescriptions()) == 3 {
			dest = append(dest, &vec)
		}
		if rows.Scan(dest...) != nil {
			return map[uuid.UUID]storedRow{}
		}
		r := storedRow{hash: hash}
		if vec != nil {
			var v pgv.Vector
			if v.Parse(*vec) != nil {
				continue
			}
			r.vector = v.Slice()
		}
		out[id] = r
	}
	if rows.Err() != nil {
		return map[uuid.UUID]storedRow{}
	}
	return out
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
	var unchanged []int
	for i, d := range docs {
		switch {
		case d.Version < 1 || d.Version > math.MaxInt32:
			errs[i] = indexerr.Permanentf("record %s: version %d is out of range", d.RecordID, d.Version)
		case d.Unchanged:
			unchanged = append(unchanged, i)
		case d.Embedding == nil:
			errs[i] = fmt.Errorf("record %s has no embedding: Prepare was not called or failed", d.RecordID)
		default:
			errs[i] = indexerr.Permanent(b.checkVector(d.Embedding))
		}
	}
	if len(unchanged) > 0 {
		b.moveVersions(ctx, tx, docs, unchanged, errs)
	}
	write := make([]error, len(docs))
	for i := range write {
		write[i] = errs[i]
		if docs[i].Unchanged && write[i] == nil {
			write[i] = errUnchanged // not written by the upsert
		}
	}
	rows, winner := batchwrite.Dedupe(docs, write)
	binary := hasVectorType(tx)
	batchwrite.WriteIsolated(ctx, tx, b.table, rows, errs, func(rows []int) (string, []any) {
		ids := make([]uuid.UUID, len(rows))
		versions := make([]int32, len(rows))
		hashes := make([][]byte, len(rows))
		for k, r := range rows {
			ids[k], versions[k], hashes[k] = docs[r].RecordID, int32(docs[r].Version), docs[r].TextHash
		}
		if binary {
			vecs := make([]pgv.Vector, len(rows))
			for k, r := range rows {
				vecs[k] = pgv.NewVector(docs[r].Embedding)
			}
			return b.sql.upsert, []any{ids, versions, b.model, vecs, hashes}
		}
		vecs := make([]string, len(rows))
		for k, r := range rows {
			vecs[k] = pgv.NewVector(docs[r].Embedding).String()
		}
		return b.sql.upsertText, []any{ids, versions, b.model, vecs, hashes}
	})
	batchwrite.ShareOutcome(errs, winner)
	return errs
}

// errUnchanged marks, for the upsert, a doc IngestBatch moved instead of writing.
var errUnchanged = errors.New("unchanged")

// moveVersions moves the rows of the Unchanged docs at idx to their docs' versions, under a
// savepoint; a row whose text changed since Prepare (or that is gone) gets a transient error, so
// its job retries and embeds it.
func (b *Backend) moveVersions(ctx context.Context, tx pgx.Tx, docs []backends.Document, idx []int, errs []error) {
	ids := make([]uuid.UUID, len(idx))
	versions := make([]int32, len(idx))
	hashes := make([][]byte, len(idx))
	for k, i := range idx {
		ids[k], versions[k], hashes[k] = docs[i].RecordID, int32(docs[i].Version), docs[i].TextHash
	}
	failed := map[uuid.UUID]bool{}
	err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		rows, err := sp.Query(ctx, b.sql.moveVersion, ids, versions, hashes, b.model)
		if err != nil {
			return err
		}
		var id uuid.UUID
		_, err = pgx.ForEachRow(rows, []any{&id}, func() error {
			failed[id] = true
			return nil
		})
		return err
	})
	for _, i := range idx {
		switch {
		case err != nil:
			errs[i] = fmt.Errorf("error moving the row of record %s to version %d: %w", docs[i].RecordID, docs[i].Version, err)
		case failed[docs[i].RecordID]:
			errs[i] = fmt.Errorf("record %s: its text changed while the batch ran; it is embedded on the retry", docs[i].RecordID)
		}
	}
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
