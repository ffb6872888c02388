// Package bench measures OSA end to end on a real PostgreSQL, each figure beside the raw ceiling
// it is bounded by, measured in the same run.
//
// [Ingest] publishes generated records ([Corpus]) through the Connect API of an in-process server
// and waits until every backend has indexed them, in several scenarios — the pipeline alone
// (keyword backend), the pgvector backend, both together, each with the default batch size and
// with batches of one, and both backends under a steady 100 records/s for freshness (commit →
// indexed in every backend) — and measures the ceilings: River no-op jobs/s through the same
// database, batched inserts and COPY of the same vectors into an HNSW-indexed table. Its
// [IngestReport] holds records/s per backend, each as a share of its ceiling, embedding calls per
// record, batch-size histograms and freshness percentiles, compared with the targets;
// [IngestReport.Markdown] renders it and [IngestReport.SVG] charts throughput and freshness over
// time.
//
// [Search] loads a corpus of 100,000 records into both backends and measures recall@10 of vector
// search against exact search, and the latency of every mode at 1 and 8 clients beside the
// vector backend's own statement sent straight to PostgreSQL.
//
// [Rebuild] applies a change of the vector backend that needs a new generation to a running
// server holding 100,000 records while searches and text changes go on, and measures the
// rebuild beside the bulk path (one COPY plus one index build with the same settings), the new
// generation's embedding inputs beside the records whose text changed, and search p99 during it
// beside idle.
//
// [Scale] loads a million records (by default) through the bulk path, drawn and written 1,000 at
// a time, into the vector and keyword backends and a second vector backend of hnsw.type halfvec
// built from the same vectors, and reports each phase's time, the size per record of every table
// and index, recall@10 of both vector types against full-precision exact search, the latency at 1
// client of every mode and of the search features, and the process's peak resident memory.
//
// [Relevance] publishes a dataset in BEIR's layout through the API and measures how well every
// mode ranks it against the dataset's judgements (nDCG@10, Recall@100, MRR@10, zero-hit queries,
// latency), beside a reference BM25 computed here over PostgreSQL's own tokens; variants restart
// the server on the same records with other settings.
//
// [Soak] runs OSA as users run it — the osa binary as an API process and a worker process on a
// scratch database — for 20 minutes under 200 records/s of publishes and updates and 20
// searches/s, with a rebuild, a SIGKILL and restart of the worker and a restart of the database
// on the way, and reports each process's RSS, goroutines and connections, River's queue depth
// and freshness per minute, the faults marked, against its targets ([SoakReport]).
//
// `osa bench ingest|search|rebuild|relevance|provider|soak|scale|all` runs them from the command line; BenchmarkIngest runs a small
// version under `go test -bench`. Each scenario runs in its own scratch database
// (osa_bench_<random>) on the server of the admin URL, dropped when the scenario ends.
package bench
