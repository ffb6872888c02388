package embed

import (
	"strings"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	t.Parallel()

	t.Run("Errors", func(t *testing.T) {
		t.Parallel()
		for _, tt := range []struct {
			name  string
			cfg   Config
			field string
		}{
			{"BaseURLMissing", Config{Kind: KindOpenAI, Model: "m"}, "embedder.base_url"},
			{"BaseURLNotHTTP", Config{Kind: KindOllama, Model: "m", BaseURL: "localhost:11434"}, "embedder.base_url"},
			{"DimsNegative", Config{Kind: KindHash, Dims: -1}, "embedder.dims"},
			{"DimsNegativeHTTP", Config{Kind: KindOpenAI, Model: "m", BaseURL: "http://h", Dims: -1}, "embedder.dims"},
			{"KindUnknown", Config{Kind: "bert"}, "embedder.kind"},
			{"MaxInputsNegative", Config{Kind: KindOllama, Model: "m", BaseURL: "http://h", MaxInputs: -1}, "embedder.max_inputs"},
			{"ModelMissing", Config{Kind: KindOllama, BaseURL: "http://h"}, "embedder.model"},
			{"TimeoutNegative", Config{Kind: KindOpenAI, Model: "m", BaseURL: "http://h", Timeout: -time.Second}, "embedder.timeout"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				e, err := New(tt.cfg)
				if err == nil || e != nil {
					t.Fatalf("New = %v, %v; want an error", e, err)
				}
				if !strings.HasPrefix(err.Error(), tt.field) {
					t.Fatalf("error %q does not start with %s", err, tt.field)
				}
			})
		}
	})

	t.Run("Hash", func(t *testing.T) {
		t.Parallel()
		for _, kind := range []string{"", KindHash} {
			e, err := New(Config{Kind: kind})
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := e.(*Hash); !ok || e.Model() != HashModelDefault || e.Dims() != DimsDefault {
				t.Fatalf("New(kind %q) = %T %q %d; want *Hash hash-v1 384", kind, e, e.Model(), e.Dims())
			}
		}
	})

	t.Run("Ollama", func(t *testing.T) {
		t.Parallel()
		e, err := New(Config{Kind: KindOllama, Model: "nomic-embed-text", Dims: 768, BaseURL: "http://localhost:11434"})
		if err != nil {
			t.Fatal(err)
		}
		o, ok := e.(*Ollama)
		if !ok || o.Model() != "nomic-embed-text" || o.Dims() != 768 || o.h.url != "http://localhost:11434/api/embed" {
			t.Fatalf("New = %T %+v", e, e)
		}
		if o.h.maxInputs != MaxInputsDefault || o.h.timeout != TimeoutDefault || o.h.client.Timeout != TimeoutDefault {
			t.Fatalf("defaults not applied: max_inputs %d, timeout %v", o.h.maxInputs, o.h.timeout)
		}
	})

	t.Run("OpenAI", func(t *testing.T) {
		t.Parallel()
		for base, want := range map[string]string{
			"https://api.openai.com":       "https://api.openai.com/v1/embeddings",
			"https://api.openai.com/":      "https://api.openai.com/v1/embeddings",
			"https://api.openai.com/v1":    "https://api.openai.com/v1/embeddings",
			"http://localhost:11434/v1/":   "http://localhost:11434/v1/embeddings",
			"http://gateway/openai/v1":     "http://gateway/openai/v1/embeddings",
			"http://gateway/openai/compat": "http://gateway/openai/compat/v1/embeddings",
		} {
			e, err := New(Config{Kind: KindOpenAI, Model: "text-embedding-3-small", BaseURL: base, MaxInputs: 64, Timeout: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			o := e.(*OpenAI)
			if o.h.url != want || o.h.maxInputs != 64 || o.h.timeout != time.Second {
				t.Fatalf("base %q: url %q, max_inputs %d, timeout %v; want %q, 64, 1s", base, o.h.url, o.h.maxInputs, o.h.timeout, want)
			}
		}
	})

	t.Run("PanicsOnInvalidHTTPConfig", func(t *testing.T) {
		t.Parallel()
		defer func() {
			if recover() == nil {
				t.Fatal("NewOpenAI did not panic without a BaseURL")
			}
		}()
		NewOpenAI(HTTPConfig{Model: "m"})
	})
}
