package server_test

import (
	"testing"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/embed"
	"github.com/osa-archive/osa/backends/keyword"
	"github.com/osa-archive/osa/backends/pgvector"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/jobs/pipeline"
	"github.com/osa-archive/osa/records"
	"github.com/osa-archive/osa/search"
)

// TestPackageDefaultsAgreeWithConfig ties the defaults each package applies to a zero field to
// those of config.Default(), which the server passes: a package used alone (a test, a benchmark,
// the SDK's users) behaves as the server does. Each default has one source, the package's
// constant, which config's constant names; this checks that each package's WithDefaults applies
// it, and that config.Default() uses it.
func TestPackageDefaultsAgreeWithConfig(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	var vec, kw config.Backend
	for _, b := range cfg.Backends {
		switch b.Kind {
		case config.BackendKindPgvector:
			vec = b
		case config.BackendKindKeyword:
			kw = b
		}
	}
	s := search.Config{}.WithDefaults()
	k := keyword.Config{}.WithDefaults()
	p := pgvector.Config{}.WithDefaults()
	text := backends.TextConfig{}.WithDefaults()
	for _, c := range []struct {
		name            string
		pkg, fromConfig any
	}{
		{"search.ef_search", s.EfSearch, cfg.Search.EfSearch},
		{"search.rrf_k", s.RRFK, cfg.Search.RRFK},
		{"search.fusion", s.Fusion, cfg.Search.Fusion},
		{"search.semantic_ratio", s.SemanticRatio, cfg.Search.SemanticRatio},
		{"search.hybrid_depth", s.HybridDepth, cfg.Search.HybridDepth},
		{"search.max_limit", s.MaxLimit, cfg.Search.MaxLimit},
		{"search.max_offset", s.MaxOffset, cfg.Search.MaxOffset},
		{"node.domain", s.Domain, cfg.Node.Domain},
		{"records.max_batch", records.MaxBatchDefault, cfg.Records.MaxBatch},
		{"backends[keyword].language", k.Language, kw.Language},
		{"backends[keyword].bm25.k1", k.K1, kw.BM25.K1},
		{"backends[keyword].bm25.b", k.B, kw.BM25.B},
		{"backends[keyword].bm25.title_weight", k.TitleWeight, kw.BM25.TitleWeight},
		{"backends[keyword].bm25.candidates", k.Candidates, kw.BM25.Candidates},
		{"backends[].text.fields", len(text.Fields), len(kw.Text.Fields)},
		{"backends[].text.max_chars", text.MaxChars, kw.Text.MaxChars},
		{"backends[vector].hnsw.m", p.M, vec.HNSW.M},
		{"backends[vector].hnsw.ef_construction", p.EfConstruction, vec.HNSW.EfConstruction},
		{"backends[vector].embedder.model", embed.HashConfig{}.WithDefaults().Model, vec.Embedder.Model},
		{"backends[vector].embedder.dims", embed.HashConfig{}.WithDefaults().Dims, vec.Embedder.Dims},
		{"worker.fanout_batch", pipeline.FanOutBatchDefault, cfg.Worker.FanoutBatch},
		{"worker.fanout_delay", pipeline.FanOutDelayDefault, cfg.Worker.FanoutDelay},
		{"worker.outage_retry_min", pipeline.OutageRetryMinDefault, cfg.Worker.OutageRetryMin},
		{"worker.outage_retry_max", pipeline.OutageRetryMaxDefault, cfg.Worker.OutageRetryMax},
	} {
		if c.pkg != c.fromConfig {
			t.Errorf("%s: the package's default is %v, config.Default()'s %v", c.name, c.pkg, c.fromConfig)
		}
	}
}
