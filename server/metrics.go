package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"

	"github.com/osa-archive/osa/backends/embed"
	"github.com/osa-archive/osa/jobs/admin"
	"github.com/osa-archive/osa/jobs/pipeline"
	"github.com/osa-archive/osa/replicas"
)

// metrics are the process's Prometheus metrics, served at /metrics. They live in a registry of
// their own, so several servers in one process (tests) do not collide.
type metrics struct {
	registry *prometheus.Registry

	rpcs         *prometheus.CounterVec
	rpcSeconds   *prometheus.HistogramVec
	jobs         *prometheus.CounterVec
	batchSize    *prometheus.HistogramVec
	batchFlushes *prometheus.CounterVec
	batchSeconds *prometheus.HistogramVec
	embedSeconds *prometheus.HistogramVec
	embedErrors  *prometheus.CounterVec
	embedSaved   *prometheus.CounterVec
	embedInputs  *prometheus.CounterVec
	freshness    *prometheus.HistogramVec
	outage       *prometheus.GaugeVec
	reads        *prometheus.CounterVec
}

func newMetrics(pool *pgxpool.Pool, queues func() []string, logger *slog.Logger) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		rpcs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osa_rpc_requests_total", Help: "RPCs handled, by procedure and Connect code.",
		}, []string{"procedure", "code"}),
		rpcSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "osa_rpc_duration_seconds", Help: "RPC latency, by procedure.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"procedure"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osa_jobs_total", Help: "Jobs worked by this process, by kind, queue and outcome (completed, failed, cancelled, snoozed).",
		}, []string{"kind", "queue", "outcome"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "osa_batch_size", Help: "Jobs per index batch, by backend.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024},
		}, []string{"backend"}),
		batchFlushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osa_batch_flushes_total", Help: "Index batches, by backend and flush reason (size, delay, slots).",
		}, []string{"backend", "reason"}),
		batchSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "osa_batch_duration_seconds", Help: "Time to run one index batch, by backend.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"backend"}),
		embedSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "osa_embed_duration_seconds", Help: "Embedding call latency, by provider.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18),
		}, []string{"provider"}),
		embedErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osa_embed_errors_total", Help: "Texts an embedding call failed to embed, by provider.",
		}, []string{"provider"}),
		embedSaved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osa_embed_inputs_saved_total",
			Help: "Texts a backend did not embed because its stored row was built from the same text with the same model, by backend.",
		}, []string{"backend"}),
		embedInputs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osa_embed_inputs_total",
			Help: "Texts a backend embedded to index them (queries not counted), by backend: every generation of it, a rebuild's included.",
		}, []string{"backend"}),
		freshness: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "osa_index_freshness_seconds", Help: "Time from a record version's commit to its commit in a backend.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
		}, []string{"backend"}),
		outage: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "osa_embed_provider_outage_seconds",
			Help: "How long a backend's embedding provider has been down, as of its last index batch (0: up).",
		}, []string{"backend"}),
		reads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osa_db_routed_reads_total",
			Help: "Read requests routed with database.replica_urls set, by target (primary, or a replica's host:port) and reason " +
				"(replica; no_replica: none up within database.max_replica_lag; after_write; retry: failed on its replica).",
		}, []string{"target", "reason"}),
	}
	m.registry.MustRegister(m.rpcs, m.rpcSeconds, m.jobs, m.batchSize, m.batchFlushes, m.batchSeconds,
		m.embedSeconds, m.embedErrors, m.embedSaved, m.embedInputs, m.freshness, m.outage, m.reads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&queueCollector{pool: pool, queues: queues, logger: logger}, providerCollector{}, &poolCollector{pool: pool})
	return m
}

// handler serves the metrics in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// interceptor counts and times every RPC, unary or streaming (a stream's time is its whole life).
func (m *metrics) interceptor() serverInterceptor {
	return func(ctx context.Context, call rpc, next func(context.Context) error) error {
		start := time.Now()
		err := next(ctx)
		proc := call.Spec.Procedure
		m.rpcs.WithLabelValues(proc, codeName(err)).Inc()
		m.rpcSeconds.WithLabelValues(proc).Observe(time.Since(start).Seconds())
		return err
	}
}

// observeBatch records one index batch.
func (m *metrics) observeBatch(st pipeline.BatchStats) {
	m.batchSize.WithLabelValues(st.Backend).Observe(float64(st.Size))
	m.batchFlushes.WithLabelValues(st.Backend, st.Reason).Inc()
	m.batchSeconds.WithLabelValues(st.Backend).Observe(st.Duration.Seconds())
	m.outage.WithLabelValues(st.Backend).Set(st.Outage.Seconds())
	h := m.freshness.WithLabelValues(st.Backend)
	for _, d := range st.Freshness {
		h.Observe(d.Seconds())
	}
}

// watchJobs counts the outcomes of the jobs client works until ctx ends.
func (m *metrics) watchJobs(ctx context.Context, client *river.Client[pgx.Tx]) {
	events, cancel := client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed,
		river.EventKindJobCancelled, river.EventKindJobSnoozed)
	go func() {
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-events:
				if !ok {
					return
				}
				outcome := map[river.EventKind]string{river.EventKindJobCompleted: "completed", river.EventKindJobFailed: "failed",
					river.EventKindJobCancelled: "cancelled", river.EventKindJobSnoozed: "snoozed"}[e.Kind]
				m.jobs.WithLabelValues(e.Job.Kind, e.Job.Queue, outcome).Inc()
			}
		}
	}()
}

// embedder wraps e so its calls are timed and its failures counted under provider.
func (m *metrics) embedder(e embed.Embedder, provider string) embed.Embedder {
	return &timedEmbedder{Embedder: e, seconds: m.embedSeconds.WithLabelValues(provider), errors: m.embedErrors.WithLabelValues(provider)}
}

type timedEmbedder struct {
	embed.Embedder
	seconds prometheus.Observer
	errors  prometheus.Counter
}

func (t *timedEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, []error) {
	start := time.Now()
	vecs, errs := t.Embedder.Embed(ctx, texts)
	t.seconds.Observe(time.Since(start).Seconds())
	for _, err := range errs {
		if err != nil {
			t.errors.Inc()
		}
	}
	return vecs, errs
}

// Calls passes the wrapped embedder's call count through (benchmarks read it).
func (t *timedEmbedder) Calls() int64 {
	if c, ok := t.Embedder.(embed.CallCounter); ok {
		return c.Calls()
	}
	return 0
}

// queueCollector reports queue depth and the age of the oldest available job per queue,
// read from the database at scrape time.
type queueCollector struct {
	pool   *pgxpool.Pool
	queues func() []string
	logger *slog.Logger
}

var (
	queueJobsDesc = prometheus.NewDesc("osa_queue_jobs", "Jobs in a River queue, by state.", []string{"queue", "state"}, nil)
	queueAgeDesc  = prometheus.NewDesc("osa_queue_oldest_available_seconds", "Age of the oldest available job of a queue.", []string{"queue"}, nil)
)

// Describe implements prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueJobsDesc
	ch <- queueAgeDesc
}

// Collect implements prometheus.Collector.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stats, err := admin.Stats(ctx, c.pool, c.queues())
	if err != nil {
		c.logger.Warn("metrics: error reading queue stats", "error", err)
		return
	}
	for _, q := range stats {
		for state, n := range map[string]int64{"available": q.Available, "scheduled": q.Scheduled, "running": q.Running,
			"retryable": q.Retryable, "pending": q.Pending} {
			ch <- prometheus.MustNewConstMetric(queueJobsDesc, prometheus.GaugeValue, float64(n), q.Name, state)
		}
		ch <- prometheus.MustNewConstMetric(queueAgeDesc, prometheus.GaugeValue, q.OldestAvailableAge.Seconds(), q.Name)
	}
}

// poolCollector reports the connections of the process's pool, read from the pool at scrape
// time: the connections it holds by state, and its size limit (database.max_conns).
type poolCollector struct {
	pool *pgxpool.Pool
}

var (
	poolConnsDesc = prometheus.NewDesc("osa_db_pool_connections",
		"Connections of the database pool, by state (acquired: in use; idle; constructing: being opened).", []string{"state"}, nil)
	poolMaxDesc = prometheus.NewDesc("osa_db_pool_max_connections", "The most connections the database pool opens (database.max_conns).", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- poolConnsDesc
	ch <- poolMaxDesc
}

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.pool.Stat()
	for state, n := range map[string]int32{"acquired": st.AcquiredConns(), "idle": st.IdleConns(), "constructing": st.ConstructingConns()} {
		ch <- prometheus.MustNewConstMetric(poolConnsDesc, prometheus.GaugeValue, float64(n), state)
	}
	ch <- prometheus.MustNewConstMetric(poolMaxDesc, prometheus.GaugeValue, float64(st.MaxConns()))
}

// observeRead counts a read request the router routed (replicas.Config.OnRead).
func (m *metrics) observeRead(target, reason string) {
	m.reads.WithLabelValues(target, reason).Inc()
}

// watchReplicas reports the replicas of router at every scrape, when it has any.
func (m *metrics) watchReplicas(router *replicas.Router) {
	if router.Enabled() {
		m.registry.MustRegister(replicaCollector{router: router})
	}
}

// replicaCollector reports each replica's state as the router last measured it.
type replicaCollector struct{ router *replicas.Router }

var (
	replicaUpDesc = prometheus.NewDesc("osa_db_replica_up",
		"1 when the replica's last probe answered, from a standby; 0 when it is down.", []string{"replica"}, nil)
	replicaLagDesc = prometheus.NewDesc("osa_db_replica_lag_seconds",
		"How far the replica's data is behind the primary's, counted from its last measurement to now; absent before the first.",
		[]string{"replica"}, nil)
	replicaRoutableDesc = prometheus.NewDesc("osa_db_replica_routable",
		"1 when reads may go to the replica: up and within database.max_replica_lag.", []string{"replica"}, nil)
)

// Describe implements prometheus.Collector.
func (c replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- replicaUpDesc
	ch <- replicaLagDesc
	ch <- replicaRoutableDesc
}

// Collect implements prometheus.Collector.
func (c replicaCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.router.Status() {
		ch <- prometheus.MustNewConstMetric(replicaUpDesc, prometheus.GaugeValue, boolFloat(st.Up), st.Name)
		ch <- prometheus.MustNewConstMetric(replicaRoutableDesc, prometheus.GaugeValue, boolFloat(st.Routable), st.Name)
		if st.Lag >= 0 {
			ch <- prometheus.MustNewConstMetric(replicaLagDesc, prometheus.GaugeValue, st.Lag.Seconds(), st.Name)
		}
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
