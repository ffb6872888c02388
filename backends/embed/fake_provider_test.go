package embed

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeProvider is an embeddings server speaking the OpenAI or the Ollama protocol with the real
// JSON shapes and status codes; its vectors come from a [Hash], so a test can tell which text a
// vector belongs to.
type fakeProvider struct {
	apiKey string // when set, calls without "Authorization: Bearer <apiKey>" get a 401
	dims   int    // of the vectors returned
	hash   *Hash
	kind   string // KindOllama or KindOpenAI
	model  string // the only model served; others get a 404

	// respond, when set, is called first for every well-formed call and may answer it
	// instead, returning true.
	respond func(w http.ResponseWriter, r *http.Request, req fakeRequest) bool

	mu       sync.Mutex
	requests []fakeRequest
	server   *httptest.Server
}

// fakeRequest is a decoded embeddings request of either protocol.
type fakeRequest struct {
	Authorization  string   `json:"-"`
	Dimensions     *int     `json:"dimensions"`
	EncodingFormat *string  `json:"encoding_format"`
	Input          []string `json:"input"`
	Model          string   `json:"model"`
}

// newFakeProvider starts a fake provider of kind serving model with vectors of dims.
func newFakeProvider(tb testing.TB, kind, model string, dims int) *fakeProvider {
	tb.Helper()
	f := &fakeProvider{dims: dims, hash: NewHash(HashConfig{Dims: dims}), kind: kind, model: model}
	f.server = httptest.NewServer(f)
	tb.Cleanup(f.server.Close)
	return f
}

// path is the endpoint of the fake's protocol.
func (f *fakeProvider) path() string {
	if f.kind == KindOpenAI {
		return "/v1/embeddings"
	}
	return "/api/embed"
}

// Requests returns the well-formed calls received so far.
func (f *fakeProvider) Requests() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeRequest(nil), f.requests...)
}

func (f *fakeProvider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != f.path() {
		f.writeError(w, http.StatusNotFound, "404 page not found", "")
		return
	}
	if r.Method != http.MethodPost {
		f.writeError(w, http.StatusMethodNotAllowed, "method not allowed", "")
		return
	}
	if f.apiKey != "" && r.Header.Get("Authorization") != "Bearer "+f.apiKey {
		// OpenAI echoes the key it got (masked; this fake does not mask, to test redaction).
		got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		f.writeError(w, http.StatusUnauthorized, "Incorrect API key provided: "+got+".", "invalid_api_key")
		return
	}
	var req fakeRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		f.writeError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error(), "")
		return
	}
	req.Authorization = r.Header.Get("Authorization")
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.mu.Unlock()

	if f.respond != nil && f.respond(w, r, req) {
		return
	}
	if req.Model != f.model {
		msg := fmt.Sprintf("model %q not found, try pulling it first", req.Model)
		if f.kind == KindOpenAI {
			msg = fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", req.Model)
		}
		f.writeError(w, http.StatusNotFound, msg, "model_not_found")
		return
	}
	if len(req.Input) == 0 {
		f.writeError(w, http.StatusBadRequest, "'$.input' is invalid. Please check the API reference", "")
		return
	}
	for _, in := range req.Input {
		if in == "" || strings.Contains(in, "poison") {
			f.writeError(w, http.StatusBadRequest, "This model's maximum context length is 8192 tokens, however you requested 9000 tokens.", "")
			return
		}
	}

	vecs, errs := f.hash.Embed(context.Background(), req.Input)
	for _, err := range errs {
		if err != nil {
			f.writeError(w, http.StatusInternalServerError, err.Error(), "")
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if f.kind == KindOllama {
		_ = json.NewEncoder(w).Encode(map[string]any{
			"model":             req.Model,
			"embeddings":        vecs,
			"total_duration":    14143917,
			"load_duration":     1019500,
			"prompt_eval_count": 8,
		})
		return
	}
	// OpenAI: data in reverse order, so a client that ignores "index" is caught.
	type datum struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	data := make([]datum, 0, len(vecs))
	for i := len(vecs) - 1; i >= 0; i-- {
		data = append(data, datum{Object: "embedding", Index: i, Embedding: vecs[i]})
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"object": "list",
		"data":   data,
		"model":  req.Model,
		"usage":  map[string]int{"prompt_tokens": 8, "total_tokens": 8},
	})
}

// URL is the fake's base URL.
func (f *fakeProvider) URL() string { return f.server.URL }

// writeError writes an error in the shape of the fake's protocol.
func (f *fakeProvider) writeError(w http.ResponseWriter, status int, msg, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if f.kind == KindOllama {
		_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
		return
	}
	var c any
	if code != "" {
		c = code
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"message": msg,
		"type":    "invalid_request_error",
		"param":   nil,
		"code":    c,
	}})
}
