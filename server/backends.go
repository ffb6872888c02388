package server

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/embed"
	"github.com/osa-archive/osa/backends/keyword"
	"github.com/osa-archive/osa/backends/pgvector"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/jobs/pipeline"
)

// wrapEmbedderFunc decorates a backend's embedder (with metrics) given its provider kind.
type wrapEmbedderFunc func(e embed.Embedder, provider string) embed.Embedder

// buildBackends builds every configured backend, with its queue settings. Field names in errors
// are the config keys.
func buildBackends(cfg *config.Config, wrap wrapEmbedderFunc) ([]pipeline.BackendConfig, error) {
	out := make([]pipeline.BackendConfig, len(cfg.Backends))
	for i, bc := range cfg.Backends {
		b, err := buildBackend(bc, wrap)
		if err != nil {
			return nil, fmt.Errorf("backends[%d] (%s): %w", i, bc.Name, err)
		}
		out[i] = pipeline.BackendConfig{
			Backend:      b,
			Weight:       bc.Weight,
			MaxAttempts:  bc.MaxAttempts,
			BatchSize:    bc.Batch.MaxSize,
			BatchDelay:   bc.Batch.MaxDelay,
			BatchTimeout: bc.Batch.Timeout,
		}
	}
	return out, nil
}

// buildBackend builds the backend of bc, a validated configuration: a pgvector backend has its
// embedder and hnsw settings, a keyword backend its bm25 settings.
func buildBackend(bc config.Backend, wrap wrapEmbedderFunc) (backends.Backend, error) {
	text := backends.TextConfig{Fields: bc.Text.Fields, MaxChars: bc.Text.MaxChars}
	switch bc.Kind {
	case config.BackendKindPgvector:
		e := bc.Embedder
		emb, err := embed.New(embed.Config{
			Kind: e.Kind, Model: e.Model, Dims: e.Dims, BaseURL: e.BaseURL, APIKey: e.APIKey,
			MaxInputs: e.MaxInputs, Timeout: e.Timeout, SendDimensions: e.SendDimensions,
		})
		if err != nil {
			return nil, err
		}
		pc := pgvector.Config{Name: bc.Name, Text: text, Embedder: wrap(emb, e.Kind), MinSimilarity: e.MinSimilarity,
			M: bc.HNSW.M, EfConstruction: bc.HNSW.EfConstruction}
		if h, ok := emb.(*embed.Hash); ok {
			pc.SharesWord = h.SharesWord
		}
		return pgvector.New(pc)
	case config.BackendKindKeyword:
		kc := keyword.Config{Name: bc.Name, Text: text, Language: bc.Language,
			K1: bc.BM25.K1, B: bc.BM25.B, TitleWeight: bc.BM25.TitleWeight, Candidates: bc.BM25.Candidates}
		if kc.B == 0 {
			kc.B = -1 // keyword.Config reads 0 as its default; b 0 is asked for here
		}
		return keyword.New(kc)
	default:
		return nil, fmt.Errorf("kind %q is not pgvector or keyword", bc.Kind)
	}
}

// ensureBackends creates or checks every backend's table.
func ensureBackends(ctx context.Context, pool *pgxpool.Pool, bs []pipeline.BackendConfig) error {
	for _, b := range bs {
		if err := b.Backend.Ensure(ctx, pool); err != nil {
			return err
		}
	}
	return nil
}

func backendNames(bs []pipeline.BackendConfig) []string {
	names := make([]string, len(bs))
	for i, b := range bs {
		names[i] = b.Backend.Name()
	}
	return names
}
