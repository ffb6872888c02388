// Package bench measures OSA end to end on a real PostgreSQL. [Ingest] is the ingest benchmark:
// it publishes generated records through the Connect API of an in-process server and waits until
// every backend has indexed them, in several scenarios — the pipeline alone (keyword backend),
// the pgvector backend, both together, each with the default batch size and with batches of one
// — and measures in the same run the raw ceiling of vector ingest, batched inserts into an
// HNSW-indexed table. Its [IngestReport] holds records/s per backend, embedding calls per record
// and the batch-size histograms, compared with the targets; [IngestReport.Markdown]
// renders it.
//
// `osa bench ingest` runs it from the command line; BenchmarkIngest runs a small version under
// `go test -bench`. Each scenario runs in its own scratch database (osa_bench_<random>) on the
// server of [IngestOpts.AdminURL], dropped when the scenario ends.
package bench
