// Package config loads the configuration of an OSA server.
//
// [Load] builds the effective [Config] from four layers, each overriding the
// one before: the built-in defaults ([Default]), a YAML file, OSA_* environment
// variables and "key=value" overrides from command-line flags. Loading is
// strict: a key that isn't part of the format is an error, as is a value that
// doesn't fit its field, and the result is checked by [Config.Validate].
// Every error is one line naming the key (dotted, list items as
// "backends[1].kind") and, where known, the source of the value.
//
// osa.example.yaml in this directory documents every key with its default.
package config

import (
	"time"

	"github.com/osa-archive/osa/jobs/heartbeat"
	"github.com/osa-archive/osa/jobs/pipeline"
	"github.com/osa-archive/osa/records"
	"github.com/osa-archive/osa/search"
	"github.com/osa-archive/osa/web"
)

// Roles of a process, the values of node.role.
const (
	RoleAll    = "all"    // serve the API and run workers
	RoleAPI    = "api"    // serve the API only
	RoleWorker = "worker" // run workers only
)

// Log levels and formats, the values of log.level and log.format.
const (
	LogLevelDebug = "debug"
	LogLevelInfo  = "info"
	LogLevelWarn  = "warn"
	LogLevelError = "error"

	LogFormatJSON = "json"
	LogFormatText = "text"
)

// Defaults and bounds of the top-level sections.
const (
	DomainDefault    = records.DomainDefault
	DomainMaxLen     = 63
	RoleDefault      = RoleAll
	LogLevelDefault  = LogLevelInfo
	LogFormatDefault = LogFormatText

	AddrDefault                = ":8080"
	ReadMaxBytesDefault        = 4 << 20
	ReadMaxBytesMin            = 1 << 10
	ReadMaxBytesMax            = 1 << 30
	CompressMinBytesDefault    = 1 << 10
	CompressMinBytesMax        = 1 << 30
	ReadHeaderTimeoutDefault   = 10 * time.Second
	ReadTimeoutDefault         = time.Minute
	WriteTimeoutDefault        = 2 * time.Minute
	IdleTimeoutDefault         = 2 * time.Minute
	HTTPShutdownTimeoutDefault = 30 * time.Second

	MaxConnsDefault    = 20
	MaxConnsMin        = 2
	MaxConnsMax        = 1000
	AutoMigrateDefault = true

	TotalWorkersDefault          = 512
	TotalWorkersMin              = 1
	TotalWorkersMax              = 10000
	JobTimeoutDefault            = 2 * time.Minute
	RescueAfterDefault           = 10 * time.Minute
	HeartbeatIntervalDefault     = heartbeat.IntervalDefault
	HeartbeatIntervalMin         = 100 * time.Millisecond
	DeadAfterDefault             = heartbeat.DeadAfterDefault
	WorkerShutdownTimeoutDefault = 30 * time.Second
	FetchCooldownDefault         = 5 * time.Millisecond
	FetchCooldownMin             = time.Millisecond
	FetchPollIntervalDefault     = 500 * time.Millisecond
	FetchPollIntervalMin         = time.Millisecond
	FanoutWorkersDefault         = 256
	FanoutWorkersMin             = 1
	FanoutWorkersMax             = 10000
	FanoutBatchDefault           = pipeline.FanOutBatchDefault
	FanoutBatchMin               = 1
	FanoutBatchMax               = 10000
	FanoutDelayDefault           = pipeline.FanOutDelayDefault
	FanoutDelayMax               = time.Minute
	OutageRetryMinDefault        = pipeline.OutageRetryMinDefault
	OutageRetryMaxDefault        = pipeline.OutageRetryMaxDefault
	OutageRetryMaxMax            = time.Hour

	MaxMetadataBytesDefault = records.MaxMetadataBytesDefault
	MaxMetadataBytesMin     = 1
	MaxMetadataBytesMax     = 16 << 20
	MaxDepthDefault         = records.MaxDepthDefault
	MaxDepthMin             = 1
	MaxDepthMax             = 1000
	MaxBatchDefault         = records.MaxBatchDefault
	MaxBatchMin             = 1
	MaxBatchMax             = 10000
	WaitTimeoutDefault      = 10 * time.Second
	WaitTimeoutMaxDefault   = time.Minute
	WaitTimeoutMaxMax       = 10 * time.Minute

	EfSearchDefault      = search.EfSearchDefault
	EfSearchMin          = 1
	EfSearchMax          = 1000
	RRFKDefault          = search.RRFKDefault
	RRFKMin              = 1
	RRFKMax              = 10000
	HybridDepthDefault   = search.HybridDepthDefault
	HybridDepthMin       = 10
	HybridDepthMax       = 10000
	SemanticRatioDefault = search.SemanticRatioDefault
	MaxLimitDefault      = search.LimitMaxDefault
	MaxLimitMin          = 1
	MaxLimitMax          = 10000
	MaxOffsetDefault     = search.OffsetMaxDefault
	MaxOffsetMin         = 0
	MaxOffsetMax         = 1000000
	FacetDepthDefault    = search.FacetDepthDefault
	FacetDepthMin        = 1
	FacetDepthMax        = search.FacetDepthMax

	CatalogPollIntervalDefault = 2 * time.Second
	CatalogPollIntervalMin     = 100 * time.Millisecond
	CatalogPollIntervalMax     = time.Minute
	CatalogRetireAfterDefault  = 24 * time.Hour
	CatalogRetireAfterMin      = 0
	CatalogRetireAfterMax      = 90 * 24 * time.Hour

	RiverUIEnabledDefault = true
	UIEnabledDefault      = true
	UITitleDefault        = web.TitleDefault
	UIAboutDefault        = web.AboutDefault
	UITitleMax            = 100
	UIAboutMax            = 500

	TracingServiceNameDefault = "osa"

	DevDataDirDefault            = ".osa"
	DevPortDefault               = 5433
	DevSharedBuffersDefault      = "2GB"
	DevMaintenanceWorkMemDefault = "1GB"
	DevWorkMemDefault            = "16MB"
)

// Config is the configuration of an OSA server. Build it with [Load] or
// [Default]; a hand-built Config should be checked with [Config.Validate].
//
// Fields are in the order of the file format (and of [Config.YAML]), not
// alphabetical, so that the rendered file reads like osa.example.yaml.
type Config struct {
	// Node identifies this node.
	Node Node `koanf:"node"`

	// HTTP configures the listener of the API.
	HTTP HTTP `koanf:"http"`

	// Database configures the Postgres connection.
	Database Database `koanf:"database"`

	// Log configures logging.
	Log Log `koanf:"log"`

	// Worker configures the job workers of a process.
	Worker Worker `koanf:"worker"`

	// Records limits what a record may be.
	Records Records `koanf:"records"`

	// Search limits and tunes search.
	Search Search `koanf:"search"`

	// Events configures the changefeed and its retention.
	Events Events `koanf:"events"`

	// Export configures exports of the records.
	Export Export `koanf:"export"`

	// Import configures imports of exports.
	Import Import `koanf:"import"`

	// Catalog configures how processes follow the backend catalog.
	Catalog Catalog `koanf:"catalog"`

	// RiverUI configures the River UI mounted under /riverui/.
	RiverUI RiverUI `koanf:"riverui"`

	// UI configures the web interface: the search page at /, record pages, /status.
	UI UI `koanf:"ui"`

	// Auth configures authentication: bearer tokens and their scopes.
	Auth Auth `koanf:"auth"`

	// Tracing configures OpenTelemetry tracing of RPCs and jobs.
	Tracing Tracing `koanf:"tracing"`

	// Dev configures the private Postgres cluster of `osa dev`.
	Dev Dev `koanf:"dev"`

	// Backends are the index backends, each with its own queue index_<name>.
	// A list given in a file, the environment or a flag replaces the default
	// list as a whole; each of its items is filled from [DefaultBackend].
	// Defaults to two backends: "vector" (pgvector, weight 2) and "keyword"
	// (keyword, weight 1).
	Backends []Backend `koanf:"backends"`

	// Sources are the external repositories records are harvested from. A
	// list given in a file replaces the default list as a whole; each of its
	// items is filled from [DefaultSource]. Defaults to one disabled source
	// "geo" of kind geo_entrez.
	Sources []Source `koanf:"sources"`
}

// Node identifies this node.
type Node struct {
	// Domain is the domain of the SRNs this node mints
	// (urn:osa:{domain}:rec:...): lower-case DNS labels of a-z, 0-9 and "-",
	// separated by dots, at most 63 characters. Defaults to "localhost".
	Domain string `koanf:"domain"`

	// Role is what this process does: "all" (API and workers), "api" or
	// "worker". Defaults to "all".
	Role string `koanf:"role"`
}

// HTTP configures the listener of the API.
type HTTP struct {
	// Addr is the listen address, host:port with a numeric port; an empty host
	// listens on every interface and port 0 picks a free port. Defaults to
	// ":8080".
	Addr string `koanf:"addr"`

	// ReadMaxBytes is the largest request body accepted, 1 KiB..1 GiB.
	// Defaults to 4 MiB.
	ReadMaxBytes int `koanf:"read_max_bytes"`

	// CompressMinBytes is the size from which a response is gzip-compressed
	// for a client that accepts gzip, 0..1 GiB: 0 compresses every response,
	// and a size above the largest response never compresses. Compression
	// saves bytes on the network and costs CPU on both ends. Defaults to 1 KiB.
	CompressMinBytes int `koanf:"compress_min_bytes"`

	// ReadHeaderTimeout is how long a client may take to send request headers.
	// Defaults to 10s.
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout"`

	// ReadTimeout is how long a client may take to send a whole request, headers
	// and body. Defaults to 1m.
	ReadTimeout time.Duration `koanf:"read_timeout"`

	// WriteTimeout is how long one request may take, from the end of its headers
	// to the end of its answer; longer than records.wait_timeout_max, which a
	// publish may wait. Defaults to 2m.
	WriteTimeout time.Duration `koanf:"write_timeout"`

	// IdleTimeout is how long a kept-alive connection may wait for its next
	// request. Defaults to 2m.
	IdleTimeout time.Duration `koanf:"idle_timeout"`

	// ShutdownTimeout is how long in-flight requests get to finish on
	// shutdown. Defaults to 30s.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`

	// CORS lets pages of other origins call the API from a browser. Defaults to
	// no origins.
	CORS CORS `koanf:"cors"`

	// Cache sets the caching headers of the GET answers of read RPCs.
	Cache Cache `koanf:"cache"`

	// RateLimit bounds the requests of each token and of each anonymous address. Defaults to
	// no limit.
	RateLimit RateLimit `koanf:"rate_limit"`

	// MaxInFlight is how many API calls may run at once, 0..100000; beyond it a call answers
	// Unavailable at once. 0 sets no cap. Defaults to 256.
	MaxInFlight int `koanf:"max_in_flight"`

	// WriteReserve is the share of max_in_flight that reads may not take, 0..0.9, so that a
	// flood of searches never starves publishes. Defaults to 0.25.
	WriteReserve float64 `koanf:"write_reserve"`
}

// Database configures the Postgres connection.
type Database struct {
	// URL is the Postgres connection string (postgres://user:pass@host/db). An
	// empty URL means `osa dev` starts a private cluster; `osa serve` requires
	// one (checked by the command, not by Validate). Secret: its password is
	// redacted by [Config.Redacted]. Defaults to "".
	URL string `koanf:"url"`

	// MaxConns is the size of the connection pool, 2..1000. Defaults to 20.
	MaxConns int `koanf:"max_conns"`

	// AutoMigrate applies pending migrations at start-up. Defaults to true.
	AutoMigrate bool `koanf:"auto_migrate"`

	// TransactionPooler makes OSA safe behind a connection pooler in transaction mode
	// (PgBouncer's pool_mode = transaction) at URL: no named prepared statements, and River
	// polls for jobs instead of listening, unless ListenURL is set. Defaults to false.
	TransactionPooler bool `koanf:"transaction_pooler"`

	// ListenURL is a direct connection to the same database, not through the pooler, on which
	// River listens for new jobs (LISTEN/NOTIFY) when TransactionPooler is set; it holds one
	// connection per worker process. Empty: River polls every worker.fetch_poll_interval.
	// Secret: its password is redacted by [Config.Redacted]. Defaults to "".
	ListenURL string `koanf:"listen_url"`

	// ReplicaURLs are streaming replicas (hot standbys) of the database at URL, at most 16:
	// searches and the read RPCs go to the least busy one that lags at most MaxReplicaLag, and to
	// the primary when none does (package replicas). Each gets a pool of MaxConns, set up as
	// URL's (TransactionPooler applies to them too). Used by the api and all roles. Secret: their passwords are redacted by [Config.Redacted]. Defaults to
	// none.
	ReplicaURLs []string `koanf:"replica_urls"`

	// MaxReplicaLag is how far behind the primary a replica may be and still take reads,
	// 100ms..1h. Defaults to 5s.
	MaxReplicaLag time.Duration `koanf:"max_replica_lag"`

	// ReplicaProbeInterval is how often each replica's lag is measured, 50ms..1m and at most
	// MaxReplicaLag. Defaults to 1s.
	ReplicaProbeInterval time.Duration `koanf:"replica_probe_interval"`
}

// Log configures logging.
type Log struct {
	// Level is the lowest level logged: "debug", "info", "warn" or "error".
	// Defaults to "info".
	Level string `koanf:"level"`

	// Format is "text" or "json". Defaults to "text".
	Format string `koanf:"format"`
}

// Worker configures the job workers of a process.
type Worker struct {
	// TotalWorkers is the worker budget of a process, split across the index
	// queues by backend weight, 1..10000. Defaults to 512.
	TotalWorkers int `koanf:"total_workers"`

	// JobTimeout is how long one job may run. It must cover a backend's
	// batch.max_delay + batch.timeout. Defaults to 2m.
	JobTimeout time.Duration `koanf:"job_timeout"`

	// RescueAfter is how long a job may stay running before it's considered
	// abandoned by a crashed process and retried; at least 2 × JobTimeout.
	// Defaults to 10m.
	RescueAfter time.Duration `koanf:"rescue_after"`

	// HeartbeatInterval is how often a worker process beats its row of worker_heartbeats, at
	// least 100ms. Defaults to 3s.
	HeartbeatInterval time.Duration `koanf:"heartbeat_interval"`

	// DeadAfter is how long a worker process may go without a beat before a peer takes it for
	// dead and retries its running jobs at once (rescue_after stays the last resort); at least
	// 3 × heartbeat_interval, and a process that cannot beat for half of it stops taking work.
	// Defaults to 15s.
	DeadAfter time.Duration `koanf:"dead_after"`

	// ShutdownTimeout is the soft stop: in-flight jobs get this long to finish
	// on shutdown, then they're cancelled. Defaults to 30s.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`

	// FetchCooldown is the shortest time between two fetches of jobs, at
	// least 1ms. Defaults to 5ms.
	FetchCooldown time.Duration `koanf:"fetch_cooldown"`

	// FetchPollInterval is how often jobs are polled for when no notification
	// arrives, at least FetchCooldown. Defaults to 500ms.
	FetchPollInterval time.Duration `koanf:"fetch_poll_interval"`

	// FanoutWorkers is the number of workers on the fanout queue, 1..10000, rounded down to a
	// whole multiple of FanoutBatch (at least one batch). Defaults to 256.
	FanoutWorkers int `koanf:"fanout_workers"`

	// FanoutBatch is the most record changes fanned out in one transaction, 1..10000, in whole
	// fan-out jobs (one per publish call, harvest chunk or delete): a job of more changes is a
	// batch of its own. Defaults to 128.
	FanoutBatch int `koanf:"fanout_batch"`

	// FanoutDelay is how long the first fan-out job of a batch waits for more, 0 < d <= 1m.
	// Defaults to 20ms.
	FanoutDelay time.Duration `koanf:"fanout_delay"`

	// OutageRetryMin is the shortest wait of an index job while its backend's embedding
	// provider is down, more than 0 and at most OutageRetryMax. Defaults to 1s.
	OutageRetryMin time.Duration `koanf:"outage_retry_min"`

	// OutageRetryMax caps the wait of an index job while its backend's embedding provider is
	// down (connection refused, 5xx, timeouts), at least OutageRetryMin and at most 1h. Such a
	// job snoozes without using an attempt, for as long as the outage has lasted so far (less
	// up to 20% at random), so once the provider is back every record is indexed within
	// OutageRetryMax (plus up to 5s, River's scheduler interval, when it is longer than that).
	// An outage that never ends loses nothing: its jobs stay scheduled and are tried again
	// every OutageRetryMax or so. Defaults to 30s.
	OutageRetryMax time.Duration `koanf:"outage_retry_max"`
}

// Records limits what a record may be.
type Records struct {
	// MaxMetadataBytes is the largest metadata document, in bytes of JSON,
	// 1..16 MiB. Defaults to 256 KiB.
	MaxMetadataBytes int `koanf:"max_metadata_bytes"`

	// MaxDepth is the deepest nesting of metadata, 1..1000. Defaults to 32.
	MaxDepth int `koanf:"max_depth"`

	// MaxBatch is the most records one PublishRecords call may carry,
	// 1..10000. Defaults to 1000.
	MaxBatch int `koanf:"max_batch"`

	// WaitTimeoutDefault is how long a publish with wait_indexed waits for
	// the live backends to index its records when it sets no wait_timeout,
	// more than 0 and at most WaitTimeoutMax. Defaults to 10s.
	WaitTimeoutDefault time.Duration `koanf:"wait_timeout_default"`

	// WaitTimeoutMax is the longest wait_timeout a publish may ask for, more
	// than 0 and at most 10m; a longer one is InvalidArgument. A waiting call
	// holds no database connection between its polls. Defaults to 1m.
	WaitTimeoutMax time.Duration `koanf:"wait_timeout_max"`
}

// Fusions of hybrid search, the values of search.fusion.
const (
	FusionWeighted = search.FusionWeighted
	FusionRRF      = search.FusionRRF
)

// Search limits and tunes search.
type Search struct {
	// EfSearch is the lowest hnsw.ef_search of a vector search (it's raised
	// with the limit), 1..1000. Defaults to 800, where the default hash embedder
	// and HNSW settings reach recall@10 ≥ 0.95 on 100,000 records (recall by
	// ef_search in bench/results/all-search.md); lower it for speed, or with an
	// embedder whose vectors an HNSW graph navigates more easily.
	EfSearch int `koanf:"ef_search"`

	// Fusion is how hybrid search merges its two sides: "weighted" (each
	// side's scores scaled from its last candidate, 0, to its best, 1, mixed by semantic_ratio) or
	// "rrf" (reciprocal rank fusion with rrf_k). Defaults to "weighted",
	// which measured better on the relevance benchmark
	// (bench/results/relevance-train.md).
	Fusion string `koanf:"fusion"`

	// SemanticRatio is the vector side's share of a weighted fusion, 0..1 (0
	// ranks by keyword alone, 1 by vector alone). Defaults to 0.1, chosen on
	// the relevance benchmark's train split with the hash embedder.
	SemanticRatio float64 `koanf:"semantic_ratio"`

	// RRFK is the k of reciprocal rank fusion in hybrid search, 1..10000.
	// Defaults to 60.
	RRFK int `koanf:"rrf_k"`

	// HybridDepth is how many candidates hybrid search takes from each side
	// before fusing them, 10..10000 (at least the page asked for). Defaults
	// to 100.
	HybridDepth int `koanf:"hybrid_depth"`

	// MaxLimit is the largest limit of one search, 1..10000. Defaults to 100.
	MaxLimit int `koanf:"max_limit"`

	// MaxOffset is the largest offset of one search, 0..1000000. Defaults to
	// 10000.
	MaxOffset int `koanf:"max_offset"`

	// FacetDepth is how many of a query's best hits its facets count and its
	// sort orders, 1..10000 (hybrid search counts its candidates, a browse
	// every record it matches). Defaults to 1000.
	FacetDepth int `koanf:"facet_depth"`

	// Fields are the metadata fields filter expressions, sort and facets can
	// use, with their types. Defaults to GEO's (SearchFieldsDefault): organism, platform,
	// entry_type and gds_type (keywords), pub_date (a date), sample_count (a
	// number) and source (the record's source).
	Fields []SearchField `koanf:"fields"`
}

// Catalog configures how a process follows the backend catalog, the database's list of backends
// that every process indexes and searches (see package catalog).
type Catalog struct {
	// PollInterval is how often a process reads the catalog to start or stop the backends it
	// changed, 100ms..1m: a change applies everywhere within it. Defaults to 2s.
	PollInterval time.Duration `koanf:"poll_interval"`
	// RetireAfter is how long a retired generation keeps its table (renamed, e.g. vec_x_retired_2)
	// after a rebuild replaced it or its backend was removed, 0s..2160h (90 days); then a process
	// following the catalog drops it. 0s drops it at the next poll. Defaults to 24h.
	RetireAfter time.Duration `koanf:"retire_after"`
}

// UI configures the web interface.
type UI struct {
	// Enabled serves the search page at /, a page per record at /records/{id} and the status
	// page at /status (admin scope when tokens are configured). Defaults to true.
	Enabled bool `koanf:"enabled"`
	// Title is the archive's name in every page, 1..100 characters. Defaults to "Open Science
	// Archive".
	Title string `koanf:"title"`
	// About is the line under the search box, up to 500 characters. Defaults to a sentence on
	// what can be searched.
	About string `koanf:"about"`
}

// RiverUI configures the River UI.
type RiverUI struct {
	// Enabled mounts River UI under /riverui/. Defaults to true.
	Enabled bool `koanf:"enabled"`
}

// Tracing configures OpenTelemetry tracing. The exporter is OTLP over HTTP, configured by the
// standard OTEL_EXPORTER_OTLP_* variables (endpoint, headers, timeout; default
// http://localhost:4318), and sampling by OTEL_TRACES_SAMPLER.
type Tracing struct {
	// Enabled traces every RPC (otelconnect) and every job (otelriver). Defaults to false.
	Enabled bool `koanf:"enabled"`

	// ServiceName is the service.name of the traces, unless OTEL_SERVICE_NAME is set.
	// Defaults to "osa".
	ServiceName string `koanf:"service_name"`
}

// Dev configures the private Postgres cluster of `osa dev`.
type Dev struct {
	// DataDir is where the cluster lives. Defaults to ".osa".
	DataDir string `koanf:"data_dir"`

	// Port is the port of the cluster, 0..65535; 0 picks a free one.
	// Defaults to 5433.
	Port int `koanf:"port"`

	// SharedBuffers is Postgres' shared_buffers, a size such as "2GB".
	// Defaults to "2GB".
	SharedBuffers string `koanf:"shared_buffers"`

	// MaintenanceWorkMem is Postgres' maintenance_work_mem (it speeds up
	// building HNSW indexes), a size such as "1GB". Defaults to "1GB".
	MaintenanceWorkMem string `koanf:"maintenance_work_mem"`

	// WorkMem is Postgres' work_mem, a size such as "16MB". Defaults to
	// "16MB".
	WorkMem string `koanf:"work_mem"`
}

// Default returns the built-in configuration, the bottom layer of [Load].
// Every call returns a new value that the caller may change.
func Default() *Config {
	vector := DefaultBackend("vector", BackendKindPgvector)
	vector.Weight = VectorWeightDefault

	geo := DefaultSource("geo", SourceKindGeoEntrez)
	geo.Enabled = false // until an email is configured

	return &Config{
		Node: Node{Domain: DomainDefault, Role: RoleDefault},
		HTTP: HTTP{
			Addr:              AddrDefault,
			ReadMaxBytes:      ReadMaxBytesDefault,
			CompressMinBytes:  CompressMinBytesDefault,
			ReadHeaderTimeout: ReadHeaderTimeoutDefault,
			ReadTimeout:       ReadTimeoutDefault,
			WriteTimeout:      WriteTimeoutDefault,
			IdleTimeout:       IdleTimeoutDefault,
			ShutdownTimeout:   HTTPShutdownTimeoutDefault,
			CORS:              CORS{AllowedOrigins: []string{}, MaxAge: CORSMaxAgeDefault},
			Cache:             Cache{MaxAge: CacheMaxAgeDefault, VersionMaxAge: CacheVersionMaxAgeDefault},
			RateLimit:         RateLimit{Burst: RateLimitBurstDefault},
			MaxInFlight:       MaxInFlightDefault,
			WriteReserve:      WriteReserveDefault,
		},
		Database: Database{MaxConns: MaxConnsDefault, AutoMigrate: AutoMigrateDefault, ReplicaURLs: []string{},
			MaxReplicaLag: MaxReplicaLagDefault, ReplicaProbeInterval: ReplicaProbeIntervalDefault},
		Log: Log{Level: LogLevelDefault, Format: LogFormatDefault},
		Worker: Worker{
			TotalWorkers:      TotalWorkersDefault,
			JobTimeout:        JobTimeoutDefault,
			RescueAfter:       RescueAfterDefault,
			HeartbeatInterval: HeartbeatIntervalDefault,
			DeadAfter:         DeadAfterDefault,
			ShutdownTimeout:   WorkerShutdownTimeoutDefault,
			FetchCooldown:     FetchCooldownDefault,
			FetchPollInterval: FetchPollIntervalDefault,
			FanoutWorkers:     FanoutWorkersDefault,
			FanoutBatch:       FanoutBatchDefault,
			FanoutDelay:       FanoutDelayDefault,
			OutageRetryMin:    OutageRetryMinDefault,
			OutageRetryMax:    OutageRetryMaxDefault,
		},
		Records: Records{
			MaxMetadataBytes:   MaxMetadataBytesDefault,
			MaxDepth:           MaxDepthDefault,
			MaxBatch:           MaxBatchDefault,
			WaitTimeoutDefault: WaitTimeoutDefault,
			WaitTimeoutMax:     WaitTimeoutMaxDefault,
		},
		Search: Search{
			EfSearch:      EfSearchDefault,
			RRFK:          RRFKDefault,
			Fusion:        FusionWeighted,
			SemanticRatio: SemanticRatioDefault,
			HybridDepth:   HybridDepthDefault,
			MaxLimit:      MaxLimitDefault,
			MaxOffset:     MaxOffsetDefault,
			FacetDepth:    FacetDepthDefault,
			Fields:        SearchFieldsDefault(),
		},
		Events: Events{
			Retention:         EventsRetentionDefault,
			PollInterval:      EventsPollIntervalDefault,
			KeepAliveInterval: EventsKeepAliveIntervalDefault,
			PageLimitMax:      EventsPageLimitMaxDefault,
			MaxWatchers:       EventsMaxWatchersDefault,
			PruneInterval:     EventsPruneIntervalDefault,
			PruneBatch:        EventsPruneBatchDefault,
		},
		Export: Export{ChunkBytes: ExportChunkBytesDefault, MaxRunning: ExportMaxRunningDefault},
		Import: Import{BatchSize: ImportBatchSizeDefault, MaxLineBytes: ImportMaxLineBytesDefault,
			MaxProblems: ImportMaxProblemsDefault},
		Catalog: Catalog{PollInterval: CatalogPollIntervalDefault, RetireAfter: CatalogRetireAfterDefault},
		RiverUI: RiverUI{Enabled: RiverUIEnabledDefault},
		UI:      UI{Enabled: UIEnabledDefault, Title: UITitleDefault, About: UIAboutDefault},
		Auth:    Auth{PublicRead: PublicReadDefault, Tokens: []Token{}},
		Tracing: Tracing{ServiceName: TracingServiceNameDefault},
		Dev: Dev{
			DataDir:            DevDataDirDefault,
			Port:               DevPortDefault,
			SharedBuffers:      DevSharedBuffersDefault,
			MaintenanceWorkMem: DevMaintenanceWorkMemDefault,
			WorkMem:            DevWorkMemDefault,
		},
		Backends: []Backend{vector, DefaultBackend("keyword", BackendKindKeyword)},
		Sources:  []Source{geo},
	}
}
