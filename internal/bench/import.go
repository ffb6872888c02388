package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/sdk"
)

// Defaults and targets of the import benchmark (issue 20's).
const (
	ImportRecordsDefault      = 20000
	ImportRecordsSmokeDefault = 1000
	// TargetImportOfCeiling is the least share of the bulk path's ceiling an import reaches,
	// from its first byte until every backend has indexed the records.
	TargetImportOfCeiling = 0.50
)

// ImportOpts configures [Import].
type ImportOpts struct {
	// AdminURL is a postgres:// URL whose user may create databases; the benchmark runs in two
	// scratch databases there, dropped at the end.
	AdminURL string
	// Records is the number of records imported. Defaults to 20,000.
	Records int
	// Progress, when set, gets a line per step.
	Progress io.Writer
}

// ImportReport is the outcome of [Import].
type ImportReport struct {
	Command string    `json:"command,omitempty"`
	Date    time.Time `json:"date"`
	Machine Machine   `json:"machine"`
	Records int       `json:"records"`
	Bytes   int64     `json:"bytes"`
	// WriteSeconds is ImportRecords, from its first byte to its answer: the records written;
	// IndexedSeconds from its first byte until the last backend's rebuild swapped in.
	WriteSeconds   float64 `json:"write_seconds"`
	IndexedSeconds float64 `json:"indexed_seconds"`
	// Ceiling are the bulk path's parts, in seconds: COPY (binary, from memory) of the imported
	// rows of each table into a table of the same shape, and one build of each backend's index.
	Ceiling []CeilingPart `json:"ceiling"`
	// SameBytes is set when the export of the imported archive equals the file imported.
	SameBytes bool `json:"same_bytes"`
}

// CeilingPart is one step of the bulk path's ceiling.
type CeilingPart struct {
	What    string  `json:"what"`
	Seconds float64 `json:"seconds"`
}

// CeilingSeconds is the bulk path's whole time.
func (r *ImportReport) CeilingSeconds() float64 {
	var s float64
	for _, p := range r.Ceiling {
		s += p.Seconds
	}
	return s
}

// Import measures ImportRecords of an export of opts.Records generated records into an empty
// archive, until every backend has indexed them, beside the bulk path's ceiling in the same
// run: COPY of the same rows into records, record_versions and each backend's table, and one
// build of each backend's index.
func Import(ctx context.Context, opts ImportOpts) (*ImportReport, error) {
	if opts.Records == 0 {
		opts.Records = ImportRecordsDefault
	}
	progress := func(format string, args ...any) {
		if opts.Progress != nil {
			fmt.Fprintf(opts.Progress, format+"\n", args...)
		}
	}
	rep := &ImportReport{Date: time.Now().UTC(), Records: opts.Records}
	var (
		cpu *cpuMeter
		err error
	)
	if rep.Machine, cpu, err = machineBefore(ctx, opts.AdminURL); err != nil {
		return nil, err
	}

	// The file: an export of generated records.
	file, err := os.CreateTemp("", "osa-bench-import-*.jsonl")
	if err != nil {
		return nil, err
	}
	defer os.Remove(file.Name())
	defer file.Close()
	if err := func() error {
		src, err := createScratchDB(ctx, opts.AdminURL)
		if err != nil {
			return err
		}
		defer src.drop(ctx)
		base, srv, stop, err := startBenchServer(ctx, src.url)
		if err != nil {
			return err
		}
		defer stop()
		if err := generateRecords(ctx, srv.Pool(), opts.Records); err != nil {
			return err
		}
		c, err := sdk.New(base)
		if err != nil {
			return err
		}
		_, err = c.Export(ctx, file, &sdk.ExportOpts{IncludeDeleted: true})
		return err
	}(); err != nil {
		return nil, fmt.Errorf("import benchmark: the export to import: %w", err)
	}
	st, err := file.Stat()
	if err != nil {
		return nil, err
	}
	rep.Bytes = st.Size()
	progress("import: exported %d generated records (%d MB)", opts.Records, rep.Bytes>>20)

	dst, err := createScratchDB(ctx, opts.AdminURL)
	if err != nil {
		return nil, err
	}
	defer dst.drop(ctx)
	base, srv, stop, err := startBenchServer(ctx, dst.url)
	if err != nil {
		return nil, err
	}
	defer stop()
	pool := srv.Pool()
	c, err := sdk.New(base)
	if err != nil {
		return nil, err
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	var start time.Time
	if err := pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&start); err != nil {
		return nil, err
	}
	t0 := time.Now()
	res, err := c.Import(ctx, file, nil)
	if err != nil {
		return nil, err
	}
	rep.WriteSeconds = time.Since(t0).Seconds()
	if res.Imported != int64(opts.Records) {
		return nil, fmt.Errorf("import benchmark: %d of %d records imported: %+v", res.Imported, opts.Records, res.Problems[:min(3, len(res.Problems))])
	}
	progress("import: %d records written in %.1f s; %d rebuilds run", res.Imported, rep.WriteSeconds, len(res.Reindexes))
	for _, j := range res.Reindexes {
		if done, err := c.WaitReindex(ctx, j.ID, nil); err != nil || done.State != sdk.ReindexSucceeded {
			return nil, fmt.Errorf("import benchmark: the rebuild of %s: %+v, %v", j.Backend, done, err)
		}
	}
	if err := pool.QueryRow(ctx, `SELECT extract(epoch FROM max(finished_at) - $1)::float8 FROM reindexes`, start).
		Scan(&rep.IndexedSeconds); err != nil {
		return nil, err
	}
	progress("import: every backend indexed the records %.1f s after the import began", rep.IndexedSeconds)

	var again bytes.Buffer
	if _, err := c.Export(ctx, &again, &sdk.ExportOpts{IncludeDeleted: true}); err != nil {
		return nil, err
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	first, err := io.ReadAll(file)
	if err != nil {
		return nil, err
	}
	rep.SameBytes = bytes.Equal(first, again.Bytes())
	if !rep.SameBytes {
		return nil, errors.New("import benchmark: the export of the imported archive differs from the file imported")
	}

	cfg := config.Default()
	vec := cfg.Backends[0]
	for _, b := range cfg.Backends {
		if b.Kind == config.BackendKindPgvector {
			vec = b
		}
	}
	for _, t := range []struct{ what, table, cols, key, index string }{
		{"COPY of records", "records", "id, version, metadata, source, source_id, created_at, updated_at, deleted_at", "id", ""},
		{"COPY of record_versions", "record_versions", "record_id, version, metadata, created_at", "record_id, version", ""},
		{"COPY of the keyword backend's rows, one GIN build", "kw_keyword", "record_id, version, document, indexed_at", "record_id",
			"USING gin (document)"},
	} {
		copyS, indexS, err := tableCeiling(ctx, pool, t.table, t.cols, t.key, t.index)
		if err != nil {
			return nil, err
		}
		rep.Ceiling = append(rep.Ceiling, CeilingPart{What: t.what, Seconds: copyS + indexS})
	}
	copyS, indexS, err := bulkCeiling(ctx, pool, "vec_"+vec.Name, vec.HNSW.M, vec.HNSW.EfConstruction)
	if err != nil {
		return nil, err
	}
	rep.Ceiling = append(rep.Ceiling, CeilingPart{What: "COPY of the vector backend's rows, one HNSW build", Seconds: copyS + indexS})
	progress("import: ceiling %.1f s", rep.CeilingSeconds())
	rep.Machine.CPUAfter = cpu.sample(ctx, time.Second)
	return rep, nil
}

// tableCeiling times COPY (binary, from memory) of cols of table's rows into a new table of
// the same shape, with key as its primary key, and, when index is set, one CREATE INDEX … index
// on it.
func tableCeiling(ctx context.Context, pool *pgxpool.Pool, table, cols, key, index string) (copySeconds, indexSeconds float64, err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Release()
	pg := conn.Conn().PgConn()
	var buf bytes.Buffer
	if _, err := pg.CopyTo(ctx, &buf, "COPY (SELECT "+cols+" FROM "+table+") TO STDOUT (FORMAT binary)"); err != nil {
		return 0, 0, fmt.Errorf("ceiling: reading %s: %w", table, err)
	}
	ceiling := "bench_ceiling_" + table
	if _, err := conn.Exec(ctx, "CREATE TABLE "+ceiling+" (LIKE "+table+" INCLUDING DEFAULTS INCLUDING CONSTRAINTS, PRIMARY KEY ("+key+"))"); err != nil {
		return 0, 0, fmt.Errorf("ceiling: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+ceiling) //nolint:errcheck // best effort: the scratch database is dropped anyway
	t0 := time.Now()
	if _, err := pg.CopyFrom(ctx, &buf, "COPY "+ceiling+" ("+cols+") FROM STDIN (FORMAT binary)"); err != nil {
		return 0, 0, fmt.Errorf("ceiling: COPY into %s: %w", ceiling, err)
	}
	copySeconds = time.Since(t0).Seconds()
	if index == "" {
		return copySeconds, 0, nil
	}
	t0 = time.Now()
	if _, err := conn.Exec(ctx, "CREATE INDEX ON "+ceiling+" "+index); err != nil {
		return 0, 0, fmt.Errorf("ceiling: index build on %s: %w", ceiling, err)
	}
	return copySeconds, time.Since(t0).Seconds(), nil
}

// Markdown renders the report with its target.
func (r *ImportReport) Markdown() string {
	var b strings.Builder
	r.Machine.writeHeader(&b, "Import benchmark", r.Command, r.Date, "maintenance_work_mem "+r.Machine.Postgres.MaintenanceWorkMem)
	fmt.Fprintf(&b, "A JSONL export of %d generated records (%.1f MB; 1 %% of them with an earlier version) imported with the SDK "+
		"(ImportRecords) into an empty archive (default configuration: the `vector` backend with the `hash` embedder, and "+
		"`keyword`), then indexed by the rebuild of each backend that the import starts. Exported again, the archive gives "+
		"the same bytes: %s.\n\n", r.Records, float64(r.Bytes)/1e6, yesNo(r.SameBytes))
	ceil := r.CeilingSeconds()
	share := ceil / r.IndexedSeconds
	perS := func(s float64) float64 { return float64(r.Records) / s }
	b.WriteString("## Target\n\n| target | measured | goal | met |\n|---|---:|---:|:-:|\n")
	fmt.Fprintf(&b, "| import records/s until every backend indexed them, share of the bulk path's ceiling | %.0f of %.0f/s: %.0f %% | ≥ %.0f %% | %s |\n",
		perS(r.IndexedSeconds), perS(ceil), 100*share, 100*TargetImportOfCeiling, yesNo(share >= TargetImportOfCeiling))
	b.WriteString("\n## Figures\n\n| | seconds | records/s |\n|---|---:|---:|\n")
	fmt.Fprintf(&b, "| ImportRecords: the records written (its answer) | %.1f | %.0f |\n", r.WriteSeconds, perS(r.WriteSeconds))
	fmt.Fprintf(&b, "| import, until the last rebuild swapped in | %.1f | %.0f |\n", r.IndexedSeconds, perS(r.IndexedSeconds))
	for _, p := range r.Ceiling {
		fmt.Fprintf(&b, "| ceiling: %s | %.1f | |\n", p.What, p.Seconds)
	}
	fmt.Fprintf(&b, "| ceiling: all of them | %.1f | %.0f |\n", ceil, perS(ceil))
	fmt.Fprintf(&b, "\nAfter the run: %s.\n", r.Machine.CPUAfter)
	return b.String()
}
