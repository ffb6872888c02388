package server

import (
	"fmt"
	"os"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/embed"
	"github.com/osa-archive/osa/backends/keyword"
	"github.com/osa-archive/osa/backends/pgvector"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/jobs/pipeline"
)

// buildBackendConfig builds the backend of bc with its queue settings: its embedder timed by the
// metrics, and a vector backend reusing the vectors of unchanged texts on the server's pool.
func (s *Server) buildBackendConfig(bc config.Backend) (pipeline.BackendConfig, error) {
	b, err := buildBackend(bc, s.metrics, s.pool)
	if err != nil {
		return pipeline.BackendConfig{}, fmt.Errorf("backend %q: %w", bc.Name, err)
	}
	return pipeline.BackendConfig{
		Backend:      b,
		Weight:       bc.Weight,
		MaxAttempts:  bc.MaxAttempts,
		BatchSize:    bc.Batch.MaxSize,
		BatchDelay:   bc.Batch.MaxDelay,
		BatchTimeout: bc.Batch.Timeout,
	}, nil
}

// buildBackend builds the backend of bc, a validated configuration: a pgvector backend has its
// embedder and hnsw settings, a keyword backend its bm25 settings.
func buildBackend(bc config.Backend, m *metrics, pool *pgxpool.Pool) (backends.Backend, error) {
	text := backends.TextConfig{Fields: bc.Text.Fields, MaxChars: bc.Text.MaxChars}
	switch bc.Kind {
	case config.BackendKindPgvector:
		e := bc.Embedder
		key, err := apiKey(e)
		if err != nil {
			return nil, err
		}
		emb, err := embed.New(embed.Config{
			Kind: e.Kind, Model: e.Model, Dims: e.Dims, BaseURL: e.BaseURL, APIKey: key,
			MaxInputs: e.MaxInputs, Timeout: e.Timeout, SendDimensions: e.SendDimensions,
			MaxTokensPerCall: e.MaxTokensPerCall, MaxConcurrency: e.MaxConcurrency,
		})
		if err != nil {
			return nil, err
		}
		saved, inputs := m.embedSaved.WithLabelValues(bc.Name), m.embedInputs.WithLabelValues(bc.Name)
		pc := pgvector.Config{Name: bc.Name, Text: text, Embedder: m.embedder(emb, e.Kind), MinSimilarity: e.MinSimilarity,
			M: bc.HNSW.M, EfConstruction: bc.HNSW.EfConstruction, Type: bc.HNSW.Type, Reuse: pool, OnReuse: func(n int) { saved.Add(float64(n)) },
			OnEmbed: func(n int) { inputs.Add(float64(n)) }}
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

// apiKey returns the embedder's API key: api_key, else the variable api_key_env names, else the
// content of the file api_key_file names (surrounding whitespace trimmed). A key named but not
// found on this process is an error naming the key's setting.
func apiKey(e *config.Embedder) (string, error) {
	switch {
	case e.APIKey != "":
		return e.APIKey, nil
	case e.APIKeyEnv != "":
		key := os.Getenv(e.APIKeyEnv)
		if key == "" {
			return "", fmt.Errorf("embedder.api_key_env: the environment variable %s is not set on this process", e.APIKeyEnv)
		}
		return key, nil
	case e.APIKeyFile != "":
		data, err := os.ReadFile(e.APIKeyFile)
		if err != nil {
			return "", fmt.Errorf("embedder.api_key_file: this process cannot read the key: %w", err)
		}
		key := strings.TrimSpace(string(data))
		if key == "" {
			return "", fmt.Errorf("embedder.api_key_file: %s is empty on this process", e.APIKeyFile)
		}
		return key, nil
	}
	return "", nil
}
