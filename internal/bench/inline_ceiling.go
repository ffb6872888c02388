package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/embed"
	"github.com/osa-archive/osa/backends/keyword"
	"github.com/osa-archive/osa/backends/pgvector"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/events"
	"github.com/osa-archive/osa/indexstate"
	"github.com/osa-archive/osa/migrations"
	"github.com/osa-archive/osa/records"
	"github.com/osa-archive/osa/search"
)

// inlineBatch is the records one inline transaction writes: the backends' default batch size,
// so that a transaction of the ceiling writes what one index batch of the pipeline writes.
const inlineBatch = config.BatchMaxSizeDefault

// InlineResult is the synchronous ("inline") ceiling of ingest: the end state the pipeline
// reaches for every record — its records and record_versions rows, its record_events row, its
// rows in every backend, and its index_state row in every backend, indexed — written directly,
// without River, by batched multi-row statements from as many writers as the machine has cores,
// in a fresh database of the same server. What the pipeline adds on top is the cost of its
// guarantees (transactional enqueue, per-record and per-backend status and retries, crash
// safety, fairness); its records/s as a share of this is how much of the machine it leaves to
// the work itself.
type InlineResult struct {
	// Backends are the backends written, by name, as in the scenario it is compared with: the
	// keyword backend alone (its table row with both to_tsvectors and its BM25 statistics
	// change), or with the vector backend too (its hash embedding, computed in the timed part as
	// the pipeline's Prepare does, and an HNSW insert).
	Backends []string `json:"backends"`
	// Scenario is the pipeline scenario it bounds ("pipeline" or "both").
	Scenario string `json:"scenario"`
	// Records were written in transactions of BatchSize records by Writers concurrent
	// connections. Each transaction runs one statement for records and record_versions, one
	// for record_events, one per backend (the backend's own IngestBatch) and one per backend for
	// index_state (indexstate.MarkDone).
	Records   int `json:"records"`
	BatchSize int `json:"batch_size"`
	Writers   int `json:"writers"`
	// Seconds is the time from the first transaction's start to the last commit; RecordsPerSec
	// is Records/Seconds.
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"records_per_sec"`
	// MeanBatchMillis is the mean time of one transaction, commit included.
	MeanBatchMillis float64 `json:"mean_batch_ms"`
	// CPU is the machine's CPU use while writing.
	CPU        CPUUse `json:"cpu"`
	LoadBefore string `json:"load_before,omitempty"`
	LoadAfter  string `json:"load_after,omitempty"`
}

// inlineRecordsSQL writes a batch of new records and their first versions in one statement.
const inlineRecordsSQL = `
WITH r AS (
    INSERT INTO records (id, version, metadata)
    SELECT u.id, 1, u.metadata FROM unnest($1::uuid[], $2::jsonb[]) AS u (id, metadata)
    RETURNING id, version, metadata
)
INSERT INTO record_versions (record_id, version, metadata) SELECT id, version, metadata FROM r`

// inlineBackends builds the named backends of the built-in configuration as the server does,
// with the vector backend's hash embedder and without its reuse look-up (every record is new).
func inlineBackends(names []string) ([]backends.Backend, error) {
	var out []backends.Backend
	for _, bc := range config.Default().Backends {
		if !slices.Contains(names, bc.Name) {
			continue
		}
		text := backends.TextConfig{Fields: bc.Text.Fields, MaxChars: bc.Text.MaxChars}
		var (
			b   backends.Backend
			err error
		)
		switch bc.Kind {
		case config.BackendKindKeyword:
			b, err = keyword.New(keyword.Config{Name: bc.Name, Text: text, Language: bc.Language, K1: bc.BM25.K1, B: bc.BM25.B,
				TitleWeight: bc.BM25.TitleWeight, Candidates: bc.BM25.Candidates})
		case config.BackendKindPgvector:
			b, err = pgvector.New(pgvector.Config{Name: bc.Name, Text: text, Embedder: embed.NewHash(embed.HashConfig{Dims: bc.Embedder.Dims}),
				M: bc.HNSW.M, EfConstruction: bc.HNSW.EfConstruction})
		default:
			err = fmt.Errorf("kind %q", bc.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("inline ceiling: backend %q: %w", bc.Name, err)
		}
		out = append(out, b)
	}
	if len(out) != len(names) {
		return nil, fmt.Errorf("inline ceiling: the built-in configuration lacks one of the backends %v", names)
	}
	return out, nil
}

// rawInline measures the inline ceiling over corpus in a scratch database migrated like the
// scenarios', with the backends named (of the built-in configuration) for scenario, from
// writers connections. progress gets the records written so far.
func rawInline(ctx context.Context, adminURL string, cpu *cpuMeter, corpus []map[string]any, names []string, scenario string,
	writers int, progress func(done int)) (res InlineResult, err error) {
	bs, err := inlineBackends(names)
	if err != nil {
		return res, err
	}
	// Not timed: the ids and the canonical JSON the publish path would store.
	ids := make([]uuid.UUID, len(corpus))
	metas := make([][]byte, len(corpus))
	for i, m := range corpus {
		if ids[i], err = uuid.NewV7(); err != nil {
			return res, err
		}
		if metas[i], err = records.CanonicalJSON(m); err != nil {
			return res, err
		}
	}

	db, err := createScratchDB(ctx, adminURL)
	if err != nil {
		return res, err
	}
	defer func() {
		if dropErr := db.drop(ctx); dropErr != nil && err == nil {
			err = dropErr
		}
	}()
	if err := inlineMigrate(ctx, db.url); err != nil {
		return res, err
	}
	pool, err := db.writerPool(ctx, writers)
	if err != nil {
		return res, err
	}
	defer pool.Close()
	for _, b := range bs {
		if err := b.Ensure(ctx, pool); err != nil {
			return res, fmt.Errorf("error creating the table of backend %q: %w", b.Name(), err)
		}
	}

	res = InlineResult{Backends: slices.Clone(names), Scenario: scenario, Records: len(corpus), BatchSize: inlineBatch, Writers: writers,
		LoadBefore: loadAvg()}
	cpu0 := cpu.read()
	start := time.Now()
	nBatches, batchTotal, err := writeBatches(ctx, len(corpus), inlineBatch, writers, func(ctx context.Context, lo, hi int) error {
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return inlineWrite(ctx, tx, bs, ids[lo:hi], metas[lo:hi], corpus[lo:hi])
		})
	}, progress)
	elapsed := time.Since(start)
	res.CPU = cpu0.until(cpu.read())
	if err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.LoadAfter = loadAvg()
	res.Seconds = elapsed.Seconds()
	res.RecordsPerSec = float64(res.Records) / res.Seconds
	if nBatches > 0 {
		res.MeanBatchMillis = float64(batchTotal) / float64(nBatches) / float64(time.Millisecond)
	}
	return res, nil
}

// inlineMigrate migrates the database of url as the server does (the vector extension among it)
// and builds the indexes of the built-in configuration's search fields, which the server builds
// at start-up and every publish maintains.
func inlineMigrate(ctx context.Context, url string) error {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return fmt.Errorf("error connecting to the inline ceiling's database: %w", err)
	}
	defer pool.Close()
	discard := slog.New(slog.DiscardHandler)
	if err := migrations.Up(ctx, pool, discard); err != nil {
		return fmt.Errorf("error migrating the inline ceiling's database: %w", err)
	}
	if err := search.EnsureFieldIndexes(ctx, pool, config.Default().Search.WhereFields(), discard); err != nil {
		return fmt.Errorf("error building the inline ceiling's field indexes: %w", err)
	}
	return nil
}

// inlineWrite writes one batch of new records, and their end state in every backend, in tx.
func inlineWrite(ctx context.Context, tx pgx.Tx, bs []backends.Backend, ids []uuid.UUID, metas [][]byte, corpus []map[string]any) error {
	if _, err := tx.Exec(ctx, inlineRecordsSQL, ids, metas); err != nil {
		return fmt.Errorf("error writing records: %w", err)
	}
	evs := make([]events.Change, len(ids))
	for i, id := range ids {
		evs[i] = events.Change{Type: events.TypePublished, RecordID: id, Version: 1}
	}
	if err := events.InsertTx(ctx, tx, evs); err != nil {
		return err
	}
	for _, b := range bs {
		docs := make([]backends.Document, len(ids))
		for i, id := range ids {
			docs[i] = backends.Document{RecordID: id, Version: 1, Metadata: corpus[i]}
		}
		if err := errors.Join(b.Prepare(ctx, docs)...); err != nil {
			return fmt.Errorf("backend %q: %w", b.Name(), err)
		}
		if err := errors.Join(b.IngestBatch(ctx, tx, docs)...); err != nil {
			return fmt.Errorf("backend %q: %w", b.Name(), err)
		}
		marks := make([]indexstate.Done, len(ids))
		for i, id := range ids {
			marks[i] = indexstate.Done{RecordID: id, Version: 1, Attempt: 1}
		}
		if err := indexstate.MarkDone(ctx, tx, b.Name(), marks); err != nil {
			return err
		}
	}
	return nil
}
