package config

import (
	"errors"
	"strings"
	"testing"
)

func TestDefaultIsValid(t *testing.T) {
	t.Parallel()
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

// TestLoadInvalidValue loads one override at a time and checks the one-line
// error that names its key.
func TestLoadInvalidValue(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		env  []string
		set  []string
		want string
	}{
		{"Addr", nil, []string{"http.addr=nope"},
			`config: http.addr: "nope" is not a valid listen address (want host:port, e.g. ":8080") (in command-line flags)`},
		{"AddrPort", nil, []string{"http.addr=:99999"}, `config: http.addr: ":99999" is not a valid listen address`},
		{"AddrPortName", nil, []string{"http.addr=:http"}, `config: http.addr: ":http" is not a valid listen address`},
		{"DurationEnv", []string{"OSA_WORKER__JOB_TIMEOUT=abc"}, nil,
			`config: worker.job_timeout: "abc" is not a duration (e.g. 2m, 500ms) (in environment variable OSA_WORKER__JOB_TIMEOUT)`},
		{"DurationWithoutUnit", nil, []string{"http.read_header_timeout=10"}, `config: http.read_header_timeout: 10 is not a duration (e.g. 2m, 500ms)`},
		{"DurationNotPositive", nil, []string{"http.shutdown_timeout=0s"}, `config: http.shutdown_timeout: 0s is not a positive duration`},
		{"Integer", []string{"OSA_RECORDS__MAX_DEPTH=deep"}, nil, `config: records.max_depth: "deep" is not an integer`},
		{"IntegerFraction", nil, []string{"records.max_depth=1.5"}, `config: records.max_depth: 1.5 is not an integer`},
		{"Boolean", []string{"OSA_RIVERUI__ENABLED=yes please"}, nil, `config: riverui.enabled: "yes please" is not a boolean (true or false)`},
		{"Mapping", nil, []string{"http=5"}, `config: http: 5 is not a mapping of keys`},
		{"List", nil, []string{"backends=vector"}, `config: backends: "vector" is not a list`},
		{"LogLevel", []string{"OSA_LOG__LEVEL=loud"}, nil,
			`config: log.level: "loud" is not one of debug, info, warn, error (in environment variable OSA_LOG__LEVEL)`},
		{"LogFormat", nil, []string{"log.format=xml"}, `config: log.format: "xml" is not one of text, json`},
		{"Role", nil, []string{"node.role=admin"}, `config: node.role: "admin" is not one of all, api, worker`},
		{"Domain", nil, []string{"node.domain=Example.org"}, `config: node.domain: "Example.org" is not a valid domain`},
		{"DomainTooLong", nil, []string{"node.domain=" + strings.Repeat("a", 64)}, `is not a valid domain`},
		{"DomainEmpty", nil, []string{"node.domain="}, `config: node.domain: "" is not a valid domain`},
		{"MaxDepthLow", nil, []string{"records.max_depth=0"}, `config: records.max_depth: 0 is out of range (1..1000)`},
		{"MaxDepthHigh", nil, []string{"records.max_depth=1001"}, `config: records.max_depth: 1001 is out of range (1..1000)`},
		{"ReadMaxBytes", nil, []string{"http.read_max_bytes=1023"}, `config: http.read_max_bytes: 1023 is out of range (1024..1073741824)`},
		{"CORSOriginPath", nil, []string{"http.cors.allowed_origins=[https://app.example.org/]"},
			`config: http.cors.allowed_origins[0]: "https://app.example.org/" is not an origin (want scheme://host[:port] with no path, e.g. "https://app.example.org", or "*") (in command-line flags)`},
		{"CORSOriginNoScheme", []string{"OSA_HTTP__CORS__ALLOWED_ORIGINS=https://a.org,app.example.org"}, nil,
			`config: http.cors.allowed_origins[1]: "app.example.org" is not an origin (want scheme://host[:port]`},
		{"CORSOriginPort", nil, []string{"http.cors.allowed_origins=[http://localhost:99999]"},
			`config: http.cors.allowed_origins[0]: "http://localhost:99999" is not an origin`},
		{"CORSOriginWildcard", nil, []string{"http.cors.allowed_origins=[https://*.example.org]"},
			`config: http.cors.allowed_origins[0]: "https://*.example.org" has a wildcard: list each origin, or "*" for any`},
		{"CORSOriginNull", nil, []string{`http.cors.allowed_origins=["null"]`}, `config: http.cors.allowed_origins[0]: "null" is not an origin`},
		{"CORSMaxAge", nil, []string{"http.cors.max_age=25h"}, `config: http.cors.max_age: 25h is out of range (0s..24h)`},
		{"CacheMaxAgeNegative", nil, []string{"http.cache.max_age=-1s"}, `config: http.cache.max_age: -1s is out of range (0s..24h)`},
		{"CacheMaxAgeFraction", nil, []string{"http.cache.max_age=1500ms"}, `config: http.cache.max_age: 1.5s is not a whole number of seconds`},
		{"CacheVersionMaxAge", nil, []string{"http.cache.version_max_age=9000h"}, `config: http.cache.version_max_age: 9000h is out of range (0s..8760h)`},
		{"MaxConns", nil, []string{"database.max_conns=1"}, `config: database.max_conns: 1 is out of range (2..1000)`},
		{"TotalWorkers", nil, []string{"worker.total_workers=10001"}, `config: worker.total_workers: 10001 is out of range (1..10000)`},
		{"FanoutWorkers", nil, []string{"worker.fanout_workers=0"}, `config: worker.fanout_workers: 0 is out of range (1..10000)`},
		{"MaxMetadataBytes", nil, []string{"records.max_metadata_bytes=16777217"}, `config: records.max_metadata_bytes: 16777217 is out of range`},
		{"MaxBatch", nil, []string{"records.max_batch=0"}, `config: records.max_batch: 0 is out of range (1..10000)`},
		{"WaitTimeoutMax", nil, []string{"records.wait_timeout_max=11m"}, `config: records.wait_timeout_max: 11m is over the limit of 10m`},
		{"WaitTimeoutMaxZero", nil, []string{"records.wait_timeout_max=0s"}, `config: records.wait_timeout_max: 0s is not a positive duration`},
		{"WaitTimeoutDefault", nil, []string{"records.wait_timeout_default=2m"},
			`config: records.wait_timeout_default: 2m is longer than records.wait_timeout_max (1m)`},
		{"WaitTimeoutDefaultNegative", nil, []string{"records.wait_timeout_default=-1s"},
			`config: records.wait_timeout_default: -1s is not a positive duration`},
		{"EfSearch", nil, []string{"search.ef_search=0"}, `config: search.ef_search: 0 is out of range (1..1000)`},
		{"MaxOffset", nil, []string{"search.max_offset=-1"}, `config: search.max_offset: -1 is out of range`},
		{"WriteTimeout", nil, []string{"http.write_timeout=30s"}, `config: http.write_timeout: 30s is not longer than records.wait_timeout_max (1m), which a publish may wait`},
		{"DeadAfter", nil, []string{"worker.dead_after=5s"}, `config: worker.dead_after: 5s is shorter than 3 × worker.heartbeat_interval (3 × 3s)`},
		{"RetireAfter", nil, []string{"catalog.retire_after=-1s"}, `config: catalog.retire_after: -1s is out of range (0s..2160h)`},
		{"EventsPollInterval", nil, []string{"events.poll_interval=1ms"}, `config: events.poll_interval: 1ms is out of range (5ms..10s)`},
		{"EventsPageLimitMax", nil, []string{"events.page_limit_max=0"}, `config: events.page_limit_max: 0 is out of range (1..10000)`},
		{"EventsRetention", nil, []string{"events.retention=10m"}, `config: events.retention: 10m is out of range (1h..87600h)`},
		{"DevPort", nil, []string{"dev.port=70000"}, `config: dev.port: 70000 is out of range (0..65535)`},
		{"DevSize", nil, []string{"dev.work_mem=lots"}, `config: dev.work_mem: "lots" is not a Postgres size`},
		{"RescueAfter", nil, []string{"worker.rescue_after=3m"},
			`config: worker.rescue_after: 3m is shorter than 2 × worker.job_timeout (2 × 2m)`},
		{"FetchPollInterval", nil, []string{"worker.fetch_poll_interval=1ms"},
			`config: worker.fetch_poll_interval: 1ms is shorter than worker.fetch_cooldown (5ms)`},
		{"OutageRetryMin", nil, []string{"worker.outage_retry_min=0s"}, `config: worker.outage_retry_min: 0s is not a positive duration`},
		{"OutageRetryMaxVsMin", []string{"OSA_WORKER__OUTAGE_RETRY_MAX=500ms"}, nil,
			`config: worker.outage_retry_max: 500ms is shorter than worker.outage_retry_min (1s) (in environment variable OSA_WORKER__OUTAGE_RETRY_MAX)`},
		{"OutageRetryMaxLimit", nil, []string{"worker.outage_retry_max=2h"}, `config: worker.outage_retry_max: 2h is over the limit of 1h`},
		{"JobTimeoutVsBatch", nil, []string{"worker.job_timeout=30s"},
			`config: worker.job_timeout: 30s is shorter than backends[0].batch.max_delay + backends[0].batch.timeout (100ms + 1m), the longest a job waits for its batch (in command-line flags)`},
		{"JobTimeoutVsLongestBatch", nil, []string{"backends=[{name: a, kind: keyword}, {name: b, kind: keyword, batch: {timeout: 2m}}]"},
			`config: worker.job_timeout: 2m is shorter than backends[1].batch.max_delay + backends[1].batch.timeout (100ms + 2m)`},
		{"BatchVsTotalWorkers", nil, []string{"worker.total_workers=100", "backends=[{name: v, kind: keyword}]"},
			`config: backends[0].batch.max_size: 128 is more than worker.total_workers (100)`},
		{"DatabaseURL", nil, []string{"database.url=postgres://osa:hunter2@localhost:port/osa"},
			`config: database.url: not a valid Postgres connection string: invalid port`},
		{"ListenURLWithoutPooler", nil, []string{"database.listen_url=postgres://osa@db:5432/osa"},
			`config: database.listen_url: is only used with database.transaction_pooler: true (without a pooler, River listens on database.url); set transaction_pooler or remove listen_url (in command-line flags)`},
		{"ReplicaURL", nil, []string{"database.replica_urls=[postgres://osa:hunter2@replica:port/osa]"},
			`config: database.replica_urls[0]: not a valid Postgres connection string: invalid port`},
		{"ReplicaURLTwice", []string{"OSA_DATABASE__REPLICA_URLS=postgres://r1/osa,postgres://r2/osa,postgres://r1/osa"}, nil,
			`config: database.replica_urls[2]: is also database.replica_urls[0]; list each replica once`},
		{"MaxReplicaLag", nil, []string{"database.max_replica_lag=10ms"}, `config: database.max_replica_lag: 10ms is out of range (100ms..1h)`},
		{"ReplicaProbeInterval", nil, []string{"database.replica_probe_interval=10ms"},
			`config: database.replica_probe_interval: 10ms is out of range (50ms..1m)`},
		{"ReplicaProbeIntervalVsLag", nil, []string{"database.max_replica_lag=500ms"},
			`config: database.replica_probe_interval: 1s is longer than database.max_replica_lag (500ms): a replica would be measured less often than it may lag`},
		{"BackendName", nil, []string{"backends=[{name: Vector, kind: keyword}]"},
			`config: backends[0].name: "Vector" is not a valid name: write a lower-case letter, then up to 39 lower-case letters, digits or underscores ([a-z][a-z0-9_]{0,39}) (in command-line flags)`},
		{"BackendKind", nil, []string{"backends=[{name: v, kind: faiss}]"},
			`config: backends[0].kind: "faiss" is not one of pgvector, keyword`},
		{"BackendDuplicate", nil, []string{"backends=[{name: v, kind: keyword}, {name: v, kind: keyword}]"},
			`config: backends[1].name: "v" is also the name of backends[0]`},
		{"BackendsEmpty", nil, []string{"backends=[]"}, `config: backends: at least one backend is required`},
		{"BackendWeight", nil, []string{"backends=[{name: v, kind: keyword, weight: 0}]"},
			`config: backends[0].weight: 0 is out of range (1..1000)`},
		{"BatchMaxDelay", nil, []string{"backends=[{name: v, kind: keyword, batch: {max_delay: 0s}}]"},
			`config: backends[0].batch.max_delay: 0s is out of range (more than 0, at most 1m)`},
		{"EmbedderOnKeyword", nil, []string{"backends=[{name: v, kind: keyword, embedder: {kind: hash}}]"},
			`config: backends[0].embedder: not allowed for kind "keyword" (pgvector only)`},
		{"SendDimensionsOnHash", nil, []string{"backends=[{name: v, kind: pgvector, embedder: {kind: hash, send_dimensions: true}}]"},
			`config: backends[0].embedder.send_dimensions: not allowed for kind hash (openai and ollama only)`},
		{"APIKeyTwoPlaces", nil, []string{"backends=[{name: v, kind: pgvector, embedder: {api_key_env: K, api_key_file: /run/k}}]"},
			`config: backends[0].embedder.api_key_file: not with api_key_env: name one place the key comes from`},
		{"BM25OutOfRange", nil, []string{"backends=[{name: k, kind: keyword, bm25: {k1: 0}}]"},
			`config: backends[0].bm25.k1: 0 is out of range (more than 0, at most 10)`},
		{"SemanticRatioOutOfRange", nil, []string{"search.semantic_ratio=1.5"},
			`config: search.semantic_ratio: 1.5 is out of range (0..1)`},
		{"FusionUnknown", nil, []string{"search.fusion=average"}, `config: search.fusion:`},
		{"HNSWOnKeyword", nil, []string{"backends=[{name: v, kind: keyword, hnsw: {m: 4}}]"},
			`config: backends[0].hnsw: not allowed for kind "keyword" (pgvector only)`},
		{"LanguageOnPgvector", nil, []string{"backends=[{name: v, kind: pgvector, language: german}]"},
			`config: backends[0].language: not allowed for kind "pgvector" (keyword only)`},
		{"Language", nil, []string{"backends=[{name: v, kind: keyword, language: Deutsch}]"},
			`config: backends[0].language: "Deutsch" is not a text search configuration name ([a-z_]+)`},
		{"EmbedderKind", nil, []string{"backends=[{name: v, kind: pgvector, embedder: {kind: bert}}]"},
			`config: backends[0].embedder.kind: "bert" is not one of hash, openai, ollama`},
		{"EmbedderBaseURL", nil, []string{"backends=[{name: v, kind: pgvector, embedder: {kind: ollama, model: m}}]"},
			`config: backends[0].embedder.base_url: required for kind "ollama"`},
		{"EmbedderModel", nil, []string{"backends=[{name: v, kind: pgvector, embedder: {kind: openai, base_url: 'http://x'}}]"},
			`config: backends[0].embedder.model: required`},
		{"EmbedderBaseURLScheme", nil, []string{"backends=[{name: v, kind: pgvector, embedder: {kind: openai, model: m, base_url: 'ftp://x'}}]"},
			`config: backends[0].embedder.base_url: "ftp://x" is not an http(s) URL`},
		{"EmbedderDims", nil, []string{"backends=[{name: v, kind: pgvector, embedder: {dims: 16001}}]"},
			`config: backends[0].embedder.dims: 16001 is out of range (1..2000)`},
		{"HNSWEfConstruction", nil, []string{"backends=[{name: v, kind: pgvector, hnsw: {m: 80}}]"},
			`config: backends[0].hnsw.ef_construction: 128 is less than 2 × backends[0].hnsw.m (2 × 80)`},
		{"HNSWType", nil, []string{"backends=[{name: v, kind: pgvector, hnsw: {type: float8}}]"},
			`config: backends[0].hnsw.type: "float8" is not one of vector, halfvec`},
		{"EmbedderDimsBeyondVector", nil, []string{"backends=[{name: v, kind: pgvector, embedder: {dims: 3072}}]"},
			`config: backends[0].embedder.dims: 3072 is out of range (1..2000; set hnsw.type: halfvec for up to 4000)`},
		{"EmbedderDimsBeyondHalfvec", nil, []string{"backends=[{name: v, kind: pgvector, embedder: {dims: 4001}, hnsw: {type: halfvec}}]"},
			`config: backends[0].embedder.dims: 4001 is out of range (1..4000)`},
		{"BackendItemType", nil, []string{"backends=[{name: v, kind: keyword, max_attempts: many}]"},
			`config: backends[0].max_attempts: "many" is not an integer (in command-line flags)`},
		{"BackendItemNotMapping", nil, []string{"backends=[v]"}, `config: backends[0]: "v" is not a mapping of keys`},
		{"SourceName", nil, []string{"sources=[{name: My Lab!, kind: geo_entrez, enabled: false}]"},
			`config: sources[0].name: "My Lab!" is not a valid name: write a lower-case letter, then up to 39 lower-case letters, digits or underscores ([a-z][a-z0-9_]{0,39}) (in command-line flags)`},
		{"SourceKind", nil, []string{"sources=[{name: s, kind: oai_pmh}]"},
			`config: sources[0].kind: "oai_pmh" is not one of geo_entrez (in command-line flags)`},
		{"SourceDuplicate", nil, []string{"sources=[{name: s, kind: geo_entrez, enabled: false}, {name: s, kind: geo_entrez, enabled: false}]"},
			`config: sources[1].name: "s" is also the name of sources[0]`},
		{"SourceSchedule", nil, []string{"sources=[{name: s, kind: geo_entrez, enabled: false, schedule: daily}]"},
			`config: sources[0].schedule: "daily" is not a cron expression`},
		{"GeoPageSize", nil, []string{"sources=[{name: s, kind: geo_entrez, geo: {email: a@b.org, page_size: 501}}]"},
			`config: sources[0].geo.page_size: 501 is out of range (1..500)`},
		{"MaxUnfetchedIDs", nil, []string{"sources=[{name: s, kind: geo_entrez, geo: {email: a@b.org}, max_unfetched_ids: 100001}]"},
			`config: sources[0].max_unfetched_ids: 100001 is out of range (-1..100000)`},
		{"GeoMaxSamples", nil, []string{"sources=[{name: s, kind: geo_entrez, geo: {email: a@b.org, max_samples: -2}}]"},
			`config: sources[0].geo.max_samples: -2 is out of range (-1..10000)`},
		{"GeoRecordType", nil, []string{"sources=[{name: s, kind: geo_entrez, geo: {email: a@b.org, record_type: gsm}}]"},
			`config: sources[0].geo.record_type: "gsm" is not one of gse, gds`},
		{"GeoEmail", nil, []string{"sources=[{name: s, kind: geo_entrez, geo: {email: nobody}}]"},
			`config: sources[0].geo.email: "nobody" is not an email address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := loadErr(t, LoadOpts{Env: tt.env, Set: tt.set}, tt.want)
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("want exactly one problem, got:\n%v", err)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not an *Error", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()

	t.Run("AllProblemsJoined", func(t *testing.T) {
		t.Parallel()
		cfg := Default()
		cfg.HTTP.Addr = "nope"
		cfg.Log.Level = "loud"
		err := cfg.Validate()
		if err == nil {
			t.Fatal("Validate: no error")
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "config: http.addr:") || !strings.HasPrefix(lines[1], "config: log.level:") {
			t.Fatalf("Validate:\n%v\nwant one line for http.addr, then one for log.level", err)
		}
		if strings.Contains(err.Error(), "(in ") {
			t.Fatalf("Validate of a hand-built config names a source: %v", err)
		}
	})

	t.Run("DatabaseURLPasswordNotEchoed", func(t *testing.T) {
		t.Parallel()
		for _, url := range []string{
			"postgres://osa:hunter2@localhost:port/osa",
			"postgres://osa:hunter2 x@localhost/osa",
			"postgres://osa@localhost/osa?password=hunter2&sslmode=bogus",
			"host=localhost password=hunter2 sslmode=bogus",
			"host=localhost password=hunter2 nonsense",
		} {
			cfg := Default()
			cfg.Database.URL = url
			err := cfg.Validate()
			if err == nil {
				t.Fatalf("Validate(%q): no error", url)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("Validate(%q) echoes the password: %v", url, err)
			}
		}
	})

	t.Run("KindSettingsOnOtherKind", func(t *testing.T) {
		t.Parallel()
		file := writeConfig(t, `
backends:
  - {name: v, kind: keyword, embedder: {kind: hash}}
sources:
  - {name: s, kind: oai_pmh, geo: {email: a@b.org}}
`)
		loadErr(t, LoadOpts{File: file},
			`config: backends[0].embedder: not allowed for kind "keyword" (pgvector only) (in `+file+`)`,
			`config: sources[0].kind: "oai_pmh" is not one of geo_entrez (in `+file+`)`,
			`config: sources[0].geo: not allowed for kind "oai_pmh" (geo_entrez only) (in `+file+`)`)
	})

	t.Run("HandBuiltBackendNeedsBlocks", func(t *testing.T) {
		t.Parallel()
		cfg := Default()
		cfg.Backends[0].Embedder = nil
		cfg.Backends[0].HNSW = nil
		cfg.Sources[0].Geo = nil
		err := cfg.Validate()
		for _, want := range []string{
			"config: backends[0].embedder: required for kind pgvector",
			"config: backends[0].hnsw: required for kind pgvector",
			"config: sources[0].geo: required for kind geo_entrez",
		} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Validate = %v, want %q", err, want)
			}
		}
	})
}

func TestBackendNameShadowReserved(t *testing.T) {
	t.Parallel()
	c := Default()
	c.Backends[1].Name = "vector_shadow"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `backends[1].name: "vector_shadow" must not contain`) {
		t.Fatalf("Validate = %v", err)
	}
}
