package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/embed"
	"github.com/osa-archive/osa/backends/pgvector"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/jobs/pipeline"
	"github.com/osa-archive/osa/server"
)

// scenario is one pipeline run: records published into a fresh database with the backends named.
type scenario struct {
	name, desc string
	backends   []string // names of backends of config.Default()
	batchSize  int      // batch.max_size of every backend; 0 keeps the default
	workers    int      // worker.total_workers; 0 keeps the default
	records    int
	// rate paces publishing at this many records/s ([publishPaced]); 0 publishes as
	// fast as Publishers clients can.
	rate float64
	// timeline reads every record's commit and index times at the end, for the scenario's
	// Timeline and Freshness.
	timeline bool
}

// scenarioConfig is the built-in configuration with sc's backends and settings, on url.
func scenarioConfig(sc scenario, url string) (*config.Config, error) {
	cfg := config.Default()
	cfg.Database.URL = url
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.HTTP.ShutdownTimeout = shutdownTimeout
	cfg.Worker.ShutdownTimeout = shutdownTimeout
	if sc.workers > 0 {
		cfg.Worker.TotalWorkers = sc.workers
	}
	var bs []config.Backend
	for _, b := range cfg.Backends {
		if !slices.Contains(sc.backends, b.Name) {
			continue
		}
		if sc.batchSize > 0 {
			b.Batch.MaxSize = sc.batchSize
		}
		bs = append(bs, b)
	}
	if len(bs) != len(sc.backends) {
		return nil, fmt.Errorf("the built-in configuration lacks one of the backends %v", sc.backends)
	}
	cfg.Backends = bs
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("scenario configuration: %w", err)
	}
	return cfg, nil
}

// runScenario runs sc in a scratch database and returns its figures.
func (in *ingestRun) runScenario(ctx context.Context, sc scenario) (res ScenarioResult, err error) {
	in.progressf("%s: %s, N %d", sc.name, sc.desc, sc.records)
	res = ScenarioResult{Name: sc.name, Description: sc.desc, Records: sc.records}
	db, err := createScratchDB(ctx, in.opts.AdminURL)
	if err != nil {
		return res, err
	}
	defer func() {
		if dropErr := db.drop(ctx); dropErr != nil && err == nil {
			err = dropErr
		}
	}()
	cfg, err := scenarioConfig(sc, db.url)
	if err != nil {
		return res, err
	}
	res.BatchSize, res.TotalWorkers = cfg.Backends[0].Batch.MaxSize, cfg.Worker.TotalWorkers
	// As jobs.NewClient sizes the fanout queue: whole fan-out batches, at least one.
	res.FanOutSlots = max(cfg.Worker.FanoutWorkers/cfg.Worker.FanoutBatch, 1) * cfg.Worker.FanoutBatch

	obs := newBatchObserver()
	srv, err := server.New(ctx, cfg, in.opts.Logger, server.WithBatchObserver(obs.observe))
	if err != nil {
		return res, fmt.Errorf("error starting the server: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		srv.Close()
		return res, fmt.Errorf("error listening: %w", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	stopped := make(chan error, 1)
	go func() { stopped <- srv.Run(runCtx, ln) }()
	defer func() {
		stop()
		if runErr := <-stopped; runErr != nil && err == nil {
			err = fmt.Errorf("server: %w", runErr)
		}
		srv.Close()
	}()

	baseURL := "http://" + ln.Addr().String()
	transport := &http.Transport{MaxIdleConnsPerHost: in.opts.Publishers, DisableCompression: true}
	defer transport.CloseIdleConnections()
	httpClient := &http.Client{Transport: transport}
	if err := waitReady(ctx, httpClient, baseURL); err != nil {
		return res, err
	}
	poll, err := pgx.Connect(ctx, db.url)
	if err != nil {
		return res, fmt.Errorf("error connecting to poll index_state: %w", err)
	}
	defer poll.Close(context.WithoutCancel(ctx))

	shares := pipeline.QueueWorkers(cfg.Worker.TotalWorkers, backendConfigs(cfg, srv.Backends()))
	for _, b := range srv.Backends() {
		res.Backends = append(res.Backends, BackendResult{Name: b.Name(), Kind: b.Kind(), Slots: shares[backends.Queue(b.Name())]})
	}
	counters := callCounters(srv.Backends())

	res.Checkpointed = checkpoint(ctx, in.opts.AdminURL)
	res.LoadBefore = loadAvg()
	in.progressf("%s: publishing %d records (load %s)", sc.name, sc.records, orDash(res.LoadBefore))
	calls0 := sumCalls(counters)
	client := osav1connect.NewRecordServiceClient(httpClient, baseURL)
	publish := func(ctx context.Context) error { return in.publish(ctx, client, in.requests[:sc.records]) }
	if sc.rate > 0 {
		publish = func(ctx context.Context) error {
			return publishPaced(ctx, client, in.requests[:sc.records], sc.rate, in.opts.PublishBatch)
		}
	}
	cpu0 := in.cpu.read()
	m, err := in.measure(ctx, sc, publish, poll, res.Backends, obs)
	if err != nil {
		return res, err
	}
	res.CPU = cpu0.until(in.cpu.read())
	res.LoadAfter = loadAvg()

	res.PublishSeconds = m.publishTook.Seconds()
	res.PublishPerSec = float64(sc.records) / res.PublishSeconds
	res.FanOutSeconds = m.fannedOut.Seconds()
	res.FanOutPerSec = float64(sc.records) / res.FanOutSeconds
	for i := range res.Backends {
		b := &res.Backends[i]
		b.Indexed = sc.records
		b.Seconds = m.ends[i].Seconds()
		b.IndexedAtFanOut = m.atFanOut[i]
		b.RecordsPerSec = float64(sc.records) / b.Seconds
		res.Seconds = max(res.Seconds, b.Seconds)
		// A batch reports its stats just after it commits: wait for the last one's.
		if err := waitFor(ctx, 5*time.Second, func() bool { return obs.summary(b.Name).Succeeded >= sc.records }); err != nil {
			return res, fmt.Errorf("backend %s: the batch observer saw %d successful jobs of %d", b.Name, obs.summary(b.Name).Succeeded, sc.records)
		}
		b.Batches = obs.summary(b.Name)
	}
	if len(counters) > 0 {
		res.EmbedCalls = sumCalls(counters) - calls0
		res.EmbedCallsPerRecord = float64(res.EmbedCalls) / float64(sc.records)
	}
	if sc.timeline {
		method := FreshnessTransactionStart
		if on, err := commitTimestampsOn(ctx, poll); err != nil {
			return res, err
		} else if on {
			method = FreshnessCommitTimestamp
		}
		names := res.backendList()
		recs, err := readRecordTimes(ctx, poll, names, method)
		if err != nil {
			return res, err
		}
		st, tl := freshnessOf(recs, names, method, TimelineWindow)
		res.Freshness, res.Timeline = &st, tl
	}
	return res, nil
}

// measurement is what [ingestRun.measure] saw, in times from the first publish.
type measurement struct {
	// publishTook is when the last PublishRecords call returned.
	publishTook time.Duration
	// fannedOut is when every record had its index_state row in every backend: the fan-out was
	// done (to the poll interval).
	fannedOut time.Duration
	// atFanOut is each backend's indexed records when the fan-out was seen done.
	atFanOut []int
	// ends is when index_state showed every record indexed, per backend.
	ends []time.Duration
}

// measure runs publish (which publishes sc's records) and watches index_state on poll until
// every backend has indexed all of them.
//
// Counting index_state costs about 10 ms at 40,000 rows, a noticeable share of 2 cores when done
// every 50 ms, so the full count runs every [PollIntervalDefault] (for progress, the fan-out
// time, failures and stalls), and an extra count runs right after each batch that brings a
// backend's successful jobs (seen by obs) to N: a backend's end time is the moment index_state
// confirms it, within milliseconds of the commit.
func (in *ingestRun) measure(ctx context.Context, sc scenario, publish func(context.Context) error, poll *pgx.Conn,
	bes []BackendResult, obs *batchObserver) (m measurement, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type published struct {
		took time.Duration
		err  error
	}
	pubDone := make(chan published, 1)
	start := time.Now()
	go func() {
		err := publish(ctx)
		pubDone <- published{time.Since(start), err}
	}()

	m.ends = make([]time.Duration, len(bes))
	counts := make(map[string]stateCounts, len(bes))
	var (
		isPublished  bool
		lastTotal    = -1
		lastMove     = time.Now()
		lastProgress = time.Now()
		tick         = time.NewTicker(PollIntervalDefault)
	)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return m, ctx.Err()
		case p := <-pubDone:
			if p.err != nil {
				return m, p.err
			}
			m.publishTook, isPublished = p.took, true
		case <-tick.C:
		case <-obs.notify:
			due := false
			for i, b := range bes {
				due = due || m.ends[i] == 0 && obs.succeededJobs(b.Name) >= sc.records
			}
			if !due {
				continue
			}
		}

		failed, err := countStates(ctx, poll, counts)
		if err != nil {
			return m, err
		}
		now := time.Since(start)
		if failed != "" {
			return m, errors.New(failed)
		}
		done, total, fanned := 0, 0, 0
		for i, b := range bes {
			c := counts[b.Name]
			total += c.indexed
			if m.ends[i] == 0 && c.indexed >= sc.records {
				m.ends[i] = now
			}
			if m.ends[i] > 0 {
				done++
			}
			if c.rows >= sc.records {
				fanned++
			}
		}
		if m.fannedOut == 0 && fanned == len(bes) {
			m.fannedOut = now
			for _, b := range bes {
				m.atFanOut = append(m.atFanOut, counts[b.Name].indexed)
			}
		}
		if done == len(bes) && isPublished {
			return m, nil
		}
		if total != lastTotal {
			lastTotal, lastMove = total, time.Now()
		} else if time.Since(lastMove) > stallTimeout {
			return m, fmt.Errorf("no record indexed for %s (counts %v of %d)", stallTimeout, counts, sc.records)
		}
		if time.Since(lastProgress) >= progressEvery {
			lastProgress = time.Now()
			var parts []string
			for _, b := range bes {
				parts = append(parts, fmt.Sprintf("%s %d/%d", b.Name, counts[b.Name].indexed, sc.records))
			}
			pub := "publishing"
			if isPublished {
				pub = "published"
			}
			if m.fannedOut > 0 {
				pub += ", fanned out"
			}
			in.progressf("%s: %.0f s, %s, indexed %s", sc.name, now.Seconds(), pub, strings.Join(parts, ", "))
		}
	}
}

// countStatesSQL counts the records of every backend in index_state: all of them (the fan-out
// writes a pending row), the indexed and the failed ones.
const countStatesSQL = `
SELECT backend, count(*), count(*) FILTER (WHERE state = 'indexed'), count(*) FILTER (WHERE state = 'failed')
FROM index_state GROUP BY backend`

// firstFailureSQL returns the error of one failed record.
const firstFailureSQL = `SELECT backend, coalesce(last_error, '') FROM index_state WHERE state = 'failed' LIMIT 1`

// stateCounts are one backend's records in index_state.
type stateCounts struct{ rows, indexed, failed int }

// countStates sets counts[backend] for every backend in index_state. When a record failed for
// good it returns a description of the failure instead: the scenario cannot finish.
func countStates(ctx context.Context, conn *pgx.Conn, counts map[string]stateCounts) (failed string, err error) {
	rows, err := conn.Query(ctx, countStatesSQL)
	if err != nil {
		return "", fmt.Errorf("error polling index_state: %w", err)
	}
	var (
		backend string
		c       stateCounts
		nFailed int
	)
	if _, err := pgx.ForEachRow(rows, []any{&backend, &c.rows, &c.indexed, &c.failed}, func() error {
		counts[backend] = c
		nFailed += c.failed
		return nil
	}); err != nil {
		return "", fmt.Errorf("error polling index_state: %w", err)
	}
	if nFailed == 0 {
		return "", nil
	}
	var msg string
	if err := conn.QueryRow(ctx, firstFailureSQL).Scan(&backend, &msg); err != nil {
		return "", fmt.Errorf("error reading a failure from index_state: %w", err)
	}
	return fmt.Sprintf("%d records failed to index; backend %s: %s", nFailed, backend, msg), nil
}

// publish publishes reqs through client in calls of PublishBatch records, from Publishers
// goroutines; the first error stops it.
func (in *ingestRun) publish(ctx context.Context, client osav1connect.RecordServiceClient, reqs []*osav1.PublishRecordRequest) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan []*osav1.PublishRecordRequest, len(reqs)/in.opts.PublishBatch+1)
	for chunk := range slices.Chunk(reqs, in.opts.PublishBatch) {
		chunks <- chunk
	}
	close(chunks)
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	for range in.opts.Publishers {
		wg.Go(func() {
			for chunk := range chunks {
				if ctx.Err() != nil {
					return
				}
				resp, err := client.PublishRecords(ctx, connect.NewRequest(&osav1.PublishRecordsRequest{Records: chunk}))
				if err == nil && len(resp.Msg.Records) != len(chunk) {
					err = fmt.Errorf("published %d records, got %d back", len(chunk), len(resp.Msg.Records))
				}
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("error publishing: %w", err) })
					cancel()
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

// waitReady waits until the server at baseURL answers /readyz with 200: River has started and
// the HTTP server is serving.
func waitReady(ctx context.Context, client *http.Client, baseURL string) error {
	err := waitFor(ctx, readyTimeout, func() bool {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/readyz", nil)
		if err != nil {
			return false
		}
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	if err != nil {
		return fmt.Errorf("the server did not become ready: %w", err)
	}
	return nil
}

// waitFor polls cond every 10 ms until it holds, ctx ends or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// backendConfigs pairs the server's backends with their configured weight and batch size, as
// [pipeline.QueueWorkers] wants them.
func backendConfigs(cfg *config.Config, bs []backends.Backend) []pipeline.BackendConfig {
	out := make([]pipeline.BackendConfig, len(bs))
	for i, b := range bs {
		out[i] = pipeline.BackendConfig{Backend: b, Weight: cfg.Backends[i].Weight, BatchSize: cfg.Backends[i].Batch.MaxSize}
	}
	return out
}

// callCounters returns the call counters of the embedders of the pgvector backends among bs.
func callCounters(bs []backends.Backend) []embed.CallCounter {
	var out []embed.CallCounter
	for _, b := range bs {
		if pb, ok := b.(*pgvector.Backend); ok {
			if cc, ok := pb.Embedder().(embed.CallCounter); ok {
				out = append(out, cc)
			}
		}
	}
	return out
}

func sumCalls(cs []embed.CallCounter) int64 {
	var n int64
	for _, c := range cs {
		n += c.Calls()
	}
	return n
}
