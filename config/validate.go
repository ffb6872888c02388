package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/osa-archive/osa/records"
)

// NamePattern is what a backend's or a source's name must match, whole: a lower-case letter,
// then up to 39 lower-case letters, digits or underscores (a name becomes part of a queue and
// table name). It is [records.SourceNamePattern], the rule for the source a record is published
// under, so that one rule holds for every name and harvested records always pass it.
const NamePattern = records.SourceNamePattern

// nameProblem is the problem of a name that does not match [NamePattern], with what to write.
const nameProblem = "%q is not a valid name: write a lower-case letter, then up to 39 lower-case letters, digits or underscores (%s)"

var (
	domainRe   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
	nameRe     = regexp.MustCompile(`^` + NamePattern + `$`)
	languageRe = regexp.MustCompile(`^[a-z_]+$`)
	pgSizeRe   = regexp.MustCompile(`^[0-9]+ ?(B|kB|MB|GB|TB)?$`)
	emailRe    = regexp.MustCompile(`^[^@\s]+@[^@\s]+$`)
)

// Validate checks every value and the rules between values, returning all
// problems joined, one line each naming its key (an [*Error]). [Load] calls
// it; call it on a hand-built Config. It doesn't require database.url, which
// only `osa serve` needs.
func (c *Config) Validate() error {
	var p problems
	c.Node.validate(&p)
	c.HTTP.validate(&p)
	c.Database.validate(&p)
	p.oneOf("log.level", c.Log.Level, LogLevelDebug, LogLevelInfo, LogLevelWarn, LogLevelError)
	p.oneOf("log.format", c.Log.Format, LogFormatText, LogFormatJSON)
	c.Worker.validate(&p)
	c.Records.validate(&p)
	c.Search.validate(&p)
	c.Events.validate(&p)
	c.Export.validate(&p)
	c.Import.validate(&p)
	if n := utf8.RuneCountInString(strings.TrimSpace(c.UI.Title)); n == 0 || n > UITitleMax {
		p.add("ui.title", "is %d characters; give the archive's name in 1..%d", n, UITitleMax)
	}
	if n := utf8.RuneCountInString(c.UI.About); n > UIAboutMax {
		p.add("ui.about", "is %d characters, over the limit of %d", n, UIAboutMax)
	}
	if d := c.Catalog.PollInterval; d < CatalogPollIntervalMin || d > CatalogPollIntervalMax {
		p.add("catalog.poll_interval", "%s is out of range (%s..%s)", formatDuration(d),
			formatDuration(CatalogPollIntervalMin), formatDuration(CatalogPollIntervalMax))
	}
	if d := c.Catalog.RetireAfter; d < CatalogRetireAfterMin || d > CatalogRetireAfterMax {
		p.add("catalog.retire_after", "%s is out of range (%s..%s)", formatDuration(d),
			formatDuration(CatalogRetireAfterMin), formatDuration(CatalogRetireAfterMax))
	}
	if c.HTTP.WriteTimeout > 0 && c.Records.WaitTimeoutMax <= WaitTimeoutMaxMax && c.HTTP.WriteTimeout <= c.Records.WaitTimeoutMax {
		p.add("http.write_timeout", "%s is not longer than records.wait_timeout_max (%s), which a publish may wait",
			formatDuration(c.HTTP.WriteTimeout), formatDuration(c.Records.WaitTimeoutMax))
	}
	c.Dev.validate(&p)
	c.Auth.validate(&p)
	if c.Tracing.ServiceName == "" {
		p.add("tracing.service_name", "must not be empty")
	}

	if len(c.Backends) == 0 {
		p.add("backends", "at least one backend is required")
	}
	c.validateJobTimeout(&p)
	seen := make(map[string]int)
	for i := range c.Backends {
		key := fmt.Sprintf("backends[%d]", i)
		c.Backends[i].validate(&p, key, c.Worker.TotalWorkers)
		if j, dup := seen[c.Backends[i].Name]; dup {
			p.add(key+".name", "%q is also the name of backends[%d]", c.Backends[i].Name, j)
		}
		seen[c.Backends[i].Name] = i
	}

	clear(seen)
	for i := range c.Sources {
		key := fmt.Sprintf("sources[%d]", i)
		c.Sources[i].validate(&p, key)
		if j, dup := seen[c.Sources[i].Name]; dup {
			p.add(key+".name", "%q is also the name of sources[%d]", c.Sources[i].Name, j)
		}
		seen[c.Sources[i].Name] = i
	}
	return p.err()
}

// validateJobTimeout checks that a job outlives the batch it waits in, for
// the backend with the longest batch.max_delay + batch.timeout.
func (c *Config) validateJobTimeout(p *problems) {
	longest := -1
	for i, b := range c.Backends {
		if longest < 0 || b.Batch.MaxDelay+b.Batch.Timeout > c.Backends[longest].Batch.MaxDelay+c.Backends[longest].Batch.Timeout {
			longest = i
		}
	}
	if longest < 0 {
		return
	}
	b := c.Backends[longest]
	if c.Worker.JobTimeout < b.Batch.MaxDelay+b.Batch.Timeout {
		key := fmt.Sprintf("backends[%d]", longest)
		p.add("worker.job_timeout", "%s is shorter than %s.batch.max_delay + %s.batch.timeout (%s + %s), the longest a job waits for its batch",
			formatDuration(c.Worker.JobTimeout), key, key, formatDuration(b.Batch.MaxDelay), formatDuration(b.Batch.Timeout))
	}
}

func (n *Node) validate(p *problems) {
	if len(n.Domain) > DomainMaxLen || !domainRe.MatchString(n.Domain) {
		p.add("node.domain", "%q is not a valid domain (lower-case DNS labels of a-z, 0-9 and -, separated by dots, 1..%d characters)", n.Domain, DomainMaxLen)
	}
	p.oneOf("node.role", n.Role, RoleAll, RoleAPI, RoleWorker)
}

func (h *HTTP) validate(p *problems) {
	_, port, err := net.SplitHostPort(h.Addr)
	if _, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil {
		p.add("http.addr", `%q is not a valid listen address (want host:port, e.g. ":8080")`, h.Addr)
	}
	p.intRange("http.read_max_bytes", h.ReadMaxBytes, ReadMaxBytesMin, ReadMaxBytesMax)
	p.intRange("http.compress_min_bytes", h.CompressMinBytes, 0, CompressMinBytesMax)
	p.positive("http.read_header_timeout", h.ReadHeaderTimeout)
	p.positive("http.read_timeout", h.ReadTimeout)
	if h.ReadTimeout > 0 && h.ReadTimeout < h.ReadHeaderTimeout {
		p.add("http.read_timeout", "%s is shorter than http.read_header_timeout (%s)", formatDuration(h.ReadTimeout),
			formatDuration(h.ReadHeaderTimeout))
	}
	p.positive("http.write_timeout", h.WriteTimeout)
	p.positive("http.idle_timeout", h.IdleTimeout)
	p.positive("http.shutdown_timeout", h.ShutdownTimeout)
	h.CORS.validate(p)
	h.Cache.validate(p)
	h.RateLimit.validate(p)
	h.validateInFlight(p)
}

func (d *Database) validate(p *problems) {
	if d.URL != "" {
		if _, err := pgconn.ParseConfig(d.URL); err != nil {
			p.add("database.url", "not a valid Postgres connection string: %s", parseConfigProblem(err))
		}
	}
	p.intRange("database.max_conns", d.MaxConns, MaxConnsMin, MaxConnsMax)
	if d.ListenURL != "" {
		if _, err := pgconn.ParseConfig(d.ListenURL); err != nil {
			p.add("database.listen_url", "not a valid Postgres connection string: %s", parseConfigProblem(err))
		}
		if !d.TransactionPooler {
			p.add("database.listen_url", "is only used with database.transaction_pooler: true (without a pooler, "+
				"River listens on database.url); set transaction_pooler or remove listen_url")
		}
	}
	d.validateReplicas(p)
}

// parseConfigProblem returns what pgconn.ParseConfig found wrong, without the
// connection string (and so without its password, which pgconn masks only
// on a best-effort basis).
func parseConfigProblem(err error) string {
	var pce *pgconn.ParseConfigError
	if !errors.As(err, &pce) {
		return "cannot parse"
	}
	bare := *pce
	bare.ConnString = ""
	msg := strings.TrimPrefix(bare.Error(), "cannot parse ``: ")
	var ue *url.Error // it quotes the whole URL
	if errors.As(pce, &ue) {
		msg = strings.ReplaceAll(msg, ue.Error(), ue.Err.Error())
	}
	return msg
}

func (w *Worker) validate(p *problems) {
	p.intRange("worker.total_workers", w.TotalWorkers, TotalWorkersMin, TotalWorkersMax)
	p.positive("worker.job_timeout", w.JobTimeout)
	if w.RescueAfter < 2*w.JobTimeout {
		p.add("worker.rescue_after", "%s is shorter than 2 × worker.job_timeout (2 × %s)",
			formatDuration(w.RescueAfter), formatDuration(w.JobTimeout))
	}
	if w.HeartbeatInterval < HeartbeatIntervalMin {
		p.add("worker.heartbeat_interval", "%s is shorter than %s", formatDuration(w.HeartbeatInterval), formatDuration(HeartbeatIntervalMin))
	}
	if w.DeadAfter < 3*w.HeartbeatInterval {
		p.add("worker.dead_after", "%s is shorter than 3 × worker.heartbeat_interval (3 × %s)",
			formatDuration(w.DeadAfter), formatDuration(w.HeartbeatInterval))
	}
	p.positive("worker.shutdown_timeout", w.ShutdownTimeout)
	if w.FetchCooldown < FetchCooldownMin {
		p.add("worker.fetch_cooldown", "%s is shorter than %s", formatDuration(w.FetchCooldown), formatDuration(FetchCooldownMin))
	}
	if w.FetchPollInterval < max(FetchPollIntervalMin, w.FetchCooldown) {
		p.add("worker.fetch_poll_interval", "%s is shorter than worker.fetch_cooldown (%s) or %s",
			formatDuration(w.FetchPollInterval), formatDuration(w.FetchCooldown), formatDuration(FetchPollIntervalMin))
	}
	p.intRange("worker.fanout_workers", w.FanoutWorkers, FanoutWorkersMin, FanoutWorkersMax)
	p.intRange("worker.fanout_batch", w.FanoutBatch, FanoutBatchMin, FanoutBatchMax)
	p.positive("worker.fanout_delay", w.FanoutDelay)
	if w.FanoutDelay > FanoutDelayMax {
		p.add("worker.fanout_delay", "%v is over the limit of %v", w.FanoutDelay, FanoutDelayMax)
	}
	p.positive("worker.outage_retry_min", w.OutageRetryMin)
	switch {
	case w.OutageRetryMax > OutageRetryMaxMax:
		p.add("worker.outage_retry_max", "%s is over the limit of %s", formatDuration(w.OutageRetryMax), formatDuration(OutageRetryMaxMax))
	case w.OutageRetryMin > 0 && w.OutageRetryMax < w.OutageRetryMin:
		p.add("worker.outage_retry_max", "%s is shorter than worker.outage_retry_min (%s)",
			formatDuration(w.OutageRetryMax), formatDuration(w.OutageRetryMin))
	}
}

func (r *Records) validate(p *problems) {
	p.intRange("records.max_metadata_bytes", r.MaxMetadataBytes, MaxMetadataBytesMin, MaxMetadataBytesMax)
	p.intRange("records.max_depth", r.MaxDepth, MaxDepthMin, MaxDepthMax)
	p.intRange("records.max_batch", r.MaxBatch, MaxBatchMin, MaxBatchMax)
	p.positive("records.wait_timeout_max", r.WaitTimeoutMax)
	p.positive("records.wait_timeout_default", r.WaitTimeoutDefault)
	switch {
	case r.WaitTimeoutMax > WaitTimeoutMaxMax:
		p.add("records.wait_timeout_max", "%s is over the limit of %s", formatDuration(r.WaitTimeoutMax), formatDuration(WaitTimeoutMaxMax))
	case r.WaitTimeoutMax > 0 && r.WaitTimeoutDefault > r.WaitTimeoutMax:
		p.add("records.wait_timeout_default", "%s is longer than records.wait_timeout_max (%s)",
			formatDuration(r.WaitTimeoutDefault), formatDuration(r.WaitTimeoutMax))
	}
}

func (s *Search) validate(p *problems) {
	p.intRange("search.ef_search", s.EfSearch, EfSearchMin, EfSearchMax)
	p.intRange("search.rrf_k", s.RRFK, RRFKMin, RRFKMax)
	p.oneOf("search.fusion", s.Fusion, FusionWeighted, FusionRRF)
	p.floatRange("search.semantic_ratio", s.SemanticRatio, 0, 1)
	p.intRange("search.hybrid_depth", s.HybridDepth, HybridDepthMin, HybridDepthMax)
	p.intRange("search.max_limit", s.MaxLimit, MaxLimitMin, MaxLimitMax)
	p.intRange("search.max_offset", s.MaxOffset, MaxOffsetMin, MaxOffsetMax)
	p.intRange("search.facet_depth", s.FacetDepth, FacetDepthMin, FacetDepthMax)
	s.validateFields(p)
}

func (d *Dev) validate(p *problems) {
	if d.DataDir == "" {
		p.add("dev.data_dir", "required")
	}
	p.intRange("dev.port", d.Port, 0, 65535)
	for _, f := range []struct{ key, v string }{
		{"dev.shared_buffers", d.SharedBuffers},
		{"dev.maintenance_work_mem", d.MaintenanceWorkMem},
		{"dev.work_mem", d.WorkMem},
	} {
		if !pgSizeRe.MatchString(f.v) {
			p.add(f.key, `%q is not a Postgres size (e.g. "16MB", "2GB")`, f.v)
		}
	}
}

func (b *Backend) validate(p *problems, key string, totalWorkers int) {
	switch {
	case !nameRe.MatchString(b.Name):
		p.add(key+".name", nameProblem, b.Name, NamePattern)
	case strings.HasSuffix(b.Name, "_shadow") || strings.Contains(b.Name, "_shadow_"):
		// A rebuild of backend x writes to the table of x_shadow.
		p.add(key+".name", "%q must not contain \"_shadow\" as a word: it names the tables of rebuilds", b.Name)
	}
	p.oneOf(key+".kind", b.Kind, BackendKindPgvector, BackendKindKeyword)
	p.intRange(key+".weight", b.Weight, WeightMin, WeightMax)
	p.intRange(key+".max_attempts", b.MaxAttempts, MaxAttemptsMin, MaxAttemptsMax)

	p.intRange(key+".batch.max_size", b.Batch.MaxSize, BatchMaxSizeMin, BatchMaxSizeMax)
	if b.Batch.MaxSize > totalWorkers {
		p.add(key+".batch.max_size", "%d is more than worker.total_workers (%d)", b.Batch.MaxSize, totalWorkers)
	}
	if b.Batch.MaxDelay <= 0 || b.Batch.MaxDelay > BatchMaxDelayMax {
		p.add(key+".batch.max_delay", "%s is out of range (more than 0, at most %s)",
			formatDuration(b.Batch.MaxDelay), formatDuration(BatchMaxDelayMax))
	}
	p.positive(key+".batch.timeout", b.Batch.Timeout)

	for i, f := range b.Text.Fields {
		if strings.TrimSpace(f) == "" {
			p.add(fmt.Sprintf("%s.text.fields[%d]", key, i), "empty field name")
		}
	}
	p.intRange(key+".text.max_chars", b.Text.MaxChars, TextMaxCharsMin, TextMaxCharsMax)

	switch {
	case b.Kind == BackendKindPgvector && b.Embedder == nil:
		p.add(key+".embedder", "required for kind pgvector")
	case b.Embedder != nil && b.Kind != BackendKindPgvector:
		p.add(key+".embedder", "not allowed for kind %q (pgvector only)", b.Kind)
	case b.Embedder != nil:
		dimsMax := EmbedderDimsMax
		if b.HNSW != nil && b.HNSW.Type == HNSWTypeHalfvec {
			dimsMax = EmbedderDimsHalfvecMax
		}
		b.Embedder.validate(p, key+".embedder", dimsMax)
	}
	switch {
	case b.Kind == BackendKindPgvector && b.HNSW == nil:
		p.add(key+".hnsw", "required for kind pgvector")
	case b.HNSW != nil && b.Kind != BackendKindPgvector:
		p.add(key+".hnsw", "not allowed for kind %q (pgvector only)", b.Kind)
	case b.HNSW != nil:
		p.intRange(key+".hnsw.m", b.HNSW.M, HNSWMMin, HNSWMMax)
		p.intRange(key+".hnsw.ef_construction", b.HNSW.EfConstruction, HNSWEfConstructionMin, HNSWEfConstructionMax)
		if b.HNSW.EfConstruction < 2*b.HNSW.M {
			p.add(key+".hnsw.ef_construction", "%d is less than 2 × %s.hnsw.m (2 × %d)", b.HNSW.EfConstruction, key, b.HNSW.M)
		}
		p.oneOf(key+".hnsw.type", b.HNSW.Type, HNSWTypeVector, HNSWTypeHalfvec)
	}
	switch {
	case b.Kind == BackendKindKeyword && !languageRe.MatchString(b.Language):
		p.add(key+".language", "%q is not a text search configuration name ([a-z_]+)", b.Language)
	case b.Language != "" && b.Kind != BackendKindKeyword:
		p.add(key+".language", "not allowed for kind %q (keyword only)", b.Kind)
	}
	switch {
	case b.Kind == BackendKindKeyword && b.BM25 == nil:
		p.add(key+".bm25", "required for kind keyword")
	case b.BM25 != nil && b.Kind != BackendKindKeyword:
		p.add(key+".bm25", "not allowed for kind %q (keyword only)", b.Kind)
	case b.BM25 != nil:
		if !(b.BM25.K1 > 0 && b.BM25.K1 <= BM25K1Max) {
			p.add(key+".bm25.k1", "%v is out of range (more than 0, at most %v)", b.BM25.K1, BM25K1Max)
		}
		p.floatRange(key+".bm25.b", b.BM25.B, 0, 1)
		p.floatRange(key+".bm25.title_weight", b.BM25.TitleWeight, 1, BM25TitleWeightMax)
		p.intRange(key+".bm25.candidates", b.BM25.Candidates, BM25CandidatesMin, BM25CandidatesMax)
	}
}

// validate checks the embedder of a backend whose index takes at most dimsMax dimensions.
func (e *Embedder) validate(p *problems, key string, dimsMax int) {
	kindOK := p.oneOf(key+".kind", e.Kind, EmbedderKindHash, EmbedderKindOpenAI, EmbedderKindOllama)
	if e.Model == "" && kindOK {
		p.add(key+".model", "required")
	}
	switch {
	case e.Dims > EmbedderDimsMax && e.Dims <= EmbedderDimsHalfvecMax && dimsMax == EmbedderDimsMax:
		p.add(key+".dims", "%d is out of range (%d..%d; set hnsw.type: %s for up to %d)", e.Dims, EmbedderDimsMin, EmbedderDimsMax,
			HNSWTypeHalfvec, EmbedderDimsHalfvecMax)
	default:
		p.intRange(key+".dims", e.Dims, EmbedderDimsMin, dimsMax)
	}
	switch {
	case e.BaseURL == "" && (e.Kind == EmbedderKindOpenAI || e.Kind == EmbedderKindOllama):
		p.add(key+".base_url", "required for kind %q", e.Kind)
	case e.BaseURL != "":
		p.httpURL(key+".base_url", e.BaseURL)
	}
	p.intRange(key+".max_inputs", e.MaxInputs, EmbedderMaxInputsMin, EmbedderMaxInputsMax)
	p.intRange(key+".max_tokens_per_call", e.MaxTokensPerCall, EmbedderMaxTokensPerCallMin, EmbedderMaxTokensPerCallMax)
	p.intRange(key+".max_concurrency", e.MaxConcurrency, EmbedderMaxConcurrencyMin, EmbedderMaxConcurrencyMax)
	p.positive(key+".timeout", e.Timeout)
	p.floatRange(key+".min_similarity", e.MinSimilarity, -1, 1)
	if e.SendDimensions && e.Kind == EmbedderKindHash {
		p.add(key+".send_dimensions", "not allowed for kind hash (openai and ollama only)")
	}
	if e.APIKeyEnv != "" && e.APIKeyFile != "" {
		p.add(key+".api_key_file", "not with api_key_env: name one place the key comes from")
	}
}

func (s *Source) validate(p *problems, key string) {
	if !nameRe.MatchString(s.Name) {
		p.add(key+".name", nameProblem, s.Name, NamePattern)
	}
	p.oneOf(key+".kind", s.Kind, SourceKindGeoEntrez)
	if s.Schedule != "" && !isCron(s.Schedule) {
		p.add(key+".schedule", `%q is not a cron expression (5 fields, e.g. "0 3 * * *", or @daily)`, s.Schedule)
	}
	if s.Limit < 0 {
		p.add(key+".limit", "%d is negative (0 means all records)", s.Limit)
	}
	p.intRange(key+".max_unfetched_ids", s.MaxUnfetchedIDs, -1, SourceMaxUnfetchedIDsMax)
	switch {
	case s.Kind == SourceKindGeoEntrez && s.Geo == nil:
		p.add(key+".geo", "required for kind geo_entrez")
	case s.Geo != nil && s.Kind != SourceKindGeoEntrez:
		p.add(key+".geo", "not allowed for kind %q (geo_entrez only)", s.Kind)
	case s.Geo != nil:
		s.Geo.validate(p, key+".geo", s.Enabled)
	}
}

func (g *Geo) validate(p *problems, key string, enabled bool) {
	p.oneOf(key+".record_type", g.RecordType, GeoRecordTypeGSE, GeoRecordTypeGDS)
	switch {
	case g.Email == "" && enabled:
		p.add(key+".email", "required when the source is enabled (NCBI asks every client for a contact address)")
	case g.Email != "" && !emailRe.MatchString(g.Email):
		p.add(key+".email", "%q is not an email address", g.Email)
	}
	if g.Tool == "" {
		p.add(key+".tool", "required (NCBI asks every client for a tool name)")
	}
	p.httpURL(key+".base_url", g.BaseURL)
	p.intRange(key+".page_size", g.PageSize, GeoPageSizeMin, GeoPageSizeMax)
	p.positive(key+".timeout", g.Timeout)
	p.intRange(key+".max_samples", g.MaxSamples, -1, GeoMaxSamplesMax)
}

// isCron reports whether s looks like a cron expression: five fields, or a
// descriptor such as @daily or "@every 1h". Field contents aren't checked.
func isCron(s string) bool {
	if every, ok := strings.CutPrefix(s, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(every))
		return err == nil && d > 0
	}
	if strings.HasPrefix(s, "@") {
		return slices.Contains([]string{"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}, s)
	}
	return len(strings.Fields(s)) == 5
}

// intRange adds a problem unless min <= v <= max.
func (p *problems) intRange(key string, v, minimum, maximum int) {
	if v < minimum || v > maximum {
		p.add(key, "%d is out of range (%d..%d)", v, minimum, maximum)
	}
}

// floatRange adds a problem unless min <= v <= max.
func (p *problems) floatRange(key string, v, minimum, maximum float64) {
	if !(v >= minimum && v <= maximum) {
		p.add(key, "%v is out of range (%v..%v)", v, minimum, maximum)
	}
}

// positive adds a problem unless d > 0.
func (p *problems) positive(key string, d time.Duration) {
	if d <= 0 {
		p.add(key, "%s is not a positive duration", formatDuration(d))
	}
}

// seconds adds a problem unless d is a whole number of seconds in 0..maximum (an HTTP max-age).
func (p *problems) seconds(key string, d, maximum time.Duration) {
	switch {
	case d < 0 || d > maximum:
		p.add(key, "%s is out of range (0s..%s)", formatDuration(d), formatDuration(maximum))
	case d%time.Second != 0:
		p.add(key, "%s is not a whole number of seconds", formatDuration(d))
	}
}

// oneOf adds a problem unless v is one of allowed, and reports whether it is.
func (p *problems) oneOf(key, v string, allowed ...string) bool {
	if !slices.Contains(allowed, v) {
		p.add(key, "%q is not one of %s", v, strings.Join(allowed, ", "))
		return false
	}
	return true
}

// httpURL adds a problem unless s is an absolute http(s) URL.
func (p *problems) httpURL(key, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add(key, "%q is not an http(s) URL", s)
	}
}
