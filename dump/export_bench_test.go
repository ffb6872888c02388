package dump

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/internal/pgtest"
)

// discardSink counts what an export writes.
type discardSink struct{ bytes, records int64 }

func (s *discardSink) Start(Start) error { return nil }

func (s *discardSink) Write(chunk []byte, records int64) error {
	s.bytes += int64(len(chunk))
	s.records += records
	return nil
}

// benchRecords is the number of records of [BenchmarkExport].
const benchRecords = 20000

// BenchmarkExport exports 20,000 records of GEO-like metadata (about 600 bytes each, 1 % with
// an earlier version) to a sink that discards them: the exporter's own cost, per record. Run
// it with a CPU profile to see where an export's time goes:
//
//	go run ./internal/cmd/withpg -- go test -run '^$' -bench BenchmarkExport -cpuprofile /tmp/export.prof ./dump/
func BenchmarkExport(b *testing.B) {
	ctx := context.Background()
	x := NewExporter(benchDatabase(b), "localhost", ExportConfig{})
	var sink discardSink
	for b.Loop() {
		sink = discardSink{}
		if _, err := x.Export(ctx, ExportParams{}, &sink); err != nil {
			b.Fatal(err)
		}
	}
	if sink.records != benchRecords {
		b.Fatalf("exported %d records, want %d", sink.records, benchRecords)
	}
	b.ReportMetric(float64(benchRecords)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(sink.bytes)/benchRecords, "bytes/record")
}

// benchDatabase returns a pool on a fresh database holding [benchRecords] records.
func benchDatabase(b *testing.B) *pgxpool.Pool {
	b.Helper()
	pool := pgtest.New(b)
	if _, err := pool.Exec(context.Background(), `
WITH r AS (
    INSERT INTO records (id, version, metadata, source, source_id)
    SELECT gen_random_uuid(), CASE WHEN g % 100 = 0 THEN 2 ELSE 1 END,
           jsonb_build_object('accession', 'GSE' || g, 'title', 'Series ' || g || ': ' || md5(g::text),
               'summary', repeat(md5((g * 7)::text) || ' ', 12), 'organism', 'Homo sapiens',
               'sample_count', g % 97, 'pub_date', '2024/01/' || lpad((1 + g % 28)::text, 2, '0')),
           'bench', g::text
    FROM generate_series(1, $1::int) g
    RETURNING id, version, metadata, updated_at
)
INSERT INTO record_versions (record_id, version, metadata, created_at)
SELECT id, v, metadata, updated_at FROM r, generate_series(1, r.version) v`, benchRecords); err != nil {
		b.Fatal(err)
	}
	return pool
}
