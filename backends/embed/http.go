package embed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/osa-archive/osa/backends/indexerr"
)

// Defaults and bounds shared by the embedders.
const (
	DimsDefault      = 384
	MaxInputsDefault = 128
	TimeoutDefault   = 30 * time.Second
	// MaxTokensPerCallDefault is a third of OpenAI's 300,000 tokens per embeddings request:
	// token counts are estimated, and other providers allow less.
	MaxTokensPerCallDefault = 100_000

	// RetryAfterMax caps the wait a provider may advise with Retry-After.
	RetryAfterMax = 24 * time.Hour
)

// HTTPConfig configures an embedder that calls a provider over HTTP: [OpenAI] or [Ollama].
type HTTPConfig struct {
	// BaseURL is the provider's http(s) URL, such as "https://api.openai.com" or
	// "http://localhost:11434". Required.
	BaseURL string

	// Model is the provider's model name, sent with every call. Required.
	Model string

	// APIKey is sent as "Authorization: Bearer <APIKey>". It never appears in an error message.
	// Empty sends no Authorization header. Defaults to "".
	APIKey string

	// Dims is the length every returned vector must have; a vector of another length is a
	// permanent error for its text. Defaults to 384.
	Dims int

	// SendDimensions sends Dims as the request's "dimensions", for models that can shorten their
	// vectors (OpenAI's text-embedding-3 family, Matryoshka models in Ollama). Providers and
	// models without that ability reject the field. Defaults to false.
	SendDimensions bool

	// MaxInputs is the most texts in one call; longer slices are split. Defaults to 128.
	MaxInputs int

	// MaxTokensPerCall is the most tokens one call may carry, estimated from each text's
	// length ([EstimateTokens]); calls are split to stay under it, and a text over it alone
	// goes in a call of its own. 0 means no limit. Defaults to 100000.
	MaxTokensPerCall int

	// MaxConcurrency is the most calls the process makes at once to this provider (its
	// endpoint, model and key), the ceiling of the adaptive limit every embedder of the
	// process calling it shares. Defaults to 16.
	MaxConcurrency int

	// Timeout is the longest one call may take, applied to every call even with a custom Client.
	// Defaults to 30s.
	Timeout time.Duration

	// Client makes the calls. Defaults to a new client whose Timeout is Timeout.
	Client *http.Client
}

// WithDefaults returns a copy of c with zero fields set to their defaults.
func (c HTTPConfig) WithDefaults() HTTPConfig {
	if c.Dims == 0 {
		c.Dims = DimsDefault
	}
	if c.MaxInputs == 0 {
		c.MaxInputs = MaxInputsDefault
	}
	if c.MaxTokensPerCall == 0 {
		c.MaxTokensPerCall = MaxTokensPerCallDefault
	}
	if c.MaxConcurrency == 0 {
		c.MaxConcurrency = MaxConcurrencyDefault
	}
	if c.Timeout == 0 {
		c.Timeout = TimeoutDefault
	}
	if c.Client == nil {
		c.Client = &http.Client{Timeout: c.Timeout}
	}
	return c
}

func (c HTTPConfig) validate() error {
	if c.BaseURL == "" {
		return errors.New("embedder.base_url is required for openai and ollama")
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("embedder.base_url %q must be an http(s) URL with a host", c.BaseURL)
	}
	if c.Model == "" {
		return errors.New("embedder.model is required for openai and ollama")
	}
	if c.Dims < 0 {
		return fmt.Errorf("embedder.dims must be positive, got %d", c.Dims)
	}
	if c.MaxInputs < 0 {
		return fmt.Errorf("embedder.max_inputs must be positive, got %d", c.MaxInputs)
	}
	if c.Timeout < 0 {
		return fmt.Errorf("embedder.timeout must be positive, got %v", c.Timeout)
	}
	if c.MaxTokensPerCall < 0 {
		return fmt.Errorf("embedder.max_tokens_per_call must be positive, got %d", c.MaxTokensPerCall)
	}
	if c.MaxConcurrency < 0 || c.MaxConcurrency > MaxConcurrencyMax {
		return fmt.Errorf("embedder.max_concurrency must be 1..%d, got %d", MaxConcurrencyMax, c.MaxConcurrency)
	}
	return nil
}

// httpEmbedder is the provider-independent part of [OpenAI] and [Ollama]: batching, bisecting,
// calling and classifying errors. A provider supplies its path, its request body and its
// response parser.
type httpEmbedder struct {
	apiKey    string
	calls     atomic.Int64
	client    *http.Client
	coalesce  coalescer
	dims      int
	limiter   *limiter
	maxInputs int
	maxTokens int
	model     string
	name      string // provider name in error messages
	path      string // URL path, for error messages: the full URL may carry secrets
	timeout   time.Duration
	url       string

	// request returns the JSON request body for inputs.
	request func(inputs []string) any
	// parse decodes a 2xx response body into one vector per input, in input order.
	parse func(body io.Reader, n int) ([][]float32, error)
}

// newHTTPEmbedder fills the common fields; it panics if cfg is invalid, which [New] checks
// first.
func newHTTPEmbedder(name string, cfg HTTPConfig, path func(base string) string) *httpEmbedder {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		panic("embed: " + err.Error())
	}
	u := path(strings.TrimRight(cfg.BaseURL, "/"))
	p, host := u, u // the path names the endpoint in errors, host and path the provider in metrics
	if parsed, err := url.Parse(u); err == nil {
		p, host = parsed.Path, parsed.Host+parsed.Path
	}
	return &httpEmbedder{
		apiKey:    cfg.APIKey,
		client:    cfg.Client,
		dims:      cfg.Dims,
		limiter:   limiterFor(u, cfg.Model, cfg.APIKey, host+" "+cfg.Model, cfg.MaxConcurrency),
		maxInputs: cfg.MaxInputs,
		maxTokens: cfg.MaxTokensPerCall,
		model:     cfg.Model,
		name:      name,
		path:      p,
		timeout:   cfg.Timeout,
		url:       u,
	}
}

// withSuffix appends suffix to base unless base already ends in prefix, where suffix starts
// with prefix: withSuffix("http://h/v1", "/v1", "/v1/embeddings") is "http://h/v1/embeddings".
func withSuffix(base, prefix, suffix string) string {
	if strings.HasSuffix(base, prefix) {
		return base + strings.TrimPrefix(suffix, prefix)
	}
	return base + suffix
}

// embed implements [Embedder.Embed]. Texts are sent in calls of at most maxInputs and maxTokens
// (estimated), one call after the other; after a 429 that outlasted the call's own waits
// ([httpEmbedder.limitedCall]) the remaining calls are not made and their texts share the rate
// limit.
func (e *httpEmbedder) embed(ctx context.Context, texts []string) ([][]float32, []error) {
	vecs := make([][]float32, len(texts))
	errs := make([]error, len(texts))
	idx := make([]int, 0, len(texts))
	for i, t := range texts {
		if strings.TrimSpace(t) == "" {
			// Providers reject empty input with a 400, which would cost a bisection.
			errs[i] = indexerr.Permanentf("text is empty")
			continue
		}
		idx = append(idx, i)
	}
	for start := 0; start < len(idx); {
		end, tokens := start, 0
		for end < len(idx) && end-start < e.maxInputs {
			t := EstimateTokens(texts[idx[end]])
			if e.maxTokens > 0 && end > start && tokens+t > e.maxTokens {
				break
			}
			tokens += t
			end++
		}
		chunk := idx[start:end]
		if err := e.embedChunk(ctx, texts, chunk, vecs, errs); err != nil {
			for _, i := range idx[end:] {
				errs[i] = err
			}
			break
		}
		start = end
	}
	return vecs, errs
}

// EstimateTokens estimates the tokens of text for [HTTPConfig.MaxTokensPerCall], from above for
// most text: one per three bytes (English averages about four bytes a token in OpenAI's and
// BERT's vocabularies; other scripts use more bytes a character, and as many tokens), and one
// more.
func EstimateTokens(text string) int { return len(text)/3 + 1 }

// limitedCall makes the call for inputs within the provider's adaptive concurrency limit
// ([limiter]). While it waits for a slot, the call that gets one may take it along in its own
// (see coalesce.go); the call that gets one takes along the waiting calls that fit. A call answered 429 gives its slot back, waits its Retry-After (or
// [rateLimitWaitDefault]) and is made again, up to [rateLimitTries] times, while the wait is at
// most [rateLimitWaitMax] and ctx's deadline leaves room for it; otherwise the rate limit is
// returned, and the batch's job snoozes. A call answered 5xx is made again up to
// [serverErrorRetries] times, after [serverErrorBackoff] then twice that.
func (e *httpEmbedder) limitedCall(ctx context.Context, inputs []string) ([][]float32, error) {
	var (
		done  [][]float32 // the vectors of the inputs answered so far, in order
		alone bool
	)
	for try := 1; ; try++ {
		n, w, err := e.slot(ctx, inputs, alone, len(done) > 0)
		if w != nil {
			// Merged into another call: its answer is (the first part of) this call's, or this
			// call is made again.
			select {
			case res := <-w.result:
				if !res.again {
					if done, inputs = append(done, res.vecs...), inputs[len(res.vecs):]; len(inputs) == 0 {
						return done, nil
					}
				}
				alone = res.alone
				try--
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if err != nil {
			return nil, err
		}
		var took []taken
		if !alone {
			took = e.coalesce.take(len(inputs), estimateAll(inputs), e.maxInputs, e.maxTokens)
		}
		vecs, err := e.merged(ctx, inputs, took)
		var (
			rl       *indexerr.RateLimitError
			server   *serverError
			rejected *rejectedError
		)
		switch {
		case err == nil:
			e.limiter.release(n, outcomeOK)
			return append(done, vecs...), nil
		case len(took) > 0 && errors.As(err, &rejected):
			// The provider refused the merged input, maybe for another batch's text: this call,
			// like those it took, is made again on its own.
			e.limiter.release(n, outcomeOther)
			alone = true
			try--
			continue
		case errors.As(err, &server) && try <= serverErrorRetries:
			// A hosted API fails a call now and then; its next one mostly succeeds. Making it
			// again at once spares the batch's records a job retry (seconds later).
			e.limiter.release(n, outcomeOther)
			select {
			case <-time.After(serverErrorBackoff << (try - 1)):
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		case !errors.As(err, &rl):
			e.limiter.release(n, outcomeOther)
			return nil, err
		}
		e.limiter.release(n, outcomeRateLimited)
		wait := rl.RetryAfter
		if wait <= 0 {
			wait = rateLimitWaitDefault
		}
		if deadline, ok := ctx.Deadline(); try >= rateLimitTries || wait > rateLimitWaitMax || ok && time.Until(deadline) < wait {
			return nil, err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// embedChunk embeds texts[i] for i in idx into vecs and errs with one call, bisecting when the
// provider rejects the input. It returns a non-nil error when no further call should be made: a
// rate limit or a done ctx.
func (e *httpEmbedder) embedChunk(ctx context.Context, texts []string, idx []int, vecs [][]float32, errs []error) error {
	if err := ctx.Err(); err != nil {
		setErr(errs, idx, err)
		return err
	}
	inputs := make([]string, len(idx))
	for k, i := range idx {
		inputs[k] = texts[i]
	}
	got, err := e.limitedCall(ctx, inputs)
	var rejected *rejectedError
	switch {
	case err == nil:
		for k, i := range idx {
			vecs[i], errs[i] = e.check(got[k])
		}
		return nil
	case errors.As(err, &rejected) && len(idx) > 1:
		// Some input spoiled the call; halve until it stands alone, so only it fails.
		mid := len(idx) / 2
		if err := e.embedChunk(ctx, texts, idx[:mid], vecs, errs); err != nil {
			setErr(errs, idx[mid:], err)
			return err
		}
		return e.embedChunk(ctx, texts, idx[mid:], vecs, errs)
	case rejected != nil:
		setErr(errs, idx, indexerr.Permanent(err))
		return nil
	}
	setErr(errs, idx, err)
	var rl *indexerr.RateLimitError
	if errors.As(err, &rl) || ctx.Err() != nil {
		return err
	}
	return nil
}

// check validates one returned vector.
func (e *httpEmbedder) check(v []float32) ([]float32, error) {
	if len(v) != e.dims {
		return nil, indexerr.Permanentf("%s model %q returned %d dims, want %d: set backends[].embedder.dims to %d or pick a model with %d dims",
			e.name, e.model, len(v), e.dims, len(v), e.dims)
	}
	for _, x := range v {
		if x != 0 {
			return v, nil
		}
	}
	// A zero vector has no cosine distance (pgvector answers NaN).
	return nil, indexerr.Permanentf("%s model %q returned a zero vector", e.name, e.model)
}

// rejectedError is a 400, 413 or 422: the provider refused the input, not the call.
type rejectedError struct {
	err error
}

func (e *rejectedError) Error() string { return e.err.Error() }
func (e *rejectedError) Unwrap() error { return e.err }

// Bytes of an error body read for its message, and runes of it kept.
const (
	errorBodyMax = 64 << 10
	snippetMax   = 300
)

// call makes one HTTP call for inputs. The error is ctx's error when ctx is done, a
// *rejectedError when the provider refused the input, an [indexerr.RateLimitError] on 429 and a
// plain (transient) error otherwise.
func (e *httpEmbedder) call(ctx context.Context, inputs []string) ([][]float32, error) {
	body, err := json.Marshal(e.request(inputs))
	if err != nil {
		return nil, indexerr.Permanentf("%s: encode request: %w", e.name, err)
	}
	callCtx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(callCtx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: build request for POST %s: %w", e.name, e.path, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/json")
	if e.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+e.apiKey)
	}

	e.calls.Add(1)
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, e.transportError(ctx, callCtx, err)
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, errorBodyMax))
		_ = resp.Body.Close()
	}()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		raw, readErr := io.ReadAll(io.LimitReader(resp.Body, errorBodyMax))
		if readErr != nil && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, e.statusError(resp, raw)
	}

	head := &prefixWriter{max: snippetMax}
	vecs, err := e.parse(io.TeeReader(resp.Body, head), len(inputs))
	if err != nil {
		var netErr net.Error
		if ctx.Err() != nil || callCtx.Err() != nil || errors.As(err, &netErr) {
			// The body could not be read, rather than read and found wanting.
			return nil, e.transportError(ctx, callCtx, err)
		}
		return nil, fmt.Errorf("%s: POST %s: status %d: invalid response: %s: %q",
			e.name, e.path, resp.StatusCode, e.redact(err.Error()), e.redact(snippet(head.buf)))
	}
	return vecs, nil
}

// transportError classifies an error of sending or reading: ctx's own error when ctx is done,
// otherwise transient.
func (e *httpEmbedder) transportError(ctx, callCtx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var netErr net.Error
	if callCtx.Err() != nil || errors.As(err, &netErr) && netErr.Timeout() {
		return fmt.Errorf("%s: POST %s: timed out after %v", e.name, e.path, e.timeout)
	}
	// *url.Error repeats the full URL, which may carry secrets; name the path instead.
	var urlErr *url.Error
	if errors.As(err, &urlErr) {
		err = urlErr.Err
	}
	return fmt.Errorf("%s: POST %s: %s", e.name, e.path, e.redact(err.Error()))
}

// statusError classifies a non-2xx response.
func (e *httpEmbedder) statusError(resp *http.Response, raw []byte) error {
	msg := e.redact(providerMessage(raw))
	base := fmt.Sprintf("%s: POST %s: status %d", e.name, e.path, resp.StatusCode)
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		return &indexerr.RateLimitError{
			RetryAfter: retryAfter(resp.Header, time.Now()),
			Err:        fmt.Errorf("%s: %s", base, msg),
		}
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return &rejectedError{err: fmt.Errorf("%s: input rejected: %s", base, msg)}
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%s: unauthorized: check backends[].embedder.api_key: %s", base, msg)
	case http.StatusNotFound:
		return fmt.Errorf("%s: not found: check backends[].embedder.base_url and model %q: %s", base, e.model, msg)
	}
	err := fmt.Errorf("%s: %s", base, msg)
	if resp.StatusCode >= 500 {
		return &serverError{err: err}
	}
	return err
}

// serverError is a 5xx answer: worth making again at once, unlike an input the provider
// rejected or a key it refused. A call that timed out or found no server is not made again
// here: the pipeline's outage handling waits for the provider instead of each batch.
type serverError struct {
	err error
}

func (e *serverError) Error() string { return e.err.Error() }
func (e *serverError) Unwrap() error { return e.err }

// redact removes the API key from s, for providers that echo it back.
func (e *httpEmbedder) redact(s string) string {
	if e.apiKey == "" {
		return s
	}
	return strings.ReplaceAll(s, e.apiKey, "REDACTED")
}

// providerMessage extracts the message of an error body in the shapes providers use — OpenAI
// {"error":{"message":…}}, Ollama and TEI {"error":"…"}, vLLM {"message":…}, FastAPI
// {"detail":…} — or else returns a snippet of the raw body.
func providerMessage(raw []byte) string {
	var body struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(raw, &body) == nil {
		var s string
		var obj struct {
			Message string `json:"message"`
		}
		switch {
		case len(body.Error) > 0 && json.Unmarshal(body.Error, &s) == nil && s != "":
			return snippet([]byte(s))
		case len(body.Error) > 0 && json.Unmarshal(body.Error, &obj) == nil && obj.Message != "":
			return snippet([]byte(obj.Message))
		case body.Message != "":
			return snippet([]byte(body.Message))
		case len(body.Detail) > 0 && json.Unmarshal(body.Detail, &s) == nil && s != "":
			return snippet([]byte(s))
		case len(body.Detail) > 0:
			return snippet(body.Detail)
		}
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return "empty body"
	}
	return snippet(raw)
}

// snippet returns the start of b as one line of at most snippetMax runes.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "\uFFFD")), " ")
	if utf8.RuneCountInString(s) <= snippetMax {
		return s
	}
	n := 0
	for i := range s {
		if n == snippetMax {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// prefixWriter keeps the first max bytes written to it.
type prefixWriter struct {
	buf []byte
	max int
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	if room := w.max - len(w.buf); room > 0 {
		w.buf = append(w.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// retryAfter parses the advised wait of a 429: OpenAI's retry-after-ms, else Retry-After in
// seconds or as an HTTP date. Zero when absent or unparsable; at most [RetryAfterMax].
func retryAfter(h http.Header, now time.Time) time.Duration {
	var d time.Duration
	if ms, err := strconv.ParseFloat(strings.TrimSpace(h.Get("Retry-After-Ms")), 64); err == nil && ms > 0 {
		d = time.Duration(min(ms, float64(RetryAfterMax/time.Millisecond)) * float64(time.Millisecond))
	} else if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil {
			if secs > 0 {
				d = time.Duration(min(secs, RetryAfterMax.Seconds()) * float64(time.Second))
			}
		} else if t, err := http.ParseTime(v); err == nil {
			d = t.Sub(now)
		}
	}
	return max(0, min(d, RetryAfterMax))
}

// setErr sets errs[i] to err for every i in idx.
func setErr(errs []error, idx []int, err error) {
	for _, i := range idx {
		errs[i] = err
	}
}
