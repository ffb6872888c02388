package embed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osa-archive/osa/backends/indexerr"
)

// httpEmbedderUnderTest is what [OpenAI] and [Ollama] have in common.
type httpEmbedderUnderTest interface {
	Embedder
	CallCounter
}

func TestHTTPEmbedders(t *testing.T) {
	t.Parallel()

	for _, kind := range []string{KindOllama, KindOpenAI} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			testHTTPEmbedder(t, kind)
		})
	}
}

// testHTTPEmbedder runs the behaviour shared by the HTTP embedders against a fake of kind.
func testHTTPEmbedder(t *testing.T, kind string) {
	t.Helper()

	const model = "test-model"

	type testBundle struct {
		cfg  HTTPConfig
		fake *fakeProvider
	}

	setup := func(t *testing.T) *testBundle {
		t.Helper()
		fake := newFakeProvider(t, kind, model, 8)
		return &testBundle{
			cfg:  HTTPConfig{BaseURL: fake.URL(), Model: model, Dims: 8, MaxInputs: 3, Timeout: 5 * time.Second},
			fake: fake,
		}
	}

	newEmbedder := func(cfg HTTPConfig) httpEmbedderUnderTest {
		if kind == KindOllama {
			return NewOllama(cfg)
		}
		return NewOpenAI(cfg)
	}

	texts := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("record number %d about topic %c", i, 'a'+i)
		}
		return out
	}

	// requireVectors checks that vecs[i] is the fake's vector of in[i] for every i in want.
	requireVectors := func(t *testing.T, fake *fakeProvider, in []string, vecs [][]float32, errs []error, want ...int) {
		t.Helper()
		for _, i := range want {
			if errs[i] != nil {
				t.Fatalf("text %d: unexpected error: %v", i, errs[i])
			}
			ref, _ := fake.hash.Embed(context.Background(), []string{in[i]})
			if !equalVec(vecs[i], ref[0]) {
				t.Fatalf("text %d: got the vector of another text", i)
			}
		}
	}

	t.Run("APIKeyNeverInErrors", func(t *testing.T) {
		t.Parallel()
		const key = "sk-test-SECRET-0123456789"
		for _, status := range []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusTooManyRequests, http.StatusInternalServerError} {
			t.Run(http.StatusText(status), func(t *testing.T) {
				t.Parallel()
				bundle := setup(t)
				bundle.fake.respond = func(w http.ResponseWriter, r *http.Request, req fakeRequest) bool {
					// A careless provider or proxy echoing the credentials it got.
					bundle.fake.writeError(w, status, "cannot serve "+r.Header.Get("Authorization"), "")
					return true
				}
				bundle.cfg.APIKey = key
				_, errs := newEmbedder(bundle.cfg).Embed(context.Background(), texts(2))
				for i, err := range errs {
					if err == nil || strings.Contains(err.Error(), key) {
						t.Fatalf("text %d: error %v is nil or shows the API key", i, err)
					}
				}
			})
		}
	})

	t.Run("APIKeySentAsBearer", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		bundle.fake.apiKey = "sk-test-key"
		bundle.cfg.APIKey = "sk-test-key"
		in := texts(2)
		vecs, errs := newEmbedder(bundle.cfg).Embed(context.Background(), in)
		requireVectors(t, bundle.fake, in, vecs, errs, 0, 1)
		if got := bundle.fake.Requests()[0].Authorization; got != "Bearer sk-test-key" {
			t.Fatalf("Authorization = %q, want Bearer sk-test-key", got)
		}
	})

	t.Run("BaseURLWithPathNotDoubled", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		bundle.cfg.BaseURL = bundle.fake.URL() + "/api/"
		if kind == KindOpenAI {
			bundle.cfg.BaseURL = bundle.fake.URL() + "/v1/"
		}
		in := texts(1)
		vecs, errs := newEmbedder(bundle.cfg).Embed(context.Background(), in)
		requireVectors(t, bundle.fake, in, vecs, errs, 0)
	})

	t.Run("BatchesSplitByMaxInputs", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		e := newEmbedder(bundle.cfg)
		in := texts(8)
		vecs, errs := e.Embed(context.Background(), in)
		requireVectors(t, bundle.fake, in, vecs, errs, 0, 1, 2, 3, 4, 5, 6, 7)
		reqs := bundle.fake.Requests()
		if len(reqs) != 3 || e.Calls() != 3 {
			t.Fatalf("%d requests, Calls() = %d; want 3 and 3", len(reqs), e.Calls())
		}
		for i, want := range []int{3, 3, 2} {
			if got := len(reqs[i].Input); got != want {
				t.Fatalf("call %d had %d inputs, want %d", i, got, want)
			}
			if reqs[i].Model != model {
				t.Fatalf("call %d sent model %q, want %q", i, reqs[i].Model, model)
			}
		}
		if e.Model() != model || e.Dims() != 8 {
			t.Fatalf("Model, Dims = %q, %d; want %q, 8", e.Model(), e.Dims(), model)
		}
	})

	t.Run("ContextCanceledBeforeCall", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, errs := newEmbedder(bundle.cfg).Embed(ctx, texts(5))
		for i, err := range errs {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("text %d: err = %v, want context.Canceled", i, err)
			}
		}
		if n := len(bundle.fake.Requests()); n != 0 {
			t.Fatalf("%d calls made after cancellation", n)
		}
	})

	t.Run("ContextCanceledDuringCall", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		bundle.fake.respond = func(w http.ResponseWriter, r *http.Request, req fakeRequest) bool {
			cancel()
			<-r.Context().Done()
			return true
		}
		_, errs := newEmbedder(bundle.cfg).Embed(ctx, texts(5))
		for i, err := range errs {
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("text %d: err = %v, want context.Canceled", i, err)
			}
		}
		if n := len(bundle.fake.Requests()); n != 1 {
			t.Fatalf("%d calls made, want 1", n)
		}
	})

	t.Run("DimensionsSentWhenAsked", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		newEmbedder(bundle.cfg).Embed(context.Background(), texts(1))
		bundle.cfg.SendDimensions = true
		newEmbedder(bundle.cfg).Embed(context.Background(), texts(1))
		reqs := bundle.fake.Requests()
		if reqs[0].Dimensions != nil {
			t.Fatalf("dimensions = %d sent without SendDimensions", *reqs[0].Dimensions)
		}
		if reqs[1].Dimensions == nil || *reqs[1].Dimensions != 8 {
			t.Fatalf("dimensions = %v, want 8", reqs[1].Dimensions)
		}
		wantFormat := kind == KindOpenAI
		if got := reqs[0].EncodingFormat; (got != nil) != wantFormat || got != nil && *got != "float" {
			t.Fatalf("encoding_format = %v, want float for openai only", got)
		}
	})

	t.Run("DimsMismatchIsPermanent", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		bundle.cfg.Dims = 16
		vecs, errs := newEmbedder(bundle.cfg).Embed(context.Background(), texts(2))
		for i, err := range errs {
			if vecs[i] != nil || !indexerr.IsPermanent(err) {
				t.Fatalf("text %d: vec %v, err %v; want a permanent error", i, vecs[i], err)
			}
			for _, part := range []string{model, "8 dims", "want 16"} {
				if !strings.Contains(err.Error(), part) {
					t.Fatalf("error %q does not contain %q", err, part)
				}
			}
		}
	})

	t.Run("EmptyTextIsPermanentWithoutCall", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		in := []string{"first text", " \n", "third text"}
		vecs, errs := newEmbedder(bundle.cfg).Embed(context.Background(), in)
		requireVectors(t, bundle.fake, in, vecs, errs, 0, 2)
		if !indexerr.IsPermanent(errs[1]) {
			t.Fatalf("empty text: err = %v, want permanent", errs[1])
		}
		if reqs := bundle.fake.Requests(); len(reqs) != 1 || len(reqs[0].Input) != 2 {
			t.Fatalf("requests = %+v, want one with the 2 non-empty texts", reqs)
		}
	})

	t.Run("InvalidJSONIsTransient", func(t *testing.T) {
		t.Parallel()
		for name, body := range map[string]string{
			"HTML":      "<html><body>502 Bad Gateway</body></html>",
			"Truncated": `{"data":[{"index":0,"embedding":[0.1,`,
			"WrongType": `{"data":"nope","embeddings":"nope"}`,
			"WrongSize": `{"data":[],"embeddings":[]}`,
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				bundle := setup(t)
				bundle.fake.respond = func(w http.ResponseWriter, r *http.Request, req fakeRequest) bool {
					w.Header().Set("Content-Type", "application/json")
					_, _ = w.Write([]byte(body))
					return true
				}
				_, errs := newEmbedder(bundle.cfg).Embed(context.Background(), texts(2))
				for i, err := range errs {
					requireTransient(t, err)
					if !strings.Contains(err.Error(), "invalid response") {
						t.Fatalf("text %d: error %q does not say the response is invalid", i, err)
					}
				}
			})
		}
	})

	t.Run("ModelNotFoundIsTransient", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		bundle.cfg.Model = "no-such-model"
		_, errs := newEmbedder(bundle.cfg).Embed(context.Background(), texts(2))
		for _, err := range errs {
			requireTransient(t, err)
			if !strings.Contains(err.Error(), "status 404") || !strings.Contains(err.Error(), "no-such-model") {
				t.Fatalf("error %q does not name the status and model", err)
			}
		}
	})

	t.Run("PoisonInputIsolated", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		bundle.cfg.MaxInputs = 8
		e := newEmbedder(bundle.cfg)
		in := texts(8)
		in[5] = "a poison text the provider rejects"
		vecs, errs := e.Embed(context.Background(), in)
		requireVectors(t, bundle.fake, in, vecs, errs, 0, 1, 2, 3, 4, 6, 7)
		if vecs[5] != nil || !indexerr.IsPermanent(errs[5]) {
			t.Fatalf("poison: vec %v, err %v; want a permanent error", vecs[5], errs[5])
		}
		if !strings.Contains(errs[5].Error(), "maximum context length") {
			t.Fatalf("poison: error %q lacks the provider's message", errs[5])
		}
		// Bisection: the first call, then two calls (one good half, one bad half) per halving.
		if maxCalls := int64(1 + 2*math.Ceil(math.Log2(8))); e.Calls() > maxCalls {
			t.Fatalf("Calls() = %d, want at most %d", e.Calls(), maxCalls)
		}
	})

	t.Run("RateLimited", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		bundle.cfg.MaxInputs = 2
		bundle.fake.respond = func(w http.ResponseWriter, r *http.Request, req fakeRequest) bool {
			w.Header().Set("Retry-After", "2")
			bundle.fake.writeError(w, http.StatusTooManyRequests, "Rate limit reached for requests", "rate_limit_exceeded")
			return true
		}
		e := newEmbedder(bundle.cfg)
		// The caller's deadline leaves no room for the advised wait: the call is not made again.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, errs := e.Embed(ctx, texts(4))
		for i, err := range errs {
			d, ok := indexerr.RetryAfter(err)
			if !ok || d != 2*time.Second || indexerr.IsPermanent(err) {
				t.Fatalf("text %d: err = %v; want a RateLimitError of 2s", i, err)
			}
		}
		// The second call would only be refused as well.
		if e.Calls() != 1 {
			t.Fatalf("Calls() = %d, want 1", e.Calls())
		}
	})

	// A call refused once, by a rate limit with its advised wait or by a 5xx, is made again by
	// the embedder itself, and its texts are embedded.
	for _, refusal := range []struct {
		name   string
		status int
		header string
	}{
		{"RateLimitedThenAnswered", http.StatusTooManyRequests, "50"},
		{"ServerErrorThenAnswered", http.StatusBadGateway, ""},
	} {
		t.Run(refusal.name, func(t *testing.T) {
			t.Parallel()
			bundle := setup(t)
			var refused atomic.Bool
			bundle.fake.respond = func(w http.ResponseWriter, r *http.Request, req fakeRequest) bool {
				if refused.CompareAndSwap(false, true) {
					if refusal.header != "" {
						w.Header().Set("Retry-After-Ms", refusal.header)
					}
					bundle.fake.writeError(w, refusal.status, "refused once", "server_error")
					return true
				}
				return false
			}
			bundle.cfg.MaxInputs = 4
			e := newEmbedder(bundle.cfg)
			vecs, errs := e.Embed(context.Background(), texts(4))
			for i := range vecs {
				if errs[i] != nil || vecs[i] == nil {
					t.Fatalf("text %d: %v; want a vector from the call made again after the %d", i, errs[i], refusal.status)
				}
			}
			if e.Calls() != 2 {
				t.Fatalf("Calls() = %d, want 2 (the %d, then the same call again)", e.Calls(), refusal.status)
			}
		})
	}

	t.Run("ServerErrorIsTransient", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		bundle.fake.respond = func(w http.ResponseWriter, r *http.Request, req fakeRequest) bool {
			bundle.fake.writeError(w, http.StatusInternalServerError, "llama runner process has terminated", "")
			return true
		}
		_, errs := newEmbedder(bundle.cfg).Embed(context.Background(), texts(2))
		for _, err := range errs {
			requireTransient(t, err)
			for _, part := range []string{kind, bundle.fake.path(), "status 500", "llama runner process has terminated"} {
				if !strings.Contains(err.Error(), part) {
					t.Fatalf("error %q does not contain %q", err, part)
				}
			}
		}
	})

	t.Run("TimeoutIsTransient", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		bundle.cfg.Timeout = 100 * time.Millisecond
		bundle.fake.respond = func(w http.ResponseWriter, r *http.Request, req fakeRequest) bool {
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
			return true
		}
		start := time.Now()
		_, errs := newEmbedder(bundle.cfg).Embed(context.Background(), texts(2))
		for _, err := range errs {
			requireTransient(t, err)
			if !strings.Contains(err.Error(), "timed out") {
				t.Fatalf("error %q does not say it timed out", err)
			}
		}
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Fatalf("Embed took %v despite a 100ms timeout", elapsed)
		}
	})

	t.Run("TooLargeBatchBisected", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		bundle.cfg.MaxInputs = 4
		// Like TEI above its max_client_batch_size: the batch, not any input, is too big.
		bundle.fake.respond = func(w http.ResponseWriter, r *http.Request, req fakeRequest) bool {
			if len(req.Input) <= 2 {
				return false
			}
			bundle.fake.writeError(w, http.StatusRequestEntityTooLarge, "batch size 4 > maximum allowed batch size 2", "")
			return true
		}
		in := texts(4)
		vecs, errs := newEmbedder(bundle.cfg).Embed(context.Background(), in)
		requireVectors(t, bundle.fake, in, vecs, errs, 0, 1, 2, 3)
	})

	t.Run("UnauthorizedIsTransient", func(t *testing.T) {
		t.Parallel()
		bundle := setup(t)
		bundle.fake.apiKey = "sk-right"
		bundle.cfg.APIKey = "sk-wrong"
		_, errs := newEmbedder(bundle.cfg).Embed(context.Background(), texts(2))
		for _, err := range errs {
			requireTransient(t, err)
			if !strings.Contains(err.Error(), "unauthorized: check backends[].embedder.api_key") {
				t.Fatalf("error %q does not point at the api_key", err)
			}
		}
	})
}

func TestProviderMessage(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name, body, want string
	}{
		{"Empty", "", "empty body"},
		{"FastAPIDetailList", `{"detail":[{"loc":["body","input"],"msg":"field required"}]}`, `[{"loc":["body","input"],"msg":"field required"}]`},
		{"FastAPIDetailString", `{"detail":"Not authenticated"}`, "Not authenticated"},
		{"Ollama", `{"error":"model \"x\" not found"}`, `model "x" not found`},
		{"OpenAI", `{"error":{"message":"bad input","type":"invalid_request_error"}}`, "bad input"},
		{"Text", "upstream\n  connect error", "upstream connect error"},
		{"VLLM", `{"object":"error","message":"too long","type":"BadRequestError","code":400}`, "too long"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := providerMessage([]byte(tt.body)); got != tt.want {
				t.Fatalf("providerMessage = %q, want %q", got, tt.want)
			}
		})
	}

	t.Run("LongBodyCut", func(t *testing.T) {
		t.Parallel()
		got := providerMessage([]byte(strings.Repeat("é", 1000)))
		if !strings.HasSuffix(got, "…") || len([]rune(got)) != snippetMax+1 {
			t.Fatalf("got %d runes, want %d and an ellipsis", len([]rune(got)), snippetMax+1)
		}
	})
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()

	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"Absent", http.Header{}, 0},
		{"Date", http.Header{"Retry-After": {now.Add(90 * time.Second).Format(http.TimeFormat)}}, 90 * time.Second},
		{"DateInPast", http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0},
		{"Fraction", http.Header{"Retry-After": {"1.5"}}, 1500 * time.Millisecond},
		{"Garbage", http.Header{"Retry-After": {"soon"}}, 0},
		{"Huge", http.Header{"Retry-After": {"99999999999999"}}, RetryAfterMax},
		{"Milliseconds", http.Header{"Retry-After": {"2"}, "Retry-After-Ms": {"250"}}, 250 * time.Millisecond},
		{"Negative", http.Header{"Retry-After": {"-5"}}, 0},
		{"Seconds", http.Header{"Retry-After": {"2"}}, 2 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := retryAfter(tt.header, now); got != tt.want {
				t.Fatalf("retryAfter = %v, want %v", got, tt.want)
			}
		})
	}
}

// requireTransient fails unless err is a plain error: neither permanent nor a rate limit.
func requireTransient(tb testing.TB, err error) {
	tb.Helper()
	if _, rl := indexerr.RetryAfter(err); err == nil || indexerr.IsPermanent(err) || rl {
		tb.Fatalf("err = %v, want a transient error", err)
	}
}
