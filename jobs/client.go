package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/osa-archive/osa/jobs/eventprune"
	"github.com/osa-archive/osa/jobs/harvest"
	"github.com/osa-archive/osa/jobs/pipeline"
	"github.com/osa-archive/osa/jobs/reindex"
	"github.com/osa-archive/osa/records"
)

// Config configures the River client of a process: River's settings, and those of each part.
type Config struct {
	// Pipeline configures the fan-out and index workers.
	Pipeline pipeline.Config
	// Harvest configures the harvests of sources.
	Harvest harvest.Config
	// Reindex configures rebuilds.
	Reindex reindex.Config
	// EventPrune configures the periodic prune of the changefeed's old events.
	EventPrune eventprune.Config
	// Store configures the record store harvest chunks publish through: the API's settings.
	Store records.StoreConfig

	// FetchCooldown and FetchPollInterval apply to the client and every queue; 0 means River's
	// defaults (100ms and 1s).
	FetchCooldown     time.Duration
	FetchPollInterval time.Duration
	// JobTimeout bounds one job (worker.job_timeout); a fan-out batch gets half of it. As in
	// River, 0 means river.JobTimeoutDefault (1 minute) and -1 no bound.
	JobTimeout time.Duration
	// Middleware wraps job insertion and work (tracing). nil means none.
	Middleware []rivertype.Middleware
	// RetryPolicy schedules retries; nil is River's default ((attempt)^4 seconds, ±10%).
	RetryPolicy river.ClientRetryPolicy
	// RescueAfter is when a running job of a dead process is made retryable (worker.rescue_after);
	// 0 means River's default (1h).
	RescueAfter time.Duration
	// SoftStopTimeout is how long a stop waits for running jobs before River cancels their
	// contexts (worker.shutdown_timeout); 0 waits for them for ever, as in River.
	SoftStopTimeout time.Duration
	// Work makes the client work queues; without it the client only inserts (the api role).
	Work bool
	// PollOnly makes River poll for jobs every FetchPollInterval instead of listening for them
	// (LISTEN/NOTIFY), as it must behind a pooler in transaction mode without ListenPool.
	PollOnly bool
	// ListenPool, when not nil, is a pool of direct connections to the database, not through a
	// pooler, that River listens on; its queries still go through the client's pool. It is
	// closed by its owner, after the client stopped.
	ListenPool *pgxpool.Pool
}

// WithDefaults returns c with every zero setting of its parts replaced by its default; River's
// own settings keep 0, which River reads as its default.
func (c Config) WithDefaults() Config {
	c.Pipeline = c.Pipeline.WithDefaults()
	c.Store = c.Store.WithDefaults()
	return c
}

// validate reports the first setting of c that cannot work and River does not check; each part
// checks its own settings when it registers.
func (c Config) validate() error {
	if c.SoftStopTimeout < 0 {
		return fmt.Errorf("jobs: SoftStopTimeout (%v) must not be negative", c.SoftStopTimeout)
	}
	return nil
}

// riverConfig is the River configuration of c without queues or workers.
func (c Config) riverConfig(logger *slog.Logger) *river.Config {
	return &river.Config{
		FetchCooldown:        c.FetchCooldown,
		FetchPollInterval:    c.FetchPollInterval,
		JobTimeout:           c.JobTimeout,
		Logger:               logger,
		Middleware:           c.Middleware,
		PollOnly:             c.PollOnly,
		RescueStuckJobsAfter: c.RescueAfter,
		RetryPolicy:          c.RetryPolicy,
		SoftStopTimeout:      c.SoftStopTimeout,
	}
}

// Client is the River client of a process, with the workers whose backends change while it runs.
type Client struct {
	*river.Client[pgx.Tx]
	pipeline *pipeline.Workers // nil without Config.Work
	reindex  *reindex.Workers  // nil without Config.Work
}

// SetBackends makes bs the backends the process indexes and rebuilds, while it runs
// ([pipeline.Workers.SetBackends]); a client that only inserts has nothing to change.
func (c *Client) SetBackends(ctx context.Context, bs []pipeline.BackendConfig) error {
	if c.pipeline == nil {
		return nil
	}
	if err := c.pipeline.SetBackends(ctx, bs); err != nil {
		return err
	}
	c.reindex.SetRebuilders(rebuildTargets(bs))
	return nil
}

// rebuildTargets are the rebuilds bs's backends take: of the next generation while one is
// built, else of the backend itself.
func rebuildTargets(bs []pipeline.BackendConfig) []reindex.Target {
	out := make([]reindex.Target, len(bs))
	for i, b := range bs {
		out[i] = reindex.Target{Rebuilder: b.Backend, Generation: b.Generation}
		if b.Next != nil {
			out[i] = reindex.Target{Rebuilder: b.Next, Generation: b.NextGeneration}
		}
	}
	return out
}

// NewClient builds the River client of a process. With cfg.Work it registers every part's
// queues and workers — the pipeline (fan-out and one index queue per backend), harvests,
// rebuilds and the prune of old events — then hands the client (and, to harvests, the record store) to their workers.
// Without it the client only inserts.
func NewClient(pool *pgxpool.Pool, cfg Config, logger *slog.Logger) (*Client, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	rc := cfg.riverConfig(logger)
	if !cfg.Work {
		client, err := newRiverClient(pool, cfg.ListenPool, rc)
		if err != nil {
			return nil, err
		}
		return &Client{Client: client}, nil
	}
	rc.Queues = map[string]river.QueueConfig{}
	rc.Workers = river.NewWorkers()
	pipe, err := pipeline.Register(rc, pool, cfg.Pipeline, logger)
	if err != nil {
		return nil, err
	}
	harvests, err := harvest.Register(rc, pool, cfg.Harvest, logger)
	if err != nil {
		return nil, err
	}
	rebuilds, err := reindex.Register(rc, cfg.Reindex, pool, rebuildTargets(cfg.Pipeline.Backends), logger)
	if err != nil {
		return nil, err
	}
	if err := eventprune.Register(rc, pool, cfg.EventPrune, logger); err != nil {
		return nil, err
	}
	client, err := newRiverClient(pool, cfg.ListenPool, rc)
	if err != nil {
		return nil, err
	}
	pipe.Bind(client)
	harvests.Bind(client, records.NewStore(pool, pipeline.EnqueueFanOut(client), cfg.Store))
	rebuilds.Bind(client)
	return &Client{Client: client, pipeline: pipe, reindex: rebuilds}, nil
}

func newRiverClient(pool, listen *pgxpool.Pool, rc *river.Config) (*river.Client[pgx.Tx], error) {
	var driver riverdriver.Driver[pgx.Tx] = riverpgxv5.New(pool)
	if listen != nil {
		driver = listenDriver{Driver: riverpgxv5.New(pool), listen: riverpgxv5.New(listen)}
	}
	client, err := river.NewClient(driver, rc)
	if err != nil {
		return nil, fmt.Errorf("error building the River client: %w", err)
	}
	return client, nil
}

// listenDriver is River's pgx driver on one pool whose listener, which holds a connection with
// LISTEN for as long as the client runs, is on another: a direct connection to the database
// when the first pool goes through a pooler in transaction mode.
type listenDriver struct {
	*riverpgxv5.Driver
	listen *riverpgxv5.Driver
}

// GetListener returns the listener of the listen pool.
func (d listenDriver) GetListener(params *riverdriver.GetListenenerParams) riverdriver.Listener {
	return d.listen.GetListener(params)
}
