package embed_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osa-archive/osa/backends/embed"
	"github.com/osa-archive/osa/internal/fakeprovider"
)

// Batches that wait for the only slot toward a provider share the next call: eight batches of
// eight texts, sent at once, take two or three calls, not eight, and each text gets its own
// vector.
func TestCoalesceWaitingCalls(t *testing.T) {
	t.Parallel()
	p := fakeprovider.Start(fakeprovider.Config{Concurrency: 1, Latency: 80 * time.Millisecond, PerInput: time.Microsecond})
	defer p.Close()
	e, err := embed.New(embed.Config{Kind: embed.KindOpenAI, BaseURL: p.URL(), Model: "fake-coalesce", Dims: 8, MaxInputs: 64, MaxConcurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	batches := make([][]string, 8)
	for b := range batches {
		for i := range 8 {
			batches[b] = append(batches[b], fmt.Sprintf("batch %d text %d zebrafish", b, i))
		}
	}
	got := embedAll(t, e, batches)
	st := p.Stats()
	t.Logf("%d calls, %d inputs answered, %d 429", st.Calls, st.Inputs, st.RateLimited)
	if st.Calls > 3 || st.Inputs != 64 {
		t.Fatalf("%d calls carrying %d inputs; want the 64 texts in at most 3 calls", st.Calls, st.Inputs)
	}
	checkVectors(t, batches, got)
}

// A waiting batch that does not fit whole in the call that takes it gives the texts that do:
// with calls of at most 20 texts and batches of 8, a merged call carries 20 (whole batches alone
// could carry 16), and every text gets its own vector.
func TestCoalesceFillsCalls(t *testing.T) {
	t.Parallel()
	p := fakeprovider.Start(fakeprovider.Config{Concurrency: 1, Latency: 80 * time.Millisecond, PerInput: time.Microsecond})
	defer p.Close()
	e, err := embed.New(embed.Config{Kind: embed.KindOpenAI, BaseURL: p.URL(), Model: "fake-coalesce-fill", Dims: 8, MaxInputs: 20, MaxConcurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	batches := make([][]string, 8)
	for b := range batches {
		for i := range 8 {
			batches[b] = append(batches[b], fmt.Sprintf("fill %d text %d zebrafish", b, i))
		}
	}
	got := embedAll(t, e, batches)
	st := p.Stats()
	t.Logf("%d calls, %d inputs answered, largest call %d", st.Calls, st.Inputs, st.LargestCall)
	if st.LargestCall != 20 || st.Inputs != 64 || st.Calls > 5 {
		t.Fatalf("%d calls carrying %d inputs, the largest %d; want 64 texts in at most 5 calls, one of them full (20)", st.Calls, st.Inputs, st.LargestCall)
	}
	checkVectors(t, batches, got)
}

// A batch with a text the provider rejects spoils the merged call: the batches merged into it are
// made again on their own, and only the bad text fails.
func TestCoalesceRejected(t *testing.T) {
	t.Parallel()
	p := fakeprovider.Start(fakeprovider.Config{Concurrency: 1, Latency: 60 * time.Millisecond, PerInput: time.Microsecond, TokenLimit: 50})
	defer p.Close()
	e, err := embed.New(embed.Config{Kind: embed.KindOpenAI, BaseURL: p.URL(), Model: "fake-coalesce-rejected", Dims: 8, MaxInputs: 64, MaxConcurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Repeat("overlong ", 30) // 68 of the provider's tokens: over its 50
	batches := [][]string{{"first a", "first b"}, {"second a", bad, "second b"}, {"third a"}, {"fourth a", "fourth b"}}
	vecs, errs := embedBatches(e, batches)
	for b, batch := range batches {
		for i, text := range batch {
			switch {
			case text == bad && errs[b][i] == nil:
				t.Errorf("the overlong text was embedded, want it rejected")
			case text != bad && errs[b][i] != nil:
				t.Errorf("batch %d text %d (%q): %v, want a vector: only the overlong text fails", b, i, text, errs[b][i])
			case text != bad && len(vecs[b][i]) != 8:
				t.Errorf("batch %d text %d: %d dims", b, i, len(vecs[b][i]))
			}
		}
	}
	t.Logf("%+v", p.Stats())
}

// embedAll embeds each batch on its own goroutine, all at once (the first a little ahead, so
// the others wait behind it), failing on any error.
func embedAll(t *testing.T, e embed.Embedder, batches [][]string) [][][]float32 {
	t.Helper()
	vecs, errs := embedBatches(e, batches)
	for b := range batches {
		for i, err := range errs[b] {
			if err != nil {
				t.Fatalf("batch %d text %d: %v", b, i, err)
			}
		}
	}
	return vecs
}

func embedBatches(e embed.Embedder, batches [][]string) ([][][]float32, [][]error) {
	vecs, errs := make([][][]float32, len(batches)), make([][]error, len(batches))
	var wg sync.WaitGroup
	for b := range batches {
		wg.Go(func() { vecs[b], errs[b] = e.Embed(context.Background(), batches[b]) })
		if b == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	wg.Wait()
	return vecs, errs
}

// checkVectors compares each text's vector with the one a call of that text alone returns.
func checkVectors(t *testing.T, batches [][]string, got [][][]float32) {
	t.Helper()
	p := fakeprovider.Start(fakeprovider.Config{Concurrency: 64, Latency: time.Millisecond})
	defer p.Close()
	ref, err := embed.New(embed.Config{Kind: embed.KindOpenAI, BaseURL: p.URL(), Model: "fake-coalesce-ref", Dims: 8, MaxInputs: 1})
	if err != nil {
		t.Fatal(err)
	}
	for b, batch := range batches {
		want, errs := ref.Embed(context.Background(), batch)
		for i := range batch {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			if !slices.Equal(got[b][i], want[i]) {
				t.Fatalf("batch %d text %d: %v, want %v (the vector of its own text)", b, i, got[b][i], want[i])
			}
		}
	}
}
