package geo

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/osa-archive/osa/sources"
)

// maxBody bounds one answer; 500 summaries of large series stay well below it.
const maxBody = 128 << 20

// errHistoryExpired is returned by esummary when NCBI no longer has the search behind a WebEnv
// and query_key (history sessions expire after a while of inactivity) or never had it.
var errHistoryExpired = errors.New("the history server does not know the search")

// historyMarkers are lower-cased fragments of the messages NCBI answers an esummary of an unknown
// or expired history entry with: "Unable to obtain query #1" in esummaryresult, "Invalid
// query_key" or "Cannot retrieve history data" in error.
var historyMarkers = []string{"unable to obtain query", "query_key", "webenv", "history"}

// retryableError is an answer worth asking again: 429, 5xx, a timeout, a network error or an
// unreadable body.
type retryableError struct {
	err        error
	retryAfter time.Duration // from a Retry-After header; 0 when none
}

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// call sends one E-utilities request to endpoint ("esearch", "esummary", "einfo") with params
// plus tool, email, api_key and retmode=json, and decodes the JSON answer into out. It tries at
// most attempts times, waiting for the shared rate limiter before each try. Errors never show
// the request URL, which holds the API key.
func (s *Source) call(ctx context.Context, endpoint string, params url.Values, out any, attempts int) error {
	if s.cfg.Email == "" {
		return fmt.Errorf("geo: source %q has no contact email (geo.email), which NCBI requires: %w", s.cfg.Name, sources.ErrPermanent)
	}
	params.Set("retmode", "json")
	params.Set("tool", s.cfg.Tool)
	params.Set("email", s.cfg.Email)
	if s.cfg.APIKey != "" {
		params.Set("api_key", s.cfg.APIKey)
	}
	u := s.cfg.BaseURL + endpoint + ".fcgi?" + params.Encode()
	for attempt := 1; ; attempt++ {
		if err := s.limiter.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("geo: %s: %w", endpoint, ctx.Err())
			}
			return fmt.Errorf("geo: %s: waiting for the rate limiter: %w", endpoint, err)
		}
		err := s.try(ctx, u, out)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("geo: %s: %w", endpoint, ctx.Err())
		}
		var re *retryableError
		if !errors.As(err, &re) {
			return fmt.Errorf("geo: %s: %w", endpoint, err)
		}
		if attempt >= attempts {
			return fmt.Errorf("geo: %s failed after %d attempts: %w", endpoint, attempt, err)
		}
		delay := s.backoff(attempt)
		if re.retryAfter > 0 {
			delay = min(re.retryAfter, s.cfg.BackoffMax)
		}
		s.logger.DebugContext(ctx, "geo: retrying", "endpoint", endpoint, "attempt", attempt, "delay", delay, "error", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("geo: %s: %w", endpoint, ctx.Err())
		case <-t.C:
		}
	}
}

// try sends one request and decodes its answer.
func (s *Source) try(ctx context.Context, u string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.cfg.HTTPClient.Do(req)
	if err != nil {
		return s.transportError(ctx, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return s.transportError(ctx, err)
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return &retryableError{
			err:        fmt.Errorf("HTTP %s%s", resp.Status, s.summarize(body)),
			retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
		}
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("HTTP %s%s: %w", resp.Status, s.summarize(body), sources.ErrPermanent)
	case len(body) > maxBody:
		return fmt.Errorf("the answer is over %d MiB; lower the page size: %w", maxBody>>20, sources.ErrPermanent)
	}
	if err := json.Unmarshal(body, out); err != nil {
		// The decoder's message names a character and an offset, never the body's text.
		return &retryableError{err: fmt.Errorf("the answer is not valid JSON (%v, %d bytes)", err, len(body))}
	}
	return nil
}

// summarize returns what an error may say of an answer's body: ": NCBI: " and NCBI's message
// (the "error" or "ERROR" member of a JSON object, with the "limit" of a rate-limit answer),
// scrubbed and shortened; "" for any other body. Errors end up in harvests, which anyone may
// read, and NCBI's bodies echo the caller: the rate-limit answer names its address (or API key)
// under "api-key", so no body is ever repeated as sent.
func (s *Source) summarize(body []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	var msg string
	for _, k := range []string{"error", "ERROR"} {
		if json.Unmarshal(m[k], &msg) == nil && msg != "" {
			break
		}
	}
	if msg = s.scrub(msg); msg == "" {
		return ""
	}
	var limit string
	if json.Unmarshal(m["limit"], &limit) == nil && isDigits(limit) {
		msg += " (limit " + limit + " requests/s)"
	}
	return ": NCBI: " + msg
}

// addressRe matches what looks like an IPv4 or IPv6 address.
var addressRe = regexp.MustCompile(`(?i)\b\d{1,3}(?:\.\d{1,3}){3}\b|(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}`)

// scrub returns msg without the API key and without anything that looks like an IP address,
// collapsed to one line of at most 200 characters.
func (s *Source) scrub(msg string) string {
	if s.cfg.APIKey != "" {
		msg = strings.ReplaceAll(msg, s.cfg.APIKey, "[api key]")
	}
	msg = addressRe.ReplaceAllStringFunc(msg, func(a string) string {
		if strings.Count(a, ":") < 3 && !strings.Contains(a, ".") {
			return a // a time of day (12:30:00), not an IPv6 address
		}
		return "[address]"
	})
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return msg
}

// transportError turns a failed request into a retryable error without the URL (*url.Error
// would print it, API key included). The caller checks its own context first.
func (s *Source) transportError(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return &retryableError{err: fmt.Errorf("no answer within %v", s.cfg.Timeout)}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &retryableError{err: errors.New(s.scrub(err.Error()))}
}

// backoff returns the delay before retry number attempt (1 for the first): BackoffBase doubled
// per attempt, capped at BackoffMax, with equal jitter (half fixed, half random) so that retries
// of concurrent harvests spread out.
func (s *Source) backoff(attempt int) time.Duration {
	d := s.cfg.BackoffBase
	for i := 1; i < attempt && d < s.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, s.cfg.BackoffMax)
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// parseRetryAfter reads a Retry-After header: delay-seconds (fractions accepted) or an HTTP date.
// It returns 0 when the header is absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 || secs > 24*3600 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// limiters are the process's rate limiters, one per E-utilities URL, API key and rate: NCBI
// counts requests per API key (or per address without one), so every source of the process
// that shares them shares one budget.
var limiters struct {
	sync.Mutex
	m map[limiterKey]*rate.Limiter
}

type limiterKey struct {
	baseURL, apiKey string
	perSecond       float64
}

// sharedLimiter returns the process's limiter for baseURL and apiKey at perSecond requests per
// second. Its burst is 1: requests are spaced evenly, never bunched.
func sharedLimiter(baseURL, apiKey string, perSecond float64) *rate.Limiter {
	limiters.Lock()
	defer limiters.Unlock()
	if limiters.m == nil {
		limiters.m = map[limiterKey]*rate.Limiter{}
	}
	k := limiterKey{baseURL: baseURL, apiKey: apiKey, perSecond: perSecond}
	l, ok := limiters.m[k]
	if !ok {
		l = rate.NewLimiter(rate.Limit(perSecond), 1)
		limiters.m[k] = l
	}
	return l
}

// esearchResult is the part of an esearch answer a harvest reads.
type esearchResult struct {
	Count    int
	IDList   []string
	QueryKey string
	WebEnv   string
}

// esearch runs esearch on the gds database with params.
func (s *Source) esearch(ctx context.Context, params url.Values) (esearchResult, error) {
	params.Set("db", "gds")
	var out struct {
		Error  string `json:"error"`
		Result struct {
			Count    string   `json:"count"`
			Error    string   `json:"ERROR"`
			IDList   []string `json:"idlist"`
			QueryKey string   `json:"querykey"`
			WebEnv   string   `json:"webenv"`
		} `json:"esearchresult"`
	}
	if err := s.call(ctx, "esearch", params, &out, s.cfg.MaxAttempts); err != nil {
		return esearchResult{}, err
	}
	if msg := cmp.Or(out.Error, out.Result.Error); msg != "" {
		return esearchResult{}, fmt.Errorf("geo: esearch: NCBI answered with an error: %s", s.scrub(msg))
	}
	count, err := strconv.Atoi(out.Result.Count)
	if err != nil || count < 0 {
		return esearchResult{}, fmt.Errorf("geo: esearch: the answer has no count (got %q)", out.Result.Count)
	}
	return esearchResult{Count: count, IDList: out.Result.IDList, QueryKey: out.Result.QueryKey, WebEnv: out.Result.WebEnv}, nil
}

// summary is one document of an esummary version 2.0 answer for the gds database: its uid, NCBI's
// error for it, or its members as sent. The members are read one by one ([docReader]), so that
// one of an unexpected shape (a number sent as "", say) costs that value, not the document.
type summary struct {
	UID    string
	Error  string
	fields map[string]json.RawMessage
}

// summaries runs esummary (version 2.0) on the gds database with params (a WebEnv, query_key,
// retstart and retmax, or an id list) and returns the documents in the order of result.uids. A
// uid without a document comes back as a summary with only its UID and an Error.
func (s *Source) summaries(ctx context.Context, params url.Values) ([]summary, error) {
	params.Set("db", "gds")
	params.Set("version", "2.0")
	var out struct {
		Error string `json:"error"`
		// ESummaryResult is how the JSON answer carries <eSummaryResult><ERROR>: a list of
		// messages, such as "Unable to obtain query #1" for an expired WebEnv.
		ESummaryResult json.RawMessage            `json:"esummaryresult"`
		Result         map[string]json.RawMessage `json:"result"`
	}
	if err := s.call(ctx, "esummary", params, &out, s.cfg.MaxAttempts); err != nil {
		return nil, err
	}
	if msg := s.scrub(cmp.Or(out.Error, messages(out.ESummaryResult))); msg != "" {
		lower := strings.ToLower(msg)
		for _, m := range historyMarkers {
			if strings.Contains(lower, m) {
				return nil, fmt.Errorf("geo: esummary: %s: %w", msg, errHistoryExpired)
			}
		}
		return nil, fmt.Errorf("geo: esummary: NCBI answered with an error: %s", msg)
	}
	if out.Result == nil {
		return nil, errors.New("geo: esummary: the answer has no result")
	}
	var uids []string
	if raw, ok := out.Result["uids"]; ok {
		if err := json.Unmarshal(raw, &uids); err != nil {
			return nil, fmt.Errorf("geo: esummary: result.uids is not a list of strings: %w", err)
		}
	}
	docs := make([]summary, len(uids))
	for i, uid := range uids {
		raw, ok := out.Result[uid]
		if !ok {
			docs[i] = summary{UID: uid, Error: "no document in the answer"}
			continue
		}
		docs[i].UID = uid
		if err := json.Unmarshal(raw, &docs[i].fields); err != nil || docs[i].fields == nil {
			docs[i].Error = "the document is not a JSON object"
			continue
		}
		var msg string
		if json.Unmarshal(docs[i].fields["error"], &msg) == nil && msg != "" {
			docs[i].Error = msg
		}
	}
	return docs, nil
}

// messages returns the text of an esummaryresult member: a string or a list of strings.
func messages(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var list []string
	if json.Unmarshal(raw, &list) == nil {
		return strings.TrimSpace(strings.Join(list, "; "))
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return strings.TrimSpace(one)
	}
	return string(raw)
}
