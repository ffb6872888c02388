package config

import (
	"slices"
	"strings"
	"testing"
)

// DiffBackend: where the key comes from applies in place, and the key itself is never shown; a
// model or HNSW change needs a rebuild.
func TestDiffBackend(t *testing.T) {
	base := DefaultBackend("vec", BackendKindPgvector)
	for _, c := range []struct {
		name    string
		change  func(b *Backend)
		want    string
		rebuild bool
	}{
		{"api_key_env", func(b *Backend) { b.Embedder.APIKeyEnv = "EMBED_KEY" }, "embedder.api_key_env: (none) → EMBED_KEY", false},
		{"api_key_file", func(b *Backend) { b.Embedder.APIKeyFile = "/run/secrets/k" }, "embedder.api_key_file: (none) → /run/secrets/k", false},
		{"api_key", func(b *Backend) { b.Embedder.APIKey = "sk-secret" }, "embedder.api_key: (secret changed)", false},
		{"weight", func(b *Backend) { b.Weight = 3 }, "weight: 1 → 3", false},
		{"model", func(b *Backend) { b.Embedder.Model = "hash-v1" }, "embedder.model: hash-v2 → hash-v1", true},
		{"hnsw", func(b *Backend) { b.HNSW.M = 24 }, "hnsw.m: 16 → 24", true},
		{"hnsw.type", func(b *Backend) { b.HNSW.Type = HNSWTypeHalfvec }, "hnsw.type: vector → halfvec", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := DefaultBackend("vec", BackendKindPgvector)
			c.change(&b)
			changes, rebuild := DiffBackend(base, b)
			if !slices.Equal(changes, []string{c.want}) || rebuild != c.rebuild {
				t.Fatalf("DiffBackend: %q, rebuild %v; want [%q], rebuild %v", changes, rebuild, c.want, c.rebuild)
			}
			if strings.Contains(strings.Join(changes, " "), "sk-secret") {
				t.Fatal("the key is shown")
			}
		})
	}
}

// Settings stored in the catalog before hnsw.type existed decode to the default type, so no
// process reads them as a change.
func TestDecodeBackendWithoutHNSWType(t *testing.T) {
	old := `{"name": "vector", "kind": "pgvector", "embedder": {"kind": "hash", "dims": 384}, "hnsw": {"m": 16, "ef_construction": 128}}`
	b, err := DecodeBackend([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	if b.HNSW.Type != HNSWTypeVector {
		t.Fatalf("hnsw.type = %q, want %q", b.HNSW.Type, HNSWTypeVector)
	}
	if changes, rebuild := DiffBackend(b, DefaultBackend("vector", BackendKindPgvector)); rebuild {
		t.Fatalf("old settings against the defaults: %q, a rebuild", changes)
	}
}
