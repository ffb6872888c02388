// Package server wires one OSA process together from its config: the Postgres pool, River, the
// Connect services (Connect, gRPC and gRPC-Web on one h2c port), gRPC reflection and health,
// /healthz and /readyz, River UI, and graceful shutdown. Everything below it receives what it
// needs as arguments; this is the one place that builds things from config.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxvec "github.com/pgvector/pgvector-go/pgx"
	"github.com/riverqueue/river/rivertype"
	"riverqueue.com/riverui"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/catalog"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/dump"
	"github.com/osa-archive/osa/events"
	"github.com/osa-archive/osa/jobs"
	"github.com/osa-archive/osa/jobs/eventprune"
	"github.com/osa-archive/osa/jobs/harvest"
	"github.com/osa-archive/osa/jobs/heartbeat"
	"github.com/osa-archive/osa/jobs/pipeline"
	"github.com/osa-archive/osa/jobs/reindex"
	"github.com/osa-archive/osa/migrations"
	"github.com/osa-archive/osa/records"
	"github.com/osa-archive/osa/replicas"
	"github.com/osa-archive/osa/requestid"
	"github.com/osa-archive/osa/search"
	"github.com/osa-archive/osa/sources"
)

// connectTimeout bounds the start-up check that the database is reachable.
const connectTimeout = 10 * time.Second

// Server is one OSA process. Build it with [New], run it with [Server.Run], release it with
// [Server.Close].
type Server struct {
	cfg     *config.Config
	handler http.Handler
	logger  *slog.Logger
	pool    *pgxpool.Pool
	// listenPool holds River's LISTEN connection when database.listen_url is set; nil otherwise.
	listenPool *pgxpool.Pool
	ready      *readiness
	river      *jobs.Client
	search     *search.Service
	store      *records.Store
	feed       *events.Feed
	// router picks the pool of each read: a replica of database.replica_urls, or pool
	// (replicas.go).
	router   *replicas.Router
	exporter *dump.Exporter
	importer *dump.Importer
	// sources are the configured sources (sources_build.go).
	sources *sources.Registry
	// view is the process's backends as it last read the catalog (catalog.go); reloadMu
	// serialises its reloads.
	view     backendView
	reloadMu sync.Mutex
	onBatch  func(pipeline.BatchStats)
	metrics  *metrics
	tracing  *tracing // nil unless tracing.enabled
	// stopping is closed when Run begins to shut down (stop closes it once): publishes waiting
	// for their records to be indexed answer at once instead of holding the shutdown up.
	stopping chan struct{}
	stop     func()
	// runsWorkers is set when the role works jobs and the client has queues to work.
	runsWorkers bool
	// working is the jobs this process works, when it runs workers (heartbeat.Working).
	working *heartbeat.Working
	ui      *riverui.Handler // nil when River UI is not served
}

// New connects to the database (an unreachable database is an error that names it), applies
// pending migrations when database.auto_migrate is set, and builds the River client and the HTTP
// handler for cfg.Node.Role. It starts nothing: see [Server.Run]. A cfg that does not validate
// ([config.Config.Validate]) is refused with its problems, each naming its key.
func New(ctx context.Context, cfg *config.Config, logger *slog.Logger, opts ...Option) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Database.URL == "" {
		return nil, errors.New("database.url is required (set OSA_DATABASE__URL or use `osa dev`, which starts a private PostgreSQL)")
	}
	if cfg.Database.AutoMigrate {
		if err := migrate(ctx, cfg.Database, logger); err != nil {
			return nil, err
		}
	}
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// Every line logged with a request's context names the request (X-Request-Id).
	logger = slog.New(requestid.Handler(logger.Handler()))
	s := &Server{cfg: cfg, logger: logger, pool: pool, ready: newReadiness(pool), stopping: make(chan struct{})}
	s.stop = sync.OnceFunc(func() { close(s.stopping) })
	for _, o := range opts {
		o(s)
	}
	s.metrics = newMetrics(pool, s.queueNames, logger)
	if cfg.Tracing.Enabled {
		if s.tracing, err = newTracing(ctx, cfg.Tracing.ServiceName); err != nil {
			pool.Close()
			return nil, err
		}
	}
	if s.router, err = s.openReplicas(); err != nil {
		s.Close()
		return nil, err
	}
	s.metrics.watchReplicas(s.router)
	if err := s.build(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if cfg.RiverUI.Enabled && cfg.Node.Role != config.RoleWorker {
		s.ui, err = riverui.NewHandler(&riverui.HandlerOpts{
			Endpoints: riverui.NewEndpoints(s.river.Client, nil),
			Logger:    logger,
			Prefix:    riverUIPrefix,
		})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("error building River UI: %w", err)
		}
	}
	s.handler = withRequestID(logRequests(s.logger, s.routes()))
	return s, nil
}

// build makes the backends (checking their tables), the sources, the River client and the record
// store.
func (s *Server) build(ctx context.Context) error {
	if err := s.seedCatalog(ctx); err != nil {
		return err
	}
	entries, err := catalog.Load(ctx, s.pool)
	if err != nil {
		return err
	}
	built, err := s.buildFromCatalog(ctx, entries, nil)
	if err != nil {
		return err
	}
	s.view.set(built, entries)
	s.warnDrift(ctx, built)
	bs := s.view.all()
	if s.sources, err = buildSources(s.cfg, s.logger); err != nil {
		return err
	}
	storeCfg := records.StoreConfig{
		Domain:   s.cfg.Node.Domain,
		Limits:   records.Limits{MaxMetadataBytes: s.cfg.Records.MaxMetadataBytes, MaxDepth: s.cfg.Records.MaxDepth},
		MaxBatch: s.cfg.Records.MaxBatch,
	}
	s.runsWorkers = s.cfg.Node.Role != config.RoleAPI
	w := s.cfg.Worker
	var middleware []rivertype.Middleware
	if s.tracing != nil {
		middleware = append(middleware, s.tracing.riverMiddleware())
	}
	if s.runsWorkers {
		// The jobs this process works, so that its heartbeat can tell the ones it took but
		// never learned of (a fetch whose answer was lost with its connection).
		s.working = heartbeat.NewWorking(s.heartbeatConfig().DeadAfter)
		middleware = append(middleware, s.working)
		if s.cfg.Database.ListenURL != "" {
			if s.listenPool, err = openListenPool(ctx, s.cfg.Database); err != nil {
				return err
			}
		}
	}
	s.river, err = jobs.NewClient(s.pool, jobs.Config{
		Pipeline: pipeline.Config{
			Backends:       bs,
			Domain:         s.cfg.Node.Domain,
			OnBatch:        s.observeBatch,
			FanOutWorkers:  w.FanoutWorkers,
			FanOutBatch:    w.FanoutBatch,
			FanOutDelay:    w.FanoutDelay,
			OutageRetryMax: w.OutageRetryMax,
			OutageRetryMin: w.OutageRetryMin,
			TotalWorkers:   w.TotalWorkers,
		},
		Harvest: harvest.Config{Sources: s.sources},
		// A rebuild's job may be fetched before its process follows the catalog change that
		// started it: the process has it within catalog.poll_interval.
		Reindex: reindex.Config{RetireAfter: s.cfg.Catalog.RetireAfter, NotHereSnooze: s.cfg.Catalog.PollInterval},
		EventPrune: eventprune.Config{Retention: s.cfg.Events.Retention, Interval: s.cfg.Events.PruneInterval,
			Batch: s.cfg.Events.PruneBatch},
		Store:             storeCfg,
		Middleware:        middleware,
		FetchCooldown:     w.FetchCooldown,
		FetchPollInterval: w.FetchPollInterval,
		JobTimeout:        w.JobTimeout,
		RescueAfter:       w.RescueAfter,
		SoftStopTimeout:   w.ShutdownTimeout,
		Work:              s.runsWorkers,
		PollOnly:          s.cfg.Database.TransactionPooler && s.listenPool == nil,
		ListenPool:        s.listenPool,
	}, s.logger)
	if err != nil {
		return err
	}
	// The API's store reads where the router pinned a read request; the jobs' store above does not.
	storeCfg.ReadPool = s.router.Pool
	s.store = records.NewStore(s.pool, pipeline.EnqueueFanOut(s.river.Client), storeCfg)
	s.feed = events.New(s.pool, events.Config{
		PageLimitMax:      s.cfg.Events.PageLimitMax,
		PollInterval:      s.cfg.Events.PollInterval,
		KeepAliveInterval: s.cfg.Events.KeepAliveInterval,
		Retention:         s.cfg.Events.Retention,
		ReadPool:          s.router.Pool,
	})
	s.exporter = dump.NewExporter(s.pool, s.cfg.Node.Domain, dump.ExportConfig{ChunkBytes: s.cfg.Export.ChunkBytes,
		MaxRunning: s.cfg.Export.MaxRunning})
	s.importer = dump.NewImporter(s.pool, s.cfg.Node.Domain, storeCfg.Limits, dump.ImportConfig{BatchSize: s.cfg.Import.BatchSize,
		MaxLineBytes: s.cfg.Import.MaxLineBytes, MaxProblems: s.cfg.Import.MaxProblems})
	s.search = search.New(s.pool, s.view.searchers(), search.Config{
		Domain:        s.cfg.Node.Domain,
		EfSearch:      s.cfg.Search.EfSearch,
		RRFK:          s.cfg.Search.RRFK,
		Fusion:        s.cfg.Search.Fusion,
		SemanticRatio: s.cfg.Search.SemanticRatio,
		HybridDepth:   s.cfg.Search.HybridDepth,
		MaxLimit:      s.cfg.Search.MaxLimit,
		MaxOffset:     s.cfg.Search.MaxOffset,
		FacetDepth:    s.cfg.Search.FacetDepth,
		Fields:        s.cfg.Search.WhereFields(),
		ReadPool:      s.router.Pool,
	})
	return nil
}

// Option adjusts a [Server] built by [New].
type Option func(*Server)

// WithBatchObserver has f called after every index batch (benchmarks, metrics). f must be fast
// and safe for concurrent use.
func WithBatchObserver(f func(pipeline.BatchStats)) Option { return func(s *Server) { s.onBatch = f } }

// observeBatch feeds one index batch to the metrics and to the WithBatchObserver function.
func (s *Server) observeBatch(st pipeline.BatchStats) {
	s.metrics.observeBatch(st)
	if s.onBatch != nil {
		s.onBatch(st)
	}
}

// queueNames lists the queues of the process's configuration.
func (s *Server) queueNames() []string {
	names := []string{pipeline.QueueFanOut, reindex.Queue, harvest.Queue, eventprune.Queue}
	for _, name := range s.view.names() {
		names = append(names, backends.Queue(name))
	}
	return names
}

// Backends returns the process's backends, building and live, as it last read the catalog.
func (s *Server) Backends() []backends.Backend {
	all := s.view.all()
	out := make([]backends.Backend, len(all))
	for i, b := range all {
		out[i] = b.Backend
	}
	return out
}

// Handler returns the process's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Pool returns the server's database pool.
func (s *Server) Pool() *pgxpool.Pool { return s.pool }

// Close flushes buffered traces and releases the database pool. Call it after [Server.Run]
// returns.
func (s *Server) Close() {
	if s.tracing != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.tracing.shutdown(ctx); err != nil {
			s.logger.Warn("server: error flushing traces", "error", err)
		}
	}
	s.ready.close()
	if s.router != nil {
		s.router.Close()
	}
	s.pool.Close()
	if s.listenPool != nil {
		s.listenPool.Close()
	}
}

// Run serves HTTP on ln and runs the workers of the process's role until ctx is cancelled, then
// shuts down gracefully: it stops accepting requests and gives in-flight ones
// http.shutdown_timeout, then gives running jobs worker.shutdown_timeout to finish before
// cancelling them (River returns cancelled jobs to the queue). It returns the first error that
// stopped it, or nil after a clean shutdown.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true) // h2c: gRPC without TLS, as in grpcurl -plaintext
	srv := &http.Server{
		Handler:           s.handler,
		Protocols:         &protocols,
		ReadHeaderTimeout: s.cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.HTTP.ReadTimeout,
		WriteTimeout:      s.cfg.HTTP.WriteTimeout,
		IdleTimeout:       s.cfg.HTTP.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}

	// Background services live until shutdown, not until ctx: their stop is sequenced below.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	if s.ui != nil {
		if err := s.ui.Start(bg); err != nil {
			return fmt.Errorf("error starting River UI: %w", err)
		}
	}
	if s.runsWorkers {
		// The heartbeat first: a peer must never take this process for dead while it works.
		hc := s.heartbeatConfig()
		hc.Working = s.working
		heart, err := heartbeat.Start(bg, s.pool, s.river.ID(), hc, s.logger)
		if err != nil {
			return err
		}
		defer heart.Stop(context.WithoutCancel(ctx)) // after River stopped: its running jobs are this process's until then
		s.ready.heartbeat.Store(heart)
		if err := s.river.Start(bg); err != nil {
			return fmt.Errorf("error starting River: %w", err)
		}
		s.metrics.watchJobs(bg, s.river.Client)
	}
	followCtx, stopFollowing := context.WithCancel(bg)
	var following sync.WaitGroup
	following.Go(func() { s.followCatalog(followCtx) })
	following.Go(func() { s.buildFieldIndexes(followCtx) })
	// The replicas' probes, until shutdown; none without replicas.
	following.Go(func() { s.router.Run(followCtx) })
	defer func() { stopFollowing(); following.Wait() }() // on an early return

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	s.logger.InfoContext(ctx, "server: listening", "addr", ln.Addr().String(), "role", s.cfg.Node.Role, "workers", s.runsWorkers)
	if len(s.cfg.Auth.Tokens) == 0 && s.cfg.Node.Role != config.RoleWorker {
		s.logger.WarnContext(ctx, "server: no tokens configured (auth.tokens): callers on loopback may do anything, "+
			"writes from other addresses are refused; see `osa token new`")
		if len(s.cfg.HTTP.CORS.AllowedOrigins) > 0 {
			// A browser on this machine calls from loopback: a page of an allowed origin may write.
			s.logger.WarnContext(ctx, "server: no tokens configured and http.cors.allowed_origins set: pages of those origins "+
				"opened on this machine may write", "allowed_origins", s.cfg.HTTP.CORS.AllowedOrigins)
		}
	}

	var err error
	select {
	case <-ctx.Done():
	case err = <-serveErr:
		err = fmt.Errorf("error serving HTTP: %w", err)
	}
	s.logger.InfoContext(ctx, "server: shutting down")
	s.stop()

	httpCtx, cancel := context.WithTimeout(context.Background(), s.cfg.HTTP.ShutdownTimeout)
	if shutErr := srv.Shutdown(httpCtx); shutErr != nil {
		s.logger.Warn("server: HTTP shutdown incomplete, closing connections", "error", shutErr)
		_ = srv.Close()
	}
	cancel()

	stopFollowing() // no queue changes while River stops
	following.Wait()
	if s.runsWorkers {
		s.stopRiver()
	}
	s.logger.Info("server: stopped")
	return err
}

// buildFieldIndexes builds the missing indexes of the declared search fields, online, while the
// server serves (search.EnsureFieldIndexes); a failure is logged, and the next start tries again.
func (s *Server) buildFieldIndexes(ctx context.Context) {
	if err := search.EnsureFieldIndexes(ctx, s.pool, s.cfg.Search.WhereFields(), s.logger); err != nil && ctx.Err() == nil {
		s.logger.WarnContext(ctx, "server: error building the indexes of search.fields; filters and sorts on them scan instead "+
			"until the next start", "error", err)
	}
}

// heartbeatConfig is the heartbeat's config (worker.heartbeat_interval, worker.dead_after),
// defaults applied.
func (s *Server) heartbeatConfig() heartbeat.Config {
	return heartbeat.Config{Interval: s.cfg.Worker.HeartbeatInterval, DeadAfter: s.cfg.Worker.DeadAfter}.WithDefaults()
}

// stopRiver stops River: running jobs get worker.shutdown_timeout to finish, then River cancels
// their contexts itself (its SoftStopTimeout); the wait for them to return after that is bounded
// by riverStopGrace.
func (s *Server) stopRiver() {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Worker.ShutdownTimeout+riverStopGrace)
	defer cancel()
	if err := s.river.Stop(ctx); err != nil {
		s.logger.Error("server: River did not stop", "error", err)
	}
}

// riverStopGrace is how long jobs whose contexts River cancelled may take to return.
const riverStopGrace = 10 * time.Second

// migrate applies pending migrations through a short-lived pool: the main pool registers the
// vector type on connect, which needs the extension the first migration creates.
func migrate(ctx context.Context, db config.Database, logger *slog.Logger) error {
	pc, err := db.PoolConfig(db.URL)
	if err != nil {
		return fmt.Errorf("database.url: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return fmt.Errorf("database.url: %w", err)
	}
	defer pool.Close()
	if err := ping(ctx, pool, "database.url"); err != nil {
		return err
	}
	if err := migrations.Up(ctx, pool, logger); err != nil {
		return fmt.Errorf("error migrating the database: %w", err)
	}
	return nil
}

// openPool builds the main pool, with pgvector's types registered on every connection.
func openPool(ctx context.Context, cfg *config.Config) (*pgxpool.Pool, error) {
	pc, err := vectorPoolConfig(cfg.Database, cfg.Database.URL, "database.url")
	if err != nil {
		return nil, err
	}
	pc.MaxConns = int32(cfg.Database.MaxConns)
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("database.url: %w", err)
	}
	if err := ping(ctx, pool, "database.url"); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// vectorPoolConfig returns the configuration of a pool on url, the value of config key key, with
// db's settings (config.Database.PoolConfig) and pgvector's types registered on every
// connection.
func vectorPoolConfig(db config.Database, url, key string) (*pgxpool.Config, error) {
	pc, err := db.PoolConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	base := pc.AfterConnect
	pc.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		if err := base(ctx, conn); err != nil {
			return err
		}
		if err := pgxvec.RegisterTypes(ctx, conn); err != nil {
			if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && slices.Contains(preparedStatementClash, pgErr.Code) {
				return fmt.Errorf("%w (%s looks like a pooler in transaction mode, such as PgBouncer: "+
					"set database.transaction_pooler: true)", err, key)
			}
			return fmt.Errorf("error registering the vector type (is the schema migrated? run `osa migrate up`): %w", err)
		}
		return nil
	}
	return pc, nil
}

// preparedStatementClash are the SQLSTATEs of a named prepared statement that exists twice
// (42P05) or not at all (26000) on a server connection: what pgx's default statement cache
// meets behind a pooler in transaction mode, which hands server connections from one client to
// another.
var preparedStatementClash = []string{"42P05", "26000"}

// openListenPool builds the pool of database.listen_url, River's direct connection for LISTEN
// behind a transaction pooler: one connection, and one to spare while River reconnects.
func openListenPool(ctx context.Context, db config.Database) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(db.ListenURL)
	if err != nil {
		return nil, fmt.Errorf("database.listen_url: %w", err)
	}
	pc.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("database.listen_url: %w", err)
	}
	if err := ping(ctx, pool, "database.listen_url"); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// ping checks that pool connects; its error names key, the config key of the pool's URL.
func ping(ctx context.Context, pool *pgxpool.Pool, key string) error {
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if err := pool.Ping(ctx); err != nil {
		return fmt.Errorf("%s: cannot connect to %s:%d: %s", key, pool.Config().ConnConfig.Host, pool.Config().ConnConfig.Port, oneLine(err))
	}
	return nil
}

// oneLine folds pgx's multi-line connect errors (one line per address tried) into one line,
// dropping repeats, so a start-up failure is one clear line.
func oneLine(err error) string {
	var parts []string
	for _, p := range strings.Split(err.Error(), "\n") {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(parts, p) {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, " ")
}
