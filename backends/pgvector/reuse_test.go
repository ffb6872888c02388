package pgvector

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/backends"
)

// With Reuse, a new version whose text is unchanged makes no embedding call and only moves its
// row's version; a changed text is embedded; a rebuild's shadow copies the live row's vector of
// an unchanged text instead of embedding it; and a text that changes between Prepare and
// IngestBatch is retried, not written with a stale vector.
func TestReuseUnchangedText(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bundle := setup(t, 8)
	saved := 0
	bundle.backend = mustNew(t, Config{Name: "vector", Embedder: bundle.embedder, Reuse: bundle.pool,
		OnReuse: func(n int) { saved += n }})
	bundle.ensure(t)
	docs := testDocs(3, 1)
	bundle.ingest(t, docs)
	calls := bundle.embedder.callCount()

	// Version 2: the first record's text is the same (a number changed), the second's changed.
	v2 := []backends.Document{
		{RecordID: docs[0].RecordID, Version: 2, Metadata: map[string]any{"title": "record 0", "summary": "a test record", "sample_count": 12}},
		{RecordID: docs[1].RecordID, Version: 2, Metadata: map[string]any{"title": "record 1, corrected", "summary": "a test record"}},
	}
	if err := errors.Join(bundle.ingest(t, v2)...); err != nil {
		t.Fatal(err)
	}
	if got := bundle.embedder.callCount() - calls; got != 1 || len(bundle.embedder.lastCall()) != 1 {
		t.Fatalf("version 2: %d embedding calls of %v, want one call of the changed text only", got, bundle.embedder.lastCall())
	}
	if saved != 1 || !v2[0].Unchanged || v2[1].Unchanged {
		t.Fatalf("saved %d texts, unchanged %v %v; want 1, the first record only", saved, v2[0].Unchanged, v2[1].Unchanged)
	}
	if got := bundle.versions(t); got[docs[0].RecordID] != 2 || got[docs[1].RecordID] != 2 || got[docs[2].RecordID] != 1 {
		t.Fatalf("versions %v, want both records at 2 and the third at 1", got)
	}
	if !bundle.embeddingIs(t, v2[0]) || !bundle.embeddingIs(t, v2[1]) {
		t.Fatal("a stored vector is not its text's")
	}

	// The text changes after Prepare saw it unchanged: the move fails for that record, to retry.
	v3 := []backends.Document{{RecordID: docs[2].RecordID, Version: 3, Metadata: docs[2].Metadata}}
	if err := errors.Join(bundle.backend.Prepare(ctx, v3)...); err != nil || !v3[0].Unchanged {
		t.Fatalf("Prepare of an unchanged text: %v, unchanged %v", err, v3[0].Unchanged)
	}
	if _, err := bundle.pool.Exec(ctx, `UPDATE vec_vector SET text_hash = 'x' WHERE record_id = $1`, docs[2].RecordID); err != nil {
		t.Fatal(err)
	}
	if errs := bundle.ingestPrepared(t, v3); errs[0] == nil {
		t.Fatal("moving a row whose text changed meanwhile: no error")
	}
	if got := bundle.versions(t); got[docs[2].RecordID] != 1 {
		t.Fatalf("the row whose text changed moved to version %d", got[docs[2].RecordID])
	}

	// A rebuild's shadow copies the live vectors of unchanged texts.
	sh := bundle.backend.Shadow()
	if err := pgx.BeginFunc(ctx, bundle.pool, func(tx pgx.Tx) error { return bundle.backend.CreateShadow(ctx, tx) }); err != nil {
		t.Fatal(err)
	}
	calls = bundle.embedder.callCount()
	copyDocs := []backends.Document{{RecordID: docs[0].RecordID, Version: 2, Metadata: v2[0].Metadata}}
	if err := errors.Join(sh.Prepare(ctx, copyDocs)...); err != nil {
		t.Fatal(err)
	}
	if got := bundle.embedder.callCount() - calls; got != 0 || copyDocs[0].Embedding == nil || copyDocs[0].Unchanged {
		t.Fatalf("shadow Prepare of an unchanged text: %d calls, vector %v, unchanged %v; want the live vector copied", got,
			copyDocs[0].Embedding != nil, copyDocs[0].Unchanged)
	}
	want := bundle.embedder.vector(backends.Text(v2[0].Metadata, backends.TextConfig{}))
	for i := range want {
		if copyDocs[0].Embedding[i] != want[i] {
			t.Fatalf("copied vector %v, want %v", copyDocs[0].Embedding, want)
		}
	}
}

// A doc given to Prepare with a vector that the same model made from the same text (the live
// generation's, in a rebuild's dual write) keeps it with no embedding call; one made by another
// model, or from another text, is embedded again.
func TestPrepareKeepsAnOfferedVector(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bundle := setup(t, 8)
	saved := 0
	bundle.backend = mustNew(t, Config{Name: "vector", Embedder: bundle.embedder, OnReuse: func(n int) { saved += n }})
	made := testDocs(1, 1)
	if err := errors.Join(bundle.backend.Prepare(ctx, made)...); err != nil {
		t.Fatal(err)
	}
	if made[0].Model != bundle.backend.Model() || made[0].Embedding == nil {
		t.Fatalf("Prepare filled model %q and vector %v", made[0].Model, made[0].Embedding != nil)
	}
	offer := func(model string, meta map[string]any) backends.Document {
		return backends.Document{RecordID: made[0].RecordID, Version: 1, Metadata: meta,
			Embedding: made[0].Embedding, Model: model, TextHash: made[0].TextHash}
	}
	for _, c := range []struct {
		name  string
		doc   backends.Document
		calls int
	}{
		{"same model, same text", offer(made[0].Model, made[0].Metadata), 0},
		{"another model", offer("other-model", made[0].Metadata), 1},
		{"another text", offer(made[0].Model, map[string]any{"title": "another title"}), 1},
	} {
		calls, before := bundle.embedder.callCount(), saved
		docs := []backends.Document{c.doc}
		if err := errors.Join(bundle.backend.Prepare(ctx, docs)...); err != nil {
			t.Fatal(err)
		}
		if got := bundle.embedder.callCount() - calls; got != c.calls || docs[0].Embedding == nil || saved-before != 1-c.calls {
			t.Fatalf("%s: %d embedding calls (want %d), vector %v, %d saved", c.name, got, c.calls, docs[0].Embedding != nil, saved-before)
		}
	}
}
