package suites

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/jobs/eventprune"
	"github.com/osa-archive/osa/jobs/heartbeat"
)

// The backends every suite configures, and their tables.
var (
	backendNames  = []string{"vector", "keyword"}
	backendTables = map[string]string{"vector": "vec_vector", "keyword": "kw_keyword"}
)

// Timing of the suites' processes. worker.job_timeout must be at least batch.max_delay +
// batch.timeout. worker.rescue_after, worker.heartbeat_interval and worker.dead_after keep their
// defaults: a killed process's jobs are retried by its peers' heartbeat check, not by River's
// rescuer.
const (
	jobTimeout   = 5 * time.Second
	batchTimeout = 4 * time.Second
	batchDelay   = 100 * time.Millisecond
)

// rescueWindow bounds how long after the last crash every job must be finished: worker.dead_after
// (15s) and a heartbeat check (every worker.heartbeat_interval, 3s) for the dead process's jobs
// to be retried, a retry backoff of up to 16s (a job interrupted twice), River's scheduler
// interval (5s), and a margin for a loaded machine. The default worker.rescue_after (10m) is far
// beyond it: the suites fail if the heartbeat does not rescue.
const rescueWindow = heartbeat.DeadAfterDefault + 2*heartbeat.IntervalDefault + 16*time.Second + 5*time.Second + 10*time.Second

// backlogTimeout bounds how long the backends may take to index a backlog of records once the
// faults are over: a minute, plus 20ms a record (50 records/s, well below what a loaded 2-core
// machine does).
func backlogTimeout(records int) time.Duration {
	return time.Minute + time.Duration(records)*20*time.Millisecond
}

// suite is one test's database, processes and random source.
type suite struct {
	t     *testing.T
	dir   string
	dbURL string
	pool  *pgxpool.Pool
	rng   *rand.Rand
	procs []*proc
}

// newSuite returns a suite on the database at dbURL. When the test fails, the tail of every
// process's log is printed.
func newSuite(t *testing.T, dbURL string) *suite {
	t.Helper()
	s := &suite{t: t, dir: t.TempDir(), dbURL: dbURL, rng: suiteRand(t)}
	if keep := os.Getenv("OSA_SUITE_KEEP"); keep != "" {
		s.dir = filepath.Join(keep, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := os.MkdirAll(s.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Logf("configs and logs kept in %s (OSA_SUITE_KEEP)", s.dir)
	}
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s.pool = pool
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, p := range s.procs {
			t.Log(p.logTail(60))
		}
	})
	return s
}

// configOpts are what differs between the suites' configurations.
type configOpts struct {
	// embedderURL, when set, gives the vector backend an openai embedder at that URL; otherwise
	// it uses the hash embedder.
	embedderURL string
	// totalWorkers is worker.total_workers (default 512).
	totalWorkers int
	// fanoutWorkers is worker.fanout_workers (default 64).
	fanoutWorkers int
	// batchSize is both backends' batch.max_size (default 128).
	batchSize int
	// databaseURL is the database.url of the processes when it is not the suite's database
	// itself: a fault proxy or a connection pooler in front of it.
	databaseURL string
	// transactionPooler is database.transaction_pooler: databaseURL is PgBouncer in
	// transaction mode.
	transactionPooler bool
	// listenURL is database.listen_url, a direct connection River listens on behind the pooler.
	listenURL string
	// jobTimeout and batchTimeout are worker.job_timeout and both backends' batch.timeout
	// (default jobTimeout and batchTimeout, short for the crash suites).
	jobTimeout, batchTimeout time.Duration
}

// writeConfig writes a config file for the suite's database and returns its path. The role and
// address are given on the command line.
func (s *suite) writeConfig(name string, o configOpts) string {
	s.t.Helper()
	if o.totalWorkers == 0 {
		o.totalWorkers = 512
	}
	if o.fanoutWorkers == 0 {
		o.fanoutWorkers = 64
	}
	if o.batchSize == 0 {
		o.batchSize = 128
	}
	embedder := "{kind: hash, dims: 384}"
	if o.embedderURL != "" {
		embedder = fmt.Sprintf("{kind: openai, base_url: %q, model: %s, dims: %d, timeout: 2s}",
			o.embedderURL, fakeModel, fakeDims)
	}
	if o.databaseURL == "" {
		o.databaseURL = s.dbURL
	}
	o.jobTimeout = cmp.Or(o.jobTimeout, jobTimeout)
	o.batchTimeout = cmp.Or(o.batchTimeout, batchTimeout)
	batch := fmt.Sprintf("{max_size: %d, max_delay: %s, timeout: %s}", o.batchSize, batchDelay, o.batchTimeout)
	yaml := fmt.Sprintf(`# %s: written by internal/suites
database:
  url: %q
  transaction_pooler: %t
  listen_url: %q
log:
  level: info
  format: json
http:
  shutdown_timeout: 5s
worker:
  total_workers: %d
  fanout_workers: %d
  job_timeout: %s
  shutdown_timeout: 10s
  fetch_poll_interval: 200ms
backends:
  - name: vector
    kind: pgvector
    weight: 2
    batch: %s
    embedder: %s
  - name: keyword
    kind: keyword
    weight: 1
    batch: %s
`, name, o.databaseURL, o.transactionPooler, o.listenURL, o.totalWorkers, o.fanoutWorkers, o.jobTimeout, batch, embedder, batch)
	path := filepath.Join(s.dir, name+".yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		s.t.Fatal(err)
	}
	return path
}

// newProc returns a process of the suite, not started.
func (s *suite) newProc(name, role, config string) *proc {
	p := newProc(s.t, s.dir, name, role, config)
	s.procs = append(s.procs, p)
	return p
}

// count runs a query returning one number.
func (s *suite) count(sql string, args ...any) (int, error) {
	var n int
	err := s.pool.QueryRow(context.Background(), sql, args...).Scan(&n)
	return n, err
}

func (s *suite) mustCount(sql string, args ...any) int {
	s.t.Helper()
	n, err := s.count(sql, args...)
	if err != nil {
		s.t.Fatalf("%v\n%s", err, sql)
	}
	return n
}

// unsettledSQL counts the record/backend pairs that are not indexed (or deleted) at the record's
// current version, and the River jobs not yet finished.
const unsettledSQL = `
SELECT (SELECT count(*) FROM records r CROSS JOIN unnest($1::text[]) AS b(name)
        LEFT JOIN index_state s ON s.record_id = r.id AND s.backend = b.name
        WHERE s.record_id IS NULL OR s.version <> r.version OR s.indexed_version IS DISTINCT FROM r.version
           OR s.state <> CASE WHEN r.deleted_at IS NULL THEN 'indexed' ELSE 'deleted' END),
       (SELECT count(*) FROM river_job WHERE state IN ('available', 'scheduled', 'running', 'retryable', 'pending')),
       (SELECT count(*) FROM river_job WHERE state IN ('discarded', 'cancelled'))`

// waitSettled waits until every record is indexed at its current version in every backend and
// every River job has finished, for at most timeout; a discarded or cancelled job fails at once.
// It returns how long it waited.
func (s *suite) waitSettled(timeout time.Duration) time.Duration {
	s.t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		var unsettled, open, failed int
		err := s.pool.QueryRow(context.Background(), unsettledSQL, backendNames).Scan(&unsettled, &open, &failed)
		switch {
		case err != nil:
			s.t.Fatalf("waiting for the backends to settle: %v", err)
		case failed > 0:
			s.t.Fatalf("%d River jobs were discarded or cancelled:\n%s", failed, s.jobReport())
		case unsettled == 0 && open == 0:
			return time.Since(start)
		case time.Now().After(deadline):
			s.t.Fatalf("not settled after %v: %d record/backend pairs not indexed, %d jobs unfinished:\n%s",
				timeout, unsettled, open, s.jobReport())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitRescued waits until no River job is left running or retryable by any of the River clients
// dead (processes killed), failing the test at deadline: River has rescued every job of a dead
// process and a live one has taken it again.
func (s *suite) waitRescued(dead []string, deadline time.Time) {
	s.t.Helper()
	for {
		n, err := s.count(`SELECT count(*) FROM river_job WHERE state IN ('running', 'retryable')
			AND attempted_by[cardinality(attempted_by)] = ANY($1)`, dead)
		switch {
		case err != nil:
			s.t.Fatal(err)
		case n == 0:
			s.t.Logf("every job of the killed processes was taken again %v after the last kill (worker.dead_after %v)",
				time.Since(deadline.Add(-rescueWindow)).Round(100*time.Millisecond), heartbeat.DeadAfterDefault)
			return
		case time.Now().After(deadline):
			s.t.Fatalf("%d jobs of killed processes still running or retryable at the end of the rescue window:\n%s", n, s.jobReport())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// jobReport describes the River jobs that are not completed, for failure messages.
func (s *suite) jobReport() string {
	rows, err := s.pool.Query(context.Background(), `
		SELECT queue, state, count(*)::int, max(attempt)::int, min(scheduled_at), COALESCE(max(errors[array_length(errors, 1)]->>'error'), '')
		FROM river_job GROUP BY queue, state ORDER BY queue, state`)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	var (
		queue, state, lastErr string
		n, attempt            int
		sched                 time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&queue, &state, &n, &attempt, &sched, &lastErr}, func() error {
		fmt.Fprintf(&b, "  %-14s %-10s %6d jobs, max attempt %d, first scheduled %s, an error: %.200s\n",
			queue, state, n, attempt, sched.Format(time.TimeOnly), lastErr)
		return nil
	})
	if err != nil {
		return err.Error()
	}
	return b.String()
}

// checkConsistent asserts the end state every suite promises: each live record has exactly one
// row in every backend table, at its current version; index_state agrees; every River job of the
// pipeline is completed.
func (s *suite) checkConsistent() { s.checkConsistentWith(nil) }

// checkConsistentWith is checkConsistent with added, backends added while the suite ran (name
// to table), held to the same rows and index_state; their index jobs are counted only for
// duplicates, as records fanned out before the add have none.
func (s *suite) checkConsistentWith(added map[string]string) {
	s.t.Helper()
	tables := maps.Clone(backendTables)
	maps.Copy(tables, added)
	for _, b := range slices.Sorted(maps.Keys(tables)) {
		table := tables[b]
		if n := s.mustCount(`SELECT count(*) FROM records r FULL JOIN ` + table + ` t ON t.record_id = r.id
			WHERE (r.deleted_at IS NULL) IS DISTINCT FROM (t.record_id IS NOT NULL) OR t.version <> r.version`); n != 0 {
			s.t.Errorf("%s: %d records missing, at another version than the record's, or left after a delete", table, n)
		}
		if n := s.mustCount(`SELECT count(*) - count(DISTINCT record_id) FROM ` + table); n != 0 {
			s.t.Errorf("%s: %d duplicate rows", table, n)
		}
		if n := s.mustCount(`SELECT count(*) FROM records r LEFT JOIN index_state s ON s.record_id = r.id AND s.backend = $1
			WHERE s.record_id IS NULL OR s.state <> 'indexed' OR s.version <> r.version OR s.indexed_version <> r.version
			   OR s.last_error IS NOT NULL OR s.indexed_at IS NULL`, b); n != 0 {
			s.t.Errorf("index_state of %s: %d records not indexed at their version", b, n)
		}
	}
	if n := s.mustCount(`SELECT count(*) FROM index_state s LEFT JOIN records r ON r.id = s.record_id WHERE r.id IS NULL`); n != 0 {
		s.t.Errorf("index_state: %d rows of no record", n)
	}
	// The pipeline's jobs, that is: the changefeed's prune (eventprune) is a periodic job, enqueued
	// again by every new leader at start, so a worker restarted near the end may leave one due.
	if n := s.mustCount(`SELECT count(*) FROM river_job WHERE state <> 'completed' AND queue <> $1`, eventprune.Queue); n != 0 {
		s.t.Errorf("%d River jobs not completed:\n%s", n, s.jobReport())
	}
	// One fan-out per record version, and one index job per version and backend: nothing was
	// enqueued twice.
	// A fan-out job carries the changes of one transaction (args.changes).
	if n := s.mustCount(`SELECT count(*) FROM (SELECT 1 FROM river_job j, jsonb_array_elements(j.args->'changes') c
		WHERE j.kind = 'osa_fanout' GROUP BY c->>'record_id', c->>'version' HAVING count(*) > 1) d`); n != 0 {
		s.t.Errorf("%d record versions were fanned out more than once", n)
	}
	if n := s.mustCount(`SELECT count(*) FROM (SELECT 1 FROM river_job WHERE kind = 'osa_index_record'
		GROUP BY args->>'record_id', args->>'version', args->>'backend' HAVING count(*) > 1) d`); n != 0 {
		s.t.Errorf("%d record versions got more than one index job in a backend", n)
	}
	if n := s.mustCount(`SELECT (SELECT count(*) FROM river_job WHERE kind = 'osa_index_record' AND args->>'backend' = ANY($2)) -
		(SELECT count(*) * $1 FROM river_job j, jsonb_array_elements(j.args->'changes') c WHERE j.kind = 'osa_fanout')`,
		len(backendNames), backendNames); n != 0 {
		s.t.Errorf("index jobs: %d more than one per fan-out and backend", n)
	}
}

// jobErrors counts the errors River recorded on jobs (every failed attempt leaves one), by
// kind: the start of the message with record SRNs and numbers left out.
func (s *suite) jobErrors() map[string]int {
	s.t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT e->>'error' FROM river_job, unnest(errors) AS e`)
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]int{}
	var msg string
	if _, err := pgx.ForEachRow(rows, []any{&msg}, func() error {
		msg = srnPattern.ReplaceAllString(msg, "SRN")
		msg = numberPattern.ReplaceAllString(msg, "N")
		if len(msg) > 160 {
			msg = msg[:160] + "…"
		}
		out[msg]++
		return nil
	}); err != nil {
		s.t.Fatal(err)
	}
	return out
}

var (
	srnPattern    = regexp.MustCompile(`urn:osa:[^ ]+`)
	numberPattern = regexp.MustCompile(`[0-9]+`)
)

// countWritesSQL makes every write of index_state that marks a record indexed (markDone in
// jobs/index.go sets indexed_at) leave a row in suite_index_writes, so a suite can tell whether
// a record was indexed twice at one version. It is test scaffolding in the suite's database only.
const countWritesSQL = `
CREATE TABLE suite_index_writes (backend text, record_id uuid, version int, at timestamptz DEFAULT clock_timestamp());
CREATE FUNCTION suite_count_index_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state = 'indexed' AND (TG_OP = 'INSERT' OR NEW.indexed_at IS DISTINCT FROM OLD.indexed_at) THEN
        INSERT INTO suite_index_writes (backend, record_id, version) VALUES (NEW.backend, NEW.record_id, NEW.indexed_version);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER suite_count_index_write AFTER INSERT OR UPDATE ON index_state
    FOR EACH ROW EXECUTE FUNCTION suite_count_index_write();`

// countIndexWrites installs the suite_index_writes trigger.
func (s *suite) countIndexWrites() {
	s.t.Helper()
	if _, err := s.pool.Exec(context.Background(), countWritesSQL); err != nil {
		s.t.Fatal(err)
	}
}

// repeatedIndexWrites returns how many (record, version, backend) were marked indexed more than
// once, and the total of the repeats.
func (s *suite) repeatedIndexWrites() (pairs, repeats int) {
	s.t.Helper()
	err := s.pool.QueryRow(context.Background(), `SELECT count(*)::int, COALESCE(sum(n - 1), 0)::int FROM
		(SELECT count(*) AS n FROM suite_index_writes GROUP BY backend, record_id, version HAVING count(*) > 1) d`).Scan(&pairs, &repeats)
	if err != nil {
		s.t.Fatal(err)
	}
	return pairs, repeats
}
