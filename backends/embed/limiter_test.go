package embed_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osa-archive/osa/backends/embed"
	"github.com/osa-archive/osa/internal/fakeprovider"
)

// TestAdaptiveConcurrency drives a provider that answers 429 beyond C concurrent calls with more
// batches at once than it has room for: the process's calls must learn C (the limit ends within
// one of it) and only a few of them may meet a 429, while every text is embedded or, for the 1 %
// of calls answered 500, fails transiently.
func TestAdaptiveConcurrency(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		cfg     fakeprovider.Config
		batches int // concurrent Embed calls
		rounds  int // Embed calls each
	}{
		{"C4", fakeprovider.Config{Concurrency: 4, Latency: 40 * time.Millisecond, PerInput: 300 * time.Microsecond, ErrorRate: 0.01}, 12, 30},
		{"C1", fakeprovider.Config{Concurrency: 1, Latency: 15 * time.Millisecond, PerInput: 100 * time.Microsecond, ErrorRate: 0.01}, 6, 25},
		{"C2", fakeprovider.Config{Concurrency: 2, Latency: 10 * time.Millisecond, PerInput: 100 * time.Microsecond, ErrorRate: 0.01}, 6, 25},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := fakeprovider.Start(tt.cfg)
			defer p.Close()
			e, err := embed.New(embed.Config{Kind: embed.KindOpenAI, BaseURL: p.URL(), Model: "fake-" + tt.name, Dims: 8, MaxInputs: 64})
			if err != nil {
				t.Fatal(err)
			}
			texts := make([]string, 64)
			for i := range texts {
				texts[i] = strings.Repeat("zebrafish heart regeneration ", 1+i%5)
			}
			var wg sync.WaitGroup
			for range tt.batches {
				wg.Go(func() {
					for range tt.rounds {
						vecs, errs := e.Embed(context.Background(), texts)
						for i := range texts {
							if errs[i] == nil && vecs[i] == nil || errs[i] != nil && !strings.Contains(errs[i].Error(), "status 500") {
								t.Errorf("text %d: %v, want a vector or a 500", i, errs[i])
								return
							}
						}
					}
				})
			}
			wg.Wait()
			st := p.Stats()
			var limit int
			for _, ps := range embed.Providers() {
				if strings.HasSuffix(ps.Provider, " fake-"+tt.name) {
					limit = ps.Limit
				}
			}
			share := float64(st.RateLimited) / float64(st.Calls)
			t.Logf("%d calls: %d answered, %d 429 (%.1f %%), %d 500; limit learned %d (provider C %d)",
				st.Calls, st.OK, st.RateLimited, 100*share, st.Failed, limit, tt.cfg.Concurrency)
			if limit < tt.cfg.Concurrency-1 || limit > tt.cfg.Concurrency+1 {
				t.Errorf("limit learned %d, want %d ± 1", limit, tt.cfg.Concurrency)
			}
			if share > 0.05 {
				t.Errorf("%.1f %% of calls answered 429, want at most 5 %%", 100*share)
			}
		})
	}
}

// TestCallsSplitByTokens sends texts whose total is over the provider's token limit per call:
// with embedder.max_tokens_per_call under that limit, they go in calls small enough, and none is
// rejected.
func TestCallsSplitByTokens(t *testing.T) {
	t.Parallel()
	p := fakeprovider.Start(fakeprovider.Config{TokenLimit: 50, Latency: time.Millisecond})
	defer p.Close()
	e, err := embed.New(embed.Config{Kind: embed.KindOpenAI, BaseURL: p.URL(), Model: "fake-tokens", Dims: 8,
		MaxInputs: 100, MaxTokensPerCall: 2 * embed.EstimateTokens(strings.Repeat("x", 90))})
	if err != nil {
		t.Fatal(err)
	}
	texts := make([]string, 10)
	for i := range texts {
		texts[i] = strings.Repeat(string(rune('a'+i)), 90) // 23 of the provider's tokens each
	}
	_, errs := e.Embed(context.Background(), texts)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("text %d: %v", i, err)
		}
	}
	if st := p.Stats(); st.Calls != 5 || st.Rejected != 0 {
		t.Fatalf("%d calls, %d rejected; want 5 calls of two texts, none rejected", st.Calls, st.Rejected)
	}
}
