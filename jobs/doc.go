// Package jobs builds OSA's River client ([NewClient]) from its parts, each a package of its own
// that registers its queues and workers and imports downwards only:
//
//   - jobs/pipeline: the fan-out of record changes to every backend and the per-backend index
//     workers that gather jobs into batches;
//   - jobs/harvest: harvests of sources, in chunks, and their schedules;
//   - jobs/reindex: online rebuilds of a backend;
//   - jobs/admin: River administration (re-queueing failed jobs, queue statistics).
//
// Workers get the client as a field once it is built (each part's Workers.Bind), never from
// their job's context.
//
// # Provider outages
//
// When a backend's embedding provider is down (connection refused, 5xx, timeouts), every batch
// of the backend fails as a whole. Retrying those jobs with River's backoff (attempt⁴ s) would
// make recovery slower the longer the outage lasted and burn one attempt per try, so that a long
// outage ends with records failed. Instead, a batch whose embedding failed as a whole with
// transient errors snoozes its jobs (river.JobSnooze: no attempt used) for a delay that grows with
// the length of the outage: as long as the outage has lasted so far, at least
// [pipeline.Config.OutageRetryMin] and at most [pipeline.Config.OutageRetryMax], less up to 20% drawn at random
// per batch. Once the provider answers again, every waiting job is retried within
// OutageRetryMax (plus River's scheduler interval, 5 s, for snoozes longer than that). An
// outage that never ends loses nothing and does not spin: the jobs stay scheduled and are
// tried again every OutageRetryMax or so, each try one fetch of the job and one embedding call
// per batch.
//
// From the job layer, a provider that is down looks the same as a provider that fails on the
// text of the one record a batch holds. So when a batch fails as a whole while the provider is
// not known to be down, the indexer first embeds a text of its own (the probe): if that works,
// the records' errors are their own and their jobs retry with backoff as before, using an
// attempt. Permanent errors, rate limits, errors of single texts in a batch that otherwise
// embedded, and database errors keep their own outcomes.
//
// The state is per backend and per process, in memory: the first batch that embeds anything
// ends the outage. Each change of state is logged once, at WARN when the outage begins and at
// INFO when the provider is back.
//
// # Rebuilds
//
// Reindexing rebuilds a backend while it keeps answering searches (see the "Online rebuild"
// section of package backends): reindex.Start records a reindexes row, creates the shadow table
// and enqueues the first chunk, in one transaction; from then on the index workers write every
// batch to both tables. Each chunk job copies the next reindex.ChunkSize live records, in id
// order, into the shadow, records its progress and enqueues the next chunk — in one transaction,
// so a crash resumes at the chunk it was on. The finish job builds the shadow's search index once
// and swaps the shadow in.
package jobs
