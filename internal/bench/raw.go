package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	pgv "github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/osa-archive/osa/backends/embed"
	"github.com/osa-archive/osa/config"
)

// The raw ceiling's table has the pgvector backend's index settings (the defaults of
// config.DefaultBackend), so the two differ only by the pipeline.
const (
	rawDims           = config.EmbedderDimsDefault
	rawM              = config.HNSWMDefault
	rawEfConstruction = config.HNSWEfConstructionDefault
	rawBatch          = config.BatchMaxSizeDefault
)

var (
	rawCreateTableSQL = fmt.Sprintf(`CREATE TABLE raw_hnsw (id bigint PRIMARY KEY, embedding vector(%d) NOT NULL)`, rawDims)
	rawCreateIndexSQL = fmt.Sprintf(`CREATE INDEX raw_hnsw_embedding_idx ON raw_hnsw
USING hnsw (embedding vector_cosine_ops) WITH (m = %d, ef_construction = %d)`, rawM, rawEfConstruction)
)

// rawInsertSQL is the batched multi-row insert: one statement per batch, from arrays.
const rawInsertSQL = `INSERT INTO raw_hnsw (id, embedding) SELECT * FROM unnest($1::bigint[], $2::vector[])`

// Methods of [RawResult].
const (
	// RawMethodInsert is batched multi-row inserts from unnest, one transaction per batch.
	RawMethodInsert = "insert"
	// RawMethodCopy is one COPY (binary, pgx CopyFrom) of every row, in one transaction.
	RawMethodCopy = "copy"
)

// RawResult is the raw insert rate into an HNSW-indexed table: the ceiling of vector ingest.
type RawResult struct {
	// Method is how the rows went in: [RawMethodInsert] (also when empty, in reports from before
	// COPY was measured) or [RawMethodCopy].
	Method string `json:"method,omitempty"`
	// Rows were inserted in batches of BatchSize by Writers concurrent connections, each batch
	// its own transaction (with COPY: one batch of every row, one writer).
	Rows      int `json:"rows"`
	BatchSize int `json:"batch_size"`
	Writers   int `json:"writers"`
	// Dims, M and EfConstruction are the vector length and the HNSW index settings.
	Dims           int `json:"dims"`
	M              int `json:"m"`
	EfConstruction int `json:"ef_construction"`
	// Seconds is the time from the first insert to the last commit; RowsPerSec is Rows/Seconds.
	Seconds    float64 `json:"seconds"`
	RowsPerSec float64 `json:"rows_per_sec"`
	// MeanBatchMillis is the mean time of one batch's statement and commit.
	MeanBatchMillis float64 `json:"mean_batch_ms"`
	// CPU is the machine's CPU use while inserting.
	CPU CPUUse `json:"cpu"`
	// Load is the load average before and after.
	LoadBefore string `json:"load_before,omitempty"`
	LoadAfter  string `json:"load_after,omitempty"`
}

// label names r in progress lines and reports: "insert, 1 writer", "COPY".
func (r *RawResult) label() string {
	if r.Method == RawMethodCopy {
		return "COPY"
	}
	return "insert, " + plural(r.Writers, "writer")
}

// rawHNSW measures the raw ceiling in a scratch database: it embeds texts with the hash
// embedder (not timed), then writes the vectors into raw_hnsw(id, embedding) with an HNSW
// index, by method: [RawMethodInsert] in batches of [rawBatch] from writers connections at once,
// or [RawMethodCopy] in one COPY (writers must be 1). progress gets the rows written so far.
func rawHNSW(ctx context.Context, adminURL string, cpu *cpuMeter, texts []string, method string, writers int, progress func(done int)) (res RawResult, err error) {
	if method == RawMethodCopy && writers != 1 {
		return res, fmt.Errorf("raw COPY runs with one writer, got %d", writers)
	}
	vecs, errs := embed.NewHash(embed.HashConfig{Dims: rawDims}).Embed(ctx, texts)
	for i, e := range errs {
		if e != nil {
			return res, fmt.Errorf("error embedding text %d for the raw ceiling: %w", i, e)
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
	if err := rawSetup(ctx, db.url); err != nil {
		return res, err
	}
	pool, err := db.writerPool(ctx, writers)
	if err != nil {
		return res, err
	}
	defer pool.Close()

	ids := make([]int64, len(texts))
	pvs := make([]pgv.Vector, len(texts))
	for i := range texts {
		ids[i], pvs[i] = int64(i+1), pgv.NewVector(vecs[i])
	}
	res = RawResult{Method: method, Rows: len(texts), BatchSize: rawBatch, Writers: writers, Dims: rawDims, M: rawM,
		EfConstruction: rawEfConstruction, LoadBefore: loadAvg()}
	var (
		nBatches   int64
		batchTotal time.Duration
	)
	cpu0 := cpu.read()
	start := time.Now()
	switch method {
	case RawMethodInsert:
		nBatches, batchTotal, err = rawInsert(ctx, pool, ids, pvs, writers, progress)
	case RawMethodCopy:
		res.BatchSize = len(texts)
		err = rawCopy(ctx, pool, ids, pvs, progress)
		nBatches, batchTotal = 1, time.Since(start)
	default:
		err = fmt.Errorf("unknown raw ceiling method %q", method)
	}
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
	res.RowsPerSec = float64(res.Rows) / res.Seconds
	if nBatches > 0 {
		res.MeanBatchMillis = float64(batchTotal) / float64(nBatches) / float64(time.Millisecond)
	}
	return res, nil
}

// rawInsert inserts the rows in batches of [rawBatch] from writers connections at once, each
// batch one statement in its own transaction, and returns the batches and their total time.
func rawInsert(ctx context.Context, pool *pgxpool.Pool, ids []int64, vecs []pgv.Vector, writers int, progress func(done int)) (int64, time.Duration, error) {
	return writeBatches(ctx, len(ids), rawBatch, writers, func(ctx context.Context, lo, hi int) error {
		if _, err := pool.Exec(ctx, rawInsertSQL, ids[lo:hi], vecs[lo:hi]); err != nil {
			return fmt.Errorf("error inserting into raw_hnsw: %w", err)
		}
		return nil
	}, progress)
}

// writeBatches calls write for the items [lo, hi) of n in batches of size, from writers
// goroutines at once, until every batch is written or one fails, and returns the batches
// written and their total time. progress gets the items written so far.
func writeBatches(ctx context.Context, n, size, writers int, write func(ctx context.Context, lo, hi int) error,
	progress func(done int)) (int64, time.Duration, error) {
	batches := make(chan [2]int, n/size+1)
	for lo := 0; lo < n; lo += size {
		batches <- [2]int{lo, min(lo+size, n)}
	}
	close(batches)
	var (
		done       atomic.Int64
		batchTotal atomic.Int64 // nanoseconds
		nBatches   atomic.Int64
		firstErr   error
		errOnce    sync.Once
		wg         sync.WaitGroup
	)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range writers {
		wg.Go(func() {
			for b := range batches {
				if runCtx.Err() != nil {
					return
				}
				t := time.Now()
				if err := write(runCtx, b[0], b[1]); err != nil {
					errOnce.Do(func() { firstErr = err })
					cancel()
					return
				}
				batchTotal.Add(int64(time.Since(t)))
				nBatches.Add(1)
				if progress != nil {
					progress(int(done.Add(int64(b[1] - b[0]))))
				}
			}
		})
	}
	wg.Wait()
	return nBatches.Load(), time.Duration(batchTotal.Load()), firstErr
}

// writerPool opens a pool of writers connections to the database, with pgvector's types
// registered (binary vectors, as the backends send them; the vector extension must exist), and
// opens every connection, so that a clock started next times no connecting.
func (d *scratchDB) writerPool(ctx context.Context, writers int) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(d.url)
	if err != nil {
		return nil, err
	}
	pc.MaxConns = int32(writers)
	pc.AfterConnect = pgxvec.RegisterTypes
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("error connecting to %s: %w", d.name, err)
	}
	var warm sync.WaitGroup
	for range writers {
		warm.Go(func() {
			if c, err := pool.Acquire(ctx); err == nil {
				time.Sleep(10 * time.Millisecond)
				c.Release()
			}
		})
	}
	warm.Wait()
	return pool, nil
}

// rawCopy writes every row in one COPY (pgx CopyFrom: the binary format, vectors as
// pgvector-go values), reporting progress every [rawBatch] rows.
func rawCopy(ctx context.Context, pool *pgxpool.Pool, ids []int64, vecs []pgv.Vector, progress func(done int)) error {
	src := &rawCopySource{ids: ids, vecs: vecs, i: -1, progress: progress}
	n, err := pool.CopyFrom(ctx, pgx.Identifier{"raw_hnsw"}, []string{"id", "embedding"}, src)
	if err != nil {
		return fmt.Errorf("error copying into raw_hnsw: %w", err)
	}
	if int(n) != len(ids) {
		return fmt.Errorf("COPY into raw_hnsw wrote %d rows of %d", n, len(ids))
	}
	return nil
}

// rawCopySource is the [pgx.CopyFromSource] of [rawCopy].
type rawCopySource struct {
	ids      []int64
	vecs     []pgv.Vector
	i        int
	progress func(done int)
}

func (s *rawCopySource) Next() bool {
	s.i++
	if s.progress != nil && s.i > 0 && s.i%rawBatch == 0 {
		s.progress(s.i)
	}
	return s.i < len(s.ids)
}

func (s *rawCopySource) Values() ([]any, error) { return []any{s.ids[s.i], s.vecs[s.i]}, nil }

func (s *rawCopySource) Err() error { return nil }

// rawSetup creates the vector extension and the raw_hnsw table with its index.
func rawSetup(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("error connecting to the raw ceiling's database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, q := range []string{"CREATE EXTENSION IF NOT EXISTS vector", rawCreateTableSQL, rawCreateIndexSQL} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("error preparing the raw ceiling's table: %w", err)
		}
	}
	return nil
}
