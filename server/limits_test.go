package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/osa-archive/osa/config"
)

// Over http.rate_limit a call answers ResourceExhausted (429 in Connect's JSON) with
// Retry-After; anonymous callers and each token have buckets of their own.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256([]byte("secret-token"))
	b := setup(t, func(cfg *config.Config) {
		cfg.HTTP.RateLimit = config.RateLimit{AnonymousRPS: 0.5, TokenRPS: 0.5, Burst: 2}
		cfg.Auth.Tokens = []config.Token{{Name: "lab", SHA256: hex.EncodeToString(sum[:]), Scopes: []string{config.ScopeRecordsWrite}}}
	})
	search := func(token string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, b.baseURL+"/osa.v1.SearchService/Search", strings.NewReader(`{"query": "x"}`))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body strings.Builder
		_, _ = io.Copy(&body, res.Body)
		return res.StatusCode, res.Header.Get("Retry-After"), body.String()
	}
	for i := range 2 { // the burst
		if code, _, body := search(""); code != http.StatusOK {
			t.Fatalf("anonymous search %d: %d %s", i, code, body)
		}
	}
	code, retry, body := search("")
	if n, _ := strconv.Atoi(retry); code != http.StatusTooManyRequests || n < 1 || !strings.Contains(body, "resource_exhausted") ||
		!strings.Contains(body, "http.rate_limit") {
		t.Fatalf("third anonymous search: %d, Retry-After %q, %s; want 429 resource_exhausted naming http.rate_limit, Retry-After ≥ 1", code, retry, body)
	}
	for i := range 2 { // the token's own bucket
		if code, _, body := search("secret-token"); code != http.StatusOK {
			t.Fatalf("search %d with the token: %d %s", i, code, body)
		}
	}
	if code, _, _ := search("secret-token"); code != http.StatusTooManyRequests {
		t.Fatalf("third search with the token: %d, want 429", code)
	}
}

// Beyond http.max_in_flight a call answers Unavailable at once.
func TestMaxInFlight(t *testing.T) {
	t.Parallel()
	b := setup(t, func(cfg *config.Config) {
		cfg.Node.Role = config.RoleAPI // no workers: a publish that waits for its index waits out its timeout
		cfg.HTTP.MaxInFlight, cfg.HTTP.WriteReserve = 1, 0
	})
	slow := make(chan int, 1)
	go func() {
		res, err := http.Post(b.baseURL+"/osa.v1.RecordService/PublishRecord", "application/json",
			strings.NewReader(`{"metadata": {"title": "slow"}, "wait_indexed": true, "wait_timeout": "3s"}`))
		if err != nil {
			slow <- 0
			return
		}
		res.Body.Close()
		slow <- res.StatusCode
	}()
	time.Sleep(time.Second) // the publish is waiting
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.baseURL+"/osa.v1.SearchService/Search", strings.NewReader(`{"query": "x"}`))
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a search while the one slot is taken: %d, want 503 (unavailable)", res.StatusCode)
	}
	if code := <-slow; code != http.StatusOK {
		t.Fatalf("the slow publish: %d", code)
	}
	if code, _ := get(t, b.baseURL+"/osa.v1.SearchService/ListBackends?encoding=json&message=%7B%7D"); code != http.StatusOK {
		t.Fatalf("a read once the slot is free: %d", code)
	}
}
