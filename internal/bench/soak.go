package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Defaults and targets of the soak scenario ([Soak]; issue 18's).
const (
	SoakDurationDefault      = 20 * time.Minute
	SoakDurationSmokeDefault = 50 * time.Second
	SoakWarmUpDefault        = 2 * time.Minute
	SoakWarmUpSmokeDefault   = 10 * time.Second
	SoakRateDefault          = 200
	SoakSearchRateDefault    = 20
	SoakSampleEveryDefault   = 5 * time.Second
	// SoakUpdateShare is the share of the published records that are new versions of records
	// published earlier (their title changed); the rest are new records.
	SoakUpdateShare = 0.5
	// TargetSoakGrowth is the most RSS and goroutines of each process may grow from the first
	// minute after the warm-up to the last one.
	TargetSoakGrowth = 0.10
	// TargetSoakRecovery is the longest a fault may keep freshness p95 above
	// [FreshnessP95Target].
	TargetSoakRecovery = 30 * time.Second
	// SoakRecoveryWindow is the width of the windows, by indexing time, whose freshness p95
	// decides when a fault is over.
	SoakRecoveryWindow = 5 * time.Second
	// SoakRecoveryHorizon is how long after a fault its effect is looked for (less when the next
	// fault comes sooner).
	SoakRecoveryHorizon = 2 * time.Minute
	// SoakRestartGrace is how long after the restarted database accepts connections again a
	// failed request still counts as one of the restart's: the processes' pools find their
	// broken connections on first use.
	SoakRestartGrace = 5 * time.Second
	// SoakDrainTimeout bounds the wait, after the load stops, for the last records to be indexed.
	SoakDrainTimeout = 2 * time.Minute
	// soakRequestTimeout bounds every request the soak sends.
	soakRequestTimeout = 10 * time.Second
	// soakCorpusSize is the number of distinct generated records the new records cycle through
	// (each with its own source id and a title of its own).
	soakCorpusSize = 20000
	// soakReindexBackend is the backend the soak rebuilds once.
	soakReindexBackend = "vector"
)

// When the faults come, as shares of the duration: each leaves the one before it time to
// recover, and the last leaves time before the end.
const (
	soakReindexAt   = 0.25
	soakKillAt      = 0.45
	soakDBRestartAt = 0.70
)

// Kinds of [SoakEvent].
const (
	SoakEventReindex   = "reindex"
	SoakEventKill      = "worker_kill"
	SoakEventDBRestart = "db_restart"
	// SoakEventExit is a process that exited by itself: a defect, restarted to go on.
	SoakEventExit = "unexpected_exit"
)

// SoakOpts configures [Soak].
type SoakOpts struct {
	// AdminURL is a postgres:// URL whose user may create databases; the soak runs in a scratch
	// database there, dropped at the end. Required.
	AdminURL string
	// RestartDatabase restarts the server of AdminURL (stop, start, ready again), the soak's
	// database fault. Required: a soak cannot run on a server it may not restart.
	RestartDatabase func(context.Context) error
	// Binary is the osa executable run as the API and worker processes (osa serve). Required.
	Binary string
	// Duration is how long the load runs. Defaults to 20 minutes; with Smoke, 50 s.
	Duration time.Duration
	// WarmUp is the start of the run that the growth targets leave out. Defaults to 2 minutes;
	// with Smoke, 10 s.
	WarmUp time.Duration
	// Rate is the publishing rate, records/s, half of them new versions of published records.
	// Defaults to 200.
	Rate int
	// SearchRate is the search rate, searches/s. Defaults to 20.
	SearchRate int
	// SampleEvery is how often RSS, goroutines, connections and the queue are sampled.
	// Defaults to 5 s.
	SampleEvery time.Duration
	// Smoke shortens the defaults (Duration, WarmUp) for a check that every part works.
	Smoke bool
	// LogDir, when set, is the folder where the processes' config files and logs are written
	// and kept. Defaults to a temporary folder, removed unless the soak fails.
	LogDir string
	// Command is the command line, for the report.
	Command string
	// Progress, when set, gets a line per event and per minute.
	Progress io.Writer
}

// WithDefaults returns a copy of o with its zero fields set to their defaults.
func (o SoakOpts) WithDefaults() SoakOpts {
	if o.Duration == 0 {
		o.Duration = SoakDurationDefault
		if o.Smoke {
			o.Duration = SoakDurationSmokeDefault
		}
	}
	if o.WarmUp == 0 {
		o.WarmUp = SoakWarmUpDefault
		if o.Smoke {
			o.WarmUp = SoakWarmUpSmokeDefault
		}
	}
	if o.Rate == 0 {
		o.Rate = SoakRateDefault
	}
	if o.SearchRate == 0 {
		o.SearchRate = SoakSearchRateDefault
	}
	if o.SampleEvery == 0 {
		o.SampleEvery = SoakSampleEveryDefault
	}
	return o
}

// Check reports the first setting of the load (duration, warm-up, rates, sample interval) that
// cannot work, defaults applied, naming it and what to send instead: a caller can check them
// before it starts a database.
func (o SoakOpts) Check() error { return o.WithDefaults().checkLoad() }

// validate reports the first option that cannot work, naming it and what to send instead.
func (o SoakOpts) validate() error {
	switch {
	case o.AdminURL == "":
		return errors.New("soak: AdminURL is required: a postgres:// URL whose user may create databases")
	case o.RestartDatabase == nil:
		return errors.New("soak: RestartDatabase is required: the soak restarts the database once, so it needs a server it may restart")
	case o.Binary == "":
		return errors.New("soak: Binary is required: the osa executable to run as the API and worker processes")
	}
	if err := o.checkLoad(); err != nil {
		return err
	}
	if _, err := os.Stat(o.Binary); err != nil {
		return fmt.Errorf("soak: binary: %w", err)
	}
	return nil
}

// checkLoad checks the settings of the load.
func (o SoakOpts) checkLoad() error {
	switch {
	case o.Duration < 30*time.Second:
		return fmt.Errorf("soak: --duration %s is too short: send at least 30s", o.Duration)
	case o.WarmUp < 0 || o.WarmUp >= time.Duration(soakReindexAt*float64(o.Duration)):
		return fmt.Errorf("soak: --warm-up %s must be at least 0 and end before the first fault, at %s (a quarter of the duration)",
			o.WarmUp, time.Duration(soakReindexAt*float64(o.Duration)))
	case o.Rate < 2:
		return fmt.Errorf("soak: --rate %d records/s is too low: send at least 2 (half of them are updates)", o.Rate)
	case o.SearchRate < 1:
		return fmt.Errorf("soak: --search-rate %d/s is too low: send at least 1", o.SearchRate)
	case o.SampleEvery < 100*time.Millisecond || o.SampleEvery > time.Minute:
		return fmt.Errorf("soak: --sample-every %s is out of range: send 100ms to 1m", o.SampleEvery)
	}
	return nil
}

// soakRun is one run of [Soak]: its processes, its load and what it saw.
type soakRun struct {
	opts  SoakOpts
	start time.Time
	pool  *pgxpool.Pool // the bench's own connections to the scratch database
	api   *soakProcess
	wrk   *soakProcess
	fresh *freshnessTracker

	mu  sync.Mutex
	cpu *cpuMeter // found again after the database restart: its postmaster changes
	// minuteCPU and minuteLoad are the machine's CPU use and its load average, by minute.
	minuteCPU  map[int]CPUUse
	minuteLoad map[int]string
	events     []SoakEvent
	failures   []soakFailure
	samples    []SoakSample
	counts     map[int]*soakCounts // by minute
}

// soakCounts are the requests of one minute.
type soakCounts struct{ published, updated, searches int }

// soakFailure is one failed request.
type soakFailure struct {
	at  time.Duration
	op  string
	err string
}

// since returns the time since the load started.
func (s *soakRun) since() time.Duration { return time.Since(s.start) }

func (s *soakRun) progressf(format string, args ...any) {
	if s.opts.Progress != nil {
		fmt.Fprintf(s.opts.Progress, "soak: "+format+"\n", args...)
	}
}

// fail records a failed request.
func (s *soakRun) fail(op string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, soakFailure{at: s.since(), op: op, err: err.Error()})
}

// count adds to the current minute's requests.
func (s *soakRun) count(f func(c *soakCounts)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := int(s.since() / time.Minute)
	if s.counts[m] == nil {
		s.counts[m] = &soakCounts{}
	}
	f(s.counts[m])
}

// event records an event that started at start and returns its index, for [soakRun.endEvent].
func (s *soakRun) event(kind string, start time.Duration, detail string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, SoakEvent{Kind: kind, AtSeconds: start.Seconds(), EndSeconds: start.Seconds(), Detail: detail})
	s.progressf("%.0f s: %s: %s", start.Seconds(), kind, detail)
	return len(s.events) - 1
}

// endEvent sets the end of event i and, when detail is not empty, replaces its detail.
func (s *soakRun) endEvent(i int, end time.Duration, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events[i].EndSeconds = end.Seconds()
	if detail != "" {
		s.events[i].Detail = detail
	}
	s.progressf("%.0f s: %s over: %s", end.Seconds(), s.events[i].Kind, s.events[i].Detail)
}

// Soak runs OSA as users run it — an API process and a worker process (osa serve, opts.Binary)
// on a scratch database — under a steady load of publishes and updates (opts.Rate records/s)
// and searches (opts.SearchRate/s) for opts.Duration, with one rebuild of the vector backend,
// one SIGKILL and restart of the worker and one restart of the database on the way. It samples
// each process's RSS, goroutines and database connections and the River queue depth every
// opts.SampleEvery, measures every record version's freshness (commit → indexed in every
// backend), and reports them per minute with the faults marked, beside the targets.
func Soak(ctx context.Context, opts SoakOpts) (rep *SoakReport, err error) {
	opts = opts.WithDefaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	rep = &SoakReport{Command: opts.Command, Date: time.Now().UTC(), DurationSeconds: opts.Duration.Seconds(),
		WarmUpSeconds: opts.WarmUp.Seconds(), Rate: opts.Rate, SearchRate: opts.SearchRate,
		SampleSeconds: opts.SampleEvery.Seconds(), UpdateShare: SoakUpdateShare, ReindexBackend: soakReindexBackend}
	if rep.Machine, _, err = machineBefore(ctx, opts.AdminURL); err != nil {
		return nil, err
	}
	db, err := createScratchDB(ctx, opts.AdminURL)
	if err != nil {
		return nil, err
	}
	defer func() {
		if dropErr := db.drop(ctx); dropErr != nil && err == nil {
			err = dropErr
		}
	}()
	dir := opts.LogDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "osa-soak-"); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("soak: log folder: %w", err)
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w (the processes' configs and logs are in %s)", err, dir)
			return
		}
		if opts.LogDir == "" {
			_ = os.RemoveAll(dir)
		}
	}()

	s := &soakRun{opts: opts, counts: map[int]*soakCounts{}, minuteCPU: map[int]CPUUse{}, minuteLoad: map[int]string{}}
	if err := s.startProcesses(ctx, db.url, dir); err != nil {
		return nil, err
	}
	defer func() {
		for _, p := range []*soakProcess{s.wrk, s.api} {
			if p == nil {
				continue
			}
			if stopErr := p.stop(); stopErr != nil && err == nil {
				err = stopErr
			}
		}
	}()
	if s.pool, err = newSoakPool(ctx, db.url); err != nil {
		return nil, err
	}
	defer s.pool.Close()
	method := FreshnessTransactionStart
	if on, err := s.commitTimestamps(ctx); err != nil {
		return nil, err
	} else if on {
		method = FreshnessCommitTimestamp
	}
	s.setCPUMeter(ctx)
	s.fresh = newFreshnessTracker(s.pool, []string{soakReindexBackend, "keyword"}, method)

	if err := s.run(ctx); err != nil {
		return nil, err
	}
	s.fill(rep)
	rep.Machine.CPUAfter = newCPUMeter(ctx, opts.AdminURL).sample(ctx, time.Second)
	rep.evaluate()
	return rep, nil
}

// run drives the load, the samplers and the faults for the duration, then drains.
func (s *soakRun) run(ctx context.Context) error {
	corpus := Corpus(soakCorpusSize)
	queries := searchQueries(corpus, 200)
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	s.start = time.Now()
	s.progressf("load: %d records/s (%.0f %% updates), %d searches/s for %s; faults at %s (reindex), %s (worker SIGKILL), %s (database restart)",
		s.opts.Rate, 100*SoakUpdateShare, s.opts.SearchRate, s.opts.Duration, s.at(soakReindexAt), s.at(soakKillAt), s.at(soakDBRestartAt))
	wg.Go(func() { s.publish(loadCtx, corpus) })
	wg.Go(func() { s.search(loadCtx, queries) })
	wg.Go(func() { s.sample(loadCtx) })
	wg.Go(func() { s.fresh.run(loadCtx, time.Second) })
	wg.Go(func() { s.watchExits(loadCtx) })
	faults := make(chan error, 1)
	wg.Go(func() { faults <- s.faults(loadCtx, &wg) })

	var err error
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case <-time.After(s.opts.Duration):
	case err = <-faults:
		if err == nil {
			// The faults are done; the load goes on until the end.
			select {
			case <-ctx.Done():
				err = ctx.Err()
			case <-time.After(time.Until(s.start.Add(s.opts.Duration))):
			}
		}
	}
	stopLoad()
	wg.Wait()
	if err != nil {
		return err
	}
	select {
	case err = <-faults:
	default:
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	s.progressf("%.0f s: load stopped; waiting up to %s for the last %d versions to be indexed", s.since().Seconds(), SoakDrainTimeout, s.fresh.waiting())
	left, err := s.fresh.drain(ctx, SoakDrainTimeout)
	s.progressf("%.0f s: %d versions never seen indexed", s.since().Seconds(), left)
	return err
}

// at returns the moment of a fault at share of the duration.
func (s *soakRun) at(share float64) time.Duration {
	return time.Duration(share * float64(s.opts.Duration)).Round(time.Second)
}

// faults runs the three faults at their moments; the reindex is followed on bg.
func (s *soakRun) faults(ctx context.Context, bg *sync.WaitGroup) error {
	wait := func(share float64) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Until(s.start.Add(s.at(share)))):
			return nil
		}
	}
	if err := wait(soakReindexAt); err != nil {
		return err
	}
	if err := s.reindex(ctx, bg); err != nil {
		return err
	}
	if err := wait(soakKillAt); err != nil {
		return err
	}
	if err := s.killWorker(ctx); err != nil {
		return err
	}
	if err := wait(soakDBRestartAt); err != nil {
		return err
	}
	return s.restartDatabase(ctx)
}

// killWorker SIGKILLs the worker process and starts a new one at once, as a supervisor would.
func (s *soakRun) killWorker(ctx context.Context) error {
	pid := s.wrk.pid()
	at := s.since()
	if err := s.wrk.kill(); err != nil {
		return err
	}
	i := s.event(SoakEventKill, at, fmt.Sprintf("worker pid %d SIGKILLed", pid))
	if err := s.wrk.restart(ctx); err != nil {
		return err
	}
	s.endEvent(i, s.since(), fmt.Sprintf("worker pid %d SIGKILLed; pid %d started and ready", pid, s.wrk.pid()))
	return nil
}

// restartDatabase restarts the database server.
func (s *soakRun) restartDatabase(ctx context.Context) error {
	i := s.event(SoakEventDBRestart, s.since(), "fast shutdown, then start")
	t0 := time.Now()
	if err := s.opts.RestartDatabase(ctx); err != nil {
		return fmt.Errorf("restarting the database: %w", err)
	}
	s.endEvent(i, s.since(), fmt.Sprintf("fast shutdown, then start: accepting connections again after %.1f s", time.Since(t0).Seconds()))
	s.setCPUMeter(ctx)
	return nil
}

// setCPUMeter finds the database server's processes for the CPU figures, with the osa processes.
func (s *soakRun) setCPUMeter(ctx context.Context) {
	m := newCPUMeter(ctx, s.opts.AdminURL)
	m.pids = func() []int { return []int{s.api.pid(), s.wrk.pid()} }
	s.mu.Lock()
	s.cpu = m
	s.mu.Unlock()
}

// cpuRead reads the CPU times with the current meter.
func (s *soakRun) cpuRead() cpuReading {
	s.mu.Lock()
	m := s.cpu
	s.mu.Unlock()
	return m.read()
}

// commitTimestamps reports whether the server tracks commit timestamps.
func (s *soakRun) commitTimestamps(ctx context.Context) (bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Release()
	return commitTimestampsOn(ctx, conn.Conn())
}

// newSoakPool connects the bench's own pool to the scratch database, named so that its
// connections are not counted as the processes'.
func newSoakPool(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 4
	cfg.ConnConfig.RuntimeParams["application_name"] = "osa_soak_bench"
	return pgxpool.NewWithConfig(ctx, cfg)
}
