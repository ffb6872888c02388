// Package suites proves OSA under load and faults with real `osa serve` processes, built from
// cmd/osa once per test binary and started on loopback ports against a fresh database:
//
//   - crash: worker processes SIGKILLed at random points while records are published and
//     indexed, and API processes SIGKILLed mid-PublishRecords (crash_test.go);
//   - outage: the embedding provider down (HTTP 500), rate limiting (429 with Retry-After) and
//     the database restarted mid-ingest (outage_test.go);
//   - scale-out: one api and three worker processes sharing the work, one of them stopped
//     gracefully (scaleout_test.go);
//   - PgBouncer: the pipeline, a rebuild and the worker crash suite through PgBouncer in
//     transaction mode, started in front of the test cluster (pgbouncer_test.go);
//   - network faults: a TCP fault proxy (toxiproxy, in the test process; faultproxy_test.go)
//     between an osa process and PostgreSQL adding 200 ms each way for 20 s, resetting every
//     connection every 2 s for 20 s, swallowing everything for 10 s, or limiting each connection
//     to 64 KB/s for 20 s, during an ingest: publishes succeed or fail Unavailable or
//     DeadlineExceeded and are never half-written, /readyz reports the outage and only it, the
//     process recovers by itself and its goroutines and connections come back down; the times
//     to recover are logged (netfault_test.go).
//
// Each suite ends with the same checks: every record at its latest version in every backend
// table, index_state agreeing, and no River job left unfinished, discarded or cancelled.
//
// The package holds tests only. Knobs, as environment variables:
//
//   - OSA_SUITE_RECORDS: records of the crash and scale-out suites (default 2000; the issue's
//     full run is 20000);
//   - OSA_SUITE_OUTAGE: how long the provider and the database stay down (default 8s; the
//     issue's full run is 30s);
//   - OSA_SUITE_SEED: the seed of the random kill points, printed by every run, to repeat one;
//   - OSA_SUITE_BIN: an osa binary to test instead of building cmd/osa;
//   - OSA_SUITE_KEEP: a directory to keep each test's config files and process logs in (by
//     default they go to a temporary directory, and a failing test prints their tails).
//
// The full run of the issue, `OSA_SUITE_RECORDS=20000 OSA_SUITE_OUTAGE=30s`, needs
// `go test -timeout 30m`. They need PostgreSQL like every other test (`make test`, or
// `go run ./internal/cmd/withpg -- go test ./internal/suites/`); the database outage suite
// starts a private cluster of its own with internal/devpg, since it stops and starts it.
package suites
