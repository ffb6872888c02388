package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeConfig writes a config file into a temporary directory and returns
// its path.
func writeConfig(tb testing.TB, content string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "osa.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// mustLoad loads opts, failing the test on an error. A nil opts.Env is
// replaced by an empty environment so that the test's own doesn't leak in.
func mustLoad(tb testing.TB, opts LoadOpts) *Config {
	tb.Helper()
	if opts.Env == nil {
		opts.Env = []string{}
	}
	cfg, err := Load(opts)
	if err != nil {
		tb.Fatalf("Load: %v", err)
	}
	return cfg
}

// loadErr loads opts, expecting an error containing every one of want.
func loadErr(tb testing.TB, opts LoadOpts, want ...string) error {
	tb.Helper()
	if opts.Env == nil {
		opts.Env = []string{}
	}
	_, err := Load(opts)
	if err == nil {
		tb.Fatalf("Load: no error, want %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			tb.Fatalf("Load error:\n%v\nwant it to contain %q", err, w)
		}
	}
	return err
}

func TestLoad(t *testing.T) {
	t.Parallel()

	t.Run("NoInputsGiveDefaults", func(t *testing.T) {
		t.Parallel()
		cfg := mustLoad(t, LoadOpts{})
		if !reflect.DeepEqual(cfg, Default()) {
			t.Fatalf("Load() = %+v, want Default()", cfg)
		}
	})

	t.Run("Precedence", func(t *testing.T) {
		t.Parallel()
		file := writeConfig(t, "http:\n  addr: \":1001\"\nrecords:\n  max_depth: 11\nworker:\n  job_timeout: 3m\n  rescue_after: 20m\n")
		env := []string{"OSA_HTTP__ADDR=:1002", "OSA_RECORDS__MAX_DEPTH=12"}
		set := []string{"http.addr=:1003"}

		cfg := mustLoad(t, LoadOpts{File: file})
		if cfg.HTTP.Addr != ":1001" || cfg.Records.MaxDepth != 11 || cfg.Worker.JobTimeout != 3*time.Minute {
			t.Fatalf("file layer: addr %q, max_depth %d, job_timeout %s", cfg.HTTP.Addr, cfg.Records.MaxDepth, cfg.Worker.JobTimeout)
		}
		cfg = mustLoad(t, LoadOpts{File: file, Env: env})
		if cfg.HTTP.Addr != ":1002" || cfg.Records.MaxDepth != 12 || cfg.Worker.JobTimeout != 3*time.Minute {
			t.Fatalf("env layer: addr %q, max_depth %d, job_timeout %s", cfg.HTTP.Addr, cfg.Records.MaxDepth, cfg.Worker.JobTimeout)
		}
		cfg = mustLoad(t, LoadOpts{File: file, Env: env, Set: set})
		if cfg.HTTP.Addr != ":1003" || cfg.Records.MaxDepth != 12 || cfg.Worker.JobTimeout != 3*time.Minute {
			t.Fatalf("flag layer: addr %q, max_depth %d, job_timeout %s", cfg.HTTP.Addr, cfg.Records.MaxDepth, cfg.Worker.JobTimeout)
		}
		if cfg.HTTP.ReadMaxBytes != ReadMaxBytesDefault || cfg.Node.Domain != DomainDefault {
			t.Fatalf("untouched keys changed: %+v", cfg)
		}
	})

	t.Run("ConfigFileFromEnv", func(t *testing.T) {
		t.Parallel()
		file := writeConfig(t, "node:\n  domain: example.org\n")
		cfg := mustLoad(t, LoadOpts{Env: []string{"OSA_CONFIG_FILE=" + file}})
		if cfg.Node.Domain != "example.org" {
			t.Fatalf("node.domain = %q, want example.org from OSA_CONFIG_FILE", cfg.Node.Domain)
		}

		// An explicit File wins over OSA_CONFIG_FILE.
		other := writeConfig(t, "node:\n  domain: other.org\n")
		cfg = mustLoad(t, LoadOpts{File: other, Env: []string{"OSA_CONFIG_FILE=" + file}})
		if cfg.Node.Domain != "other.org" {
			t.Fatalf("node.domain = %q, want other.org from File", cfg.Node.Domain)
		}
	})

	t.Run("MissingFile", func(t *testing.T) {
		t.Parallel()
		loadErr(t, LoadOpts{File: filepath.Join(t.TempDir(), "absent.yaml")}, "config: error reading config file", "absent.yaml")
	})

	t.Run("InvalidYAML", func(t *testing.T) {
		t.Parallel()
		loadErr(t, LoadOpts{File: writeConfig(t, "http: [\n")}, "config: error reading config file")
	})

	t.Run("EnvWithoutDoubleUnderscoreIgnored", func(t *testing.T) {
		t.Parallel()
		cfg := mustLoad(t, LoadOpts{Env: []string{
			"OSA_SERVER=http://x", "OSA_TOKEN=secret", "OSA_TEST_DATABASE_URL=postgres://x", "OSA_WHATEVER=1",
			"HTTP__ADDR=:1", // no prefix
		}})
		if !reflect.DeepEqual(cfg, Default()) {
			t.Fatalf("Load() = %+v, want Default()", cfg)
		}
	})

	t.Run("EnvDecodesTypes", func(t *testing.T) {
		t.Parallel()
		cfg := mustLoad(t, LoadOpts{Env: []string{
			"OSA_DATABASE__URL=postgres://u:p@localhost:5432/osa",
			"OSA_DATABASE__AUTO_MIGRATE=false",
			"OSA_WORKER__JOB_TIMEOUT=90s",
			"OSA_WORKER__TOTAL_WORKERS=256",
		}})
		want := Default()
		want.Database.URL = "postgres://u:p@localhost:5432/osa"
		want.Database.AutoMigrate = false
		want.Worker.JobTimeout = 90 * time.Second
		want.Worker.TotalWorkers = 256
		if !reflect.DeepEqual(cfg, want) {
			t.Fatalf("Load() = %+v, want %+v", cfg, want)
		}
	})

	t.Run("SetParsesYAML", func(t *testing.T) {
		t.Parallel()
		cfg := mustLoad(t, LoadOpts{Set: []string{
			"records.max_depth=10",
			"worker.job_timeout=5m",
			"riverui.enabled=false",
			"node.domain=a.example",
			"database.url=postgres://u:p#x@localhost/osa", // a string is kept as written
			"backends=[{name: kw, kind: keyword, text: {fields: [a, b]}}]",
		}})
		if cfg.Records.MaxDepth != 10 || cfg.Worker.JobTimeout != 5*time.Minute || cfg.RiverUI.Enabled || cfg.Node.Domain != "a.example" {
			t.Fatalf("scalars not set: %+v", cfg)
		}
		if cfg.Database.URL != "postgres://u:p#x@localhost/osa" {
			t.Fatalf("database.url = %q", cfg.Database.URL)
		}
		if len(cfg.Backends) != 1 || !reflect.DeepEqual(cfg.Backends[0].Text.Fields, []string{"a", "b"}) {
			t.Fatalf("backends = %+v", cfg.Backends)
		}
	})

	t.Run("SetNotKeyValue", func(t *testing.T) {
		t.Parallel()
		loadErr(t, LoadOpts{Set: []string{"http.addr"}}, `config: flag override "http.addr" is not key=value`)
	})

	t.Run("NullKeepsDefault", func(t *testing.T) {
		t.Parallel()
		cfg := mustLoad(t, LoadOpts{File: writeConfig(t, "http:\n  addr:\nlog:\n")})
		if !reflect.DeepEqual(cfg, Default()) {
			t.Fatalf("Load() = %+v, want Default()", cfg)
		}
	})

	t.Run("TextFieldsCommaSeparated", func(t *testing.T) {
		t.Parallel()
		cfg := mustLoad(t, LoadOpts{File: writeConfig(t, "backends:\n  - name: kw\n    kind: keyword\n    text:\n      fields: \"title, description\"\n")})
		if got := cfg.Backends[0].Text.Fields; !reflect.DeepEqual(got, []string{"title", "description"}) {
			t.Fatalf("text.fields = %q", got)
		}
	})

	t.Run("AllowedOriginsFromEnvironment", func(t *testing.T) {
		t.Parallel()
		cfg := mustLoad(t, LoadOpts{Env: []string{"OSA_HTTP__CORS__ALLOWED_ORIGINS=https://app.example.org,http://localhost:5173"}})
		if got := cfg.HTTP.CORS.AllowedOrigins; !reflect.DeepEqual(got, []string{"https://app.example.org", "http://localhost:5173"}) {
			t.Fatalf("http.cors.allowed_origins = %q", got)
		}
	})
}

func TestLoadLists(t *testing.T) {
	t.Parallel()

	t.Run("BackendsReplaceAndFill", func(t *testing.T) {
		t.Parallel()
		cfg := mustLoad(t, LoadOpts{File: writeConfig(t, `
backends:
  - name: semantic
    kind: pgvector
    embedder:
      kind: openai
      model: text-embedding-3-small
      base_url: https://api.openai.com/v1
      api_key: sk-1
    hnsw: {m: 8}
  - name: fts
    kind: keyword
    weight: 3
    batch: {max_size: 64}
`)})
		want0 := DefaultBackend("semantic", BackendKindPgvector)
		want0.Embedder = &Embedder{
			Kind: EmbedderKindOpenAI, Model: "text-embedding-3-small", Dims: EmbedderDimsDefault,
			BaseURL: "https://api.openai.com/v1", APIKey: "sk-1",
			MaxInputs: EmbedderMaxInputsDefault, Timeout: EmbedderTimeoutDefault,
			MaxTokensPerCall: EmbedderMaxTokensPerCallDefault, MaxConcurrency: EmbedderMaxConcurrencyDefault,
		}
		want0.HNSW.M = 8
		want1 := DefaultBackend("fts", BackendKindKeyword)
		want1.Weight = 3
		want1.Batch.MaxSize = 64
		if want := []Backend{want0, want1}; !reflect.DeepEqual(cfg.Backends, want) {
			t.Fatalf("backends =\n%+v\nwant\n%+v", cfg.Backends, want)
		}
		if cfg.Backends[0].Weight != WeightDefault {
			t.Fatalf("weight of a listed backend = %d, want %d", cfg.Backends[0].Weight, WeightDefault)
		}
	})

	t.Run("HalfvecTakesMoreDims", func(t *testing.T) {
		t.Parallel()
		cfg := mustLoad(t, LoadOpts{Set: []string{"backends=[{name: v, kind: pgvector, embedder: {dims: 3072}, hnsw: {type: halfvec}}]"}})
		if b := cfg.Backends[0]; b.Embedder.Dims != 3072 || b.HNSW.Type != HNSWTypeHalfvec || b.HNSW.M != HNSWMDefault {
			t.Fatalf("backend = %+v, hnsw %+v", b, b.HNSW)
		}
	})

	t.Run("LaterLayerReplacesList", func(t *testing.T) {
		t.Parallel()
		file := writeConfig(t, "backends:\n  - {name: a, kind: keyword}\n  - {name: b, kind: keyword}\n")
		cfg := mustLoad(t, LoadOpts{File: file, Set: []string{"backends=[{name: c, kind: keyword, weight: 5}]"}})
		if want := []Backend{func() Backend { b := DefaultBackend("c", BackendKindKeyword); b.Weight = 5; return b }()}; !reflect.DeepEqual(cfg.Backends, want) {
			t.Fatalf("backends = %+v, want %+v", cfg.Backends, want)
		}
	})

	t.Run("SourceEnabledWhenListed", func(t *testing.T) {
		t.Parallel()
		cfg := mustLoad(t, LoadOpts{File: writeConfig(t, `
sources:
  - name: geo
    kind: geo_entrez
    geo: {email: me@example.org}
  - name: gds
    kind: geo_entrez
    enabled: false
    geo: {record_type: gds}
`)})
		want0 := DefaultSource("geo", SourceKindGeoEntrez)
		want0.Geo.Email = "me@example.org"
		want1 := DefaultSource("gds", SourceKindGeoEntrez)
		want1.Enabled = false
		want1.Geo.RecordType = GeoRecordTypeGDS
		if want := []Source{want0, want1}; !reflect.DeepEqual(cfg.Sources, want) {
			t.Fatalf("sources =\n%+v\nwant\n%+v", cfg.Sources, want)
		}
		if !cfg.Sources[0].Enabled || Default().Sources[0].Enabled {
			t.Fatal("a listed source must default to enabled, the built-in one to disabled")
		}
	})

	t.Run("EnabledSourceNeedsEmail", func(t *testing.T) {
		t.Parallel()
		file := writeConfig(t, "sources:\n  - {name: geo, kind: geo_entrez}\n")
		loadErr(t, LoadOpts{File: file},
			"config: sources[0].geo.email: required when the source is enabled (NCBI asks every client for a contact address) (in "+file+")")
	})

	t.Run("EmptySourcesList", func(t *testing.T) {
		t.Parallel()
		cfg := mustLoad(t, LoadOpts{File: writeConfig(t, "sources: []\n")})
		if len(cfg.Sources) != 0 {
			t.Fatalf("sources = %+v, want none", cfg.Sources)
		}
	})
}

func TestLoadUnknownKey(t *testing.T) {
	t.Parallel()

	t.Run("File", func(t *testing.T) {
		t.Parallel()
		file := writeConfig(t, "http:\n  adr: \":9090\"\n")
		err := loadErr(t, LoadOpts{File: file}, `config: unknown key "http.adr" (in `+file+`)`)
		var ce *Error
		if !errors.As(err, &ce) || !ce.Unknown || ce.Key != "http.adr" || ce.Source != file {
			t.Fatalf("error %#v, want an *Error with Unknown, Key and Source", err)
		}
	})

	t.Run("TopLevel", func(t *testing.T) {
		t.Parallel()
		loadErr(t, LoadOpts{File: writeConfig(t, "htp:\n  addr: \":1\"\n")}, `config: unknown key "htp"`)
	})

	t.Run("Env", func(t *testing.T) {
		t.Parallel()
		loadErr(t, LoadOpts{Env: []string{"OSA_HTTP__ADR=:9090"}},
			`config: unknown key "http.adr" (in environment variable OSA_HTTP__ADR)`)
	})

	t.Run("EnvBelowLeaf", func(t *testing.T) {
		t.Parallel()
		loadErr(t, LoadOpts{Env: []string{"OSA_HTTP__ADDR__PORT=1"}},
			`config: http.addr: a mapping is not a string (in environment variable OSA_HTTP__ADDR__PORT)`)
	})

	t.Run("Flag", func(t *testing.T) {
		t.Parallel()
		loadErr(t, LoadOpts{Set: []string{"http.adr=:9090"}}, `config: unknown key "http.adr" (in command-line flags)`)
	})

	t.Run("BackendItem", func(t *testing.T) {
		t.Parallel()
		file := writeConfig(t, "backends:\n  - name: v\n    kind: pgvector\n  - name: k\n    kind: keyword\n    batch:\n      size: 3\n")
		loadErr(t, LoadOpts{File: file}, `config: unknown key "backends[1].batch.size" (in `+file+`)`)
	})

	t.Run("SourceItem", func(t *testing.T) {
		t.Parallel()
		file := writeConfig(t, "sources:\n  - name: g\n    kind: geo_entrez\n    geo: {mail: a@b.c}\n")
		loadErr(t, LoadOpts{File: file}, `config: unknown key "sources[0].geo.mail"`)
	})

	t.Run("AllReported", func(t *testing.T) {
		t.Parallel()
		file := writeConfig(t, "http:\n  adr: x\nlog:\n  lvl: debug\n")
		loadErr(t, LoadOpts{File: file, Env: []string{"OSA_WORKER__JOBS=1"}},
			`unknown key "http.adr"`, `unknown key "log.lvl"`, `unknown key "worker.jobs"`)
	})
}
