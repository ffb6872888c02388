package jobs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a batch function that records the batches it ran.
type recorder struct {
	mu      sync.Mutex
	sizes   []int
	reasons []string
	fail    func(v int) error
	delay   time.Duration
}

func (r *recorder) run(ctx context.Context, items []int, reason string) []error {
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	r.mu.Lock()
	r.sizes = append(r.sizes, len(items))
	r.reasons = append(r.reasons, reason)
	r.mu.Unlock()
	errs := make([]error, len(items))
	for i, v := range items {
		if r.fail != nil {
			errs[i] = r.fail(v)
		}
	}
	return errs
}

func (r *recorder) snapshot() ([]int, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.sizes...), append([]string(nil), r.reasons...)
}

// doAll runs Do for items 0..n-1 concurrently and returns their results.
func doAll(ctx context.Context, g *gatherer[int], n int) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = g.Do(ctx, i) })
	}
	wg.Wait()
	return errs
}

func TestGathererFlushesOnSize(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	g := newGatherer(gatherConfig{MaxSize: 10, MaxDelay: time.Hour, Slots: 40, Timeout: time.Second}, r.run)
	for _, err := range doAll(context.Background(), g, 30) {
		if err != nil {
			t.Fatal(err)
		}
	}
	sizes, reasons := r.snapshot()
	if len(sizes) != 3 {
		t.Fatalf("batches %v (%v), want three of 10", sizes, reasons)
	}
	for i := range sizes {
		if sizes[i] != 10 || reasons[i] != flushSize {
			t.Fatalf("batches %v (%v), want three of 10 flushed on size", sizes, reasons)
		}
	}
}

func TestGathererFlushesOnDelay(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	g := newGatherer(gatherConfig{MaxSize: 100, MaxDelay: 50 * time.Millisecond, Slots: 200, Timeout: time.Second}, r.run)
	start := time.Now()
	for _, err := range doAll(context.Background(), g, 7) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("flushed after %v, before max_delay", d)
	}
	sizes, reasons := r.snapshot()
	if len(sizes) != 1 || sizes[0] != 7 || reasons[0] != flushDelay {
		t.Fatalf("batches %v (%v), want one of 7 flushed on delay", sizes, reasons)
	}
}

func TestGathererFlushesWhenEverySlotWaits(t *testing.T) {
	t.Parallel()
	// 12 slots, batches of 10: while the first full batch writes, the last 2 hold the remaining
	// slots, so nothing can join them.
	r := &recorder{delay: 200 * time.Millisecond}
	g := newGatherer(gatherConfig{MaxSize: 10, MaxDelay: time.Hour, Slots: 12, Timeout: time.Second}, r.run)
	done := make(chan []error)
	go func() { done <- doAll(context.Background(), g, 12) }()
	select {
	case errs := <-done:
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	case <-time.After(5 * time.Second):
		t.Fatal("items waited although every slot was in the gatherer")
	}
	sizes, reasons := r.snapshot()
	total := 0
	for _, s := range sizes {
		total += s
	}
	if total != 12 || !slices.Contains(reasons, flushSlots) {
		t.Fatalf("batches %v (%v), want 12 items, the last flushed because every slot waited", sizes, reasons)
	}
}

func TestGathererPerItemResults(t *testing.T) {
	t.Parallel()
	r := &recorder{fail: func(v int) error {
		if v%3 == 0 {
			return fmt.Errorf("item %d failed", v)
		}
		return nil
	}}
	g := newGatherer(gatherConfig{MaxSize: 8, MaxDelay: 10 * time.Millisecond, Slots: 16, Timeout: time.Second}, r.run)
	for i, err := range doAll(context.Background(), g, 20) {
		if (i%3 == 0) != (err != nil) {
			t.Fatalf("item %d: %v", i, err)
		}
		if err != nil && err.Error() != fmt.Sprintf("item %d failed", i) {
			t.Fatalf("item %d got another item's error: %v", i, err)
		}
	}
}

func TestGathererCancelWhilePending(t *testing.T) {
	t.Parallel()
	var ran atomic.Int32
	g := newGatherer(gatherConfig{MaxSize: 10, MaxDelay: time.Hour, Slots: 20, Timeout: time.Second},
		func(ctx context.Context, items []int, reason string) []error {
			ran.Add(int32(len(items)))
			return make([]error, len(items))
		})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { errc <- g.Do(ctx, 1) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	err := <-errc
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want an error wrapping context.Canceled", err)
	}
	g.mu.Lock()
	pending, inFlight := len(g.pending), g.inFlight
	g.mu.Unlock()
	if pending != 0 || inFlight != 0 || ran.Load() != 0 {
		t.Fatalf("after cancel: pending %d, in flight %d, ran %d; want all 0", pending, inFlight, ran.Load())
	}
}

func TestGathererCancelWhileWritingWaitsForResult(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	g := newGatherer(gatherConfig{MaxSize: 1, MaxDelay: time.Hour, Slots: 1, Timeout: time.Second},
		func(ctx context.Context, items []int, reason string) []error {
			close(started)
			time.Sleep(50 * time.Millisecond)
			return []error{errors.New("real result")}
		})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() { errc <- g.Do(ctx, 1) }()
	<-started
	cancel()
	if err := <-errc; err == nil || err.Error() != "real result" {
		t.Fatalf("Do = %v, want the batch's real result", err)
	}
}

func TestGathererPanicFailsBatch(t *testing.T) {
	t.Parallel()
	g := newGatherer(gatherConfig{MaxSize: 3, MaxDelay: time.Hour, Slots: 3, Timeout: time.Second},
		func(ctx context.Context, items []int, reason string) []error { panic("boom") })
	for i, err := range doAll(context.Background(), g, 3) {
		if err == nil {
			t.Fatalf("item %d succeeded although its batch panicked", i)
		}
	}
}

func TestGathererBoundsConcurrentBatches(t *testing.T) {
	t.Parallel()
	var running, peak atomic.Int32
	g := newGatherer(gatherConfig{MaxSize: 5, MaxDelay: time.Millisecond, Slots: 10, Timeout: time.Second},
		func(ctx context.Context, items []int, reason string) []error {
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(10 * time.Millisecond)
			running.Add(-1)
			return make([]error, len(items))
		})
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { doAll(context.Background(), g, 10) })
	}
	wg.Wait()
	if p := peak.Load(); p > 2 {
		t.Fatalf("%d batches ran at once, want at most Slots/MaxSize = 2", p)
	}
}

func TestQueueWorkers(t *testing.T) {
	t.Parallel()
	bs := []BackendConfig{
		{Backend: named("vector"), Weight: 2, BatchSize: 128},
		{Backend: named("keyword"), Weight: 1, BatchSize: 128},
		{Backend: named("tiny"), Weight: 1, BatchSize: 500},
	}
	got := QueueWorkers(512, bs)
	// vector: 512*2/4 = 256 = 2 batches; keyword: 128 = 1 batch; tiny: 128 < 500 → one batch of 500.
	want := map[string]int{"index_vector": 256, "index_keyword": 128, "index_tiny": 500}
	for q, n := range want {
		if got[q] != n {
			t.Fatalf("QueueWorkers = %v, want %v", got, want)
		}
	}
}
