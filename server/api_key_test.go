package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/sdk"
)

// fakeOpenAI answers /v1/embeddings as OpenAI does, with 8-dim vectors, for requests that carry
// key; others get OpenAI's 401 body.
func fakeOpenAI(t *testing.T, key string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+key {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","code":"invalid_api_key"}}`)
			return
		}
		var req struct {
			Input []string `json:"input"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		type item struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		}
		out := struct {
			Object string `json:"object"`
			Data   []item `json:"data"`
			Model  string `json:"model"`
		}{Object: "list", Model: "fake-embed"}
		for i, text := range req.Input {
			v := make([]float32, 8)
			for j := range v {
				v[j] = float32(len(text)%7+j) + 1
			}
			out.Data = append(out.Data, item{Object: "embedding", Index: i, Embedding: v})
		}
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// An embedder's key named by api_key_env or api_key_file: the catalog stores the variable's name
// or the file's path and never the key; a process that has the key runs the backend, one that
// lacks it leaves the backend to others and says so.
func TestAPIKeyFromEnvOrFile(t *testing.T) {
	t.Parallel()
	const key = "sk-test-secret-1234"
	env := fmt.Sprintf("OSA_TEST_EMBED_KEY_%d", time.Now().UnixNano())
	file := filepath.Join(t.TempDir(), "embed-key")
	for _, c := range []struct {
		setting, where string
		give, take     func()
		missing        string // what the process without the key logs
	}{
		{"api_key_env", env,
			func() { os.Setenv(env, key) }, func() { os.Unsetenv(env) }, // a name of this test's own: parallel tests do not read it
			env + " is not set"},
		{"api_key_file", file,
			func() {
				if err := os.WriteFile(file, []byte(key+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			func() { os.Remove(file) },
			"api_key_file: this process cannot read the key"},
	} {
		t.Run(c.setting, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			c.give()
			defer c.take()
			url := fakeOpenAI(t, key)

			a := setup(t, nil)
			cl, err := sdk.New(a.baseURL)
			if err != nil {
				t.Fatal(err)
			}
			doc := backendsDoc(fmt.Sprintf("  - {name: vec2, kind: pgvector, embedder: {kind: openai, model: fake-embed, dims: 8, base_url: %q, %s: %q}}\n",
				url, c.setting, c.where))
			if _, applied, err := cl.ApplyBackends(ctx, doc, sdk.ApplyOpts{}); err != nil || !applied {
				t.Fatalf("adding vec2: %v (applied %v)", err, applied)
			}
			var settings string
			if err := a.srv.Pool().QueryRow(ctx, `SELECT settings::text FROM backend_catalog WHERE name = 'vec2'`).Scan(&settings); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(settings, key) || !strings.Contains(settings, c.where) {
				t.Fatalf("the catalog's settings of vec2: %s; want %s and not the key", settings, c.where)
			}
			waitBackend(ctx, t, cl, "vec2", func(b sdk.Backend) bool { return b.State == "live" })

			// A process without the key.
			c.take()
			logs := &syncBuffer{}
			b := setupWithLogger(t, func(cfg *config.Config) { cfg.Database.URL = a.dbURL }, slog.New(slog.NewTextHandler(logs, nil)))
			c.give()
			for _, be := range b.srv.Backends() {
				if be.Name() == "vec2" {
					t.Fatalf("a process without the key of %s runs vec2", c.setting)
				}
			}
			if l := logs.String(); !strings.Contains(l, "cannot run on this process") || !strings.Contains(l, c.missing) {
				t.Fatalf("the process without the key did not say why it leaves vec2:\n%s", l)
			}
		})
	}
}
