package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime"
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

// TestGathererWeights: with a weight, a batch holds items up to MaxSize in weight, and at least
// one; what is left after a batch makes another when it fills one.
func TestGathererWeights(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	g := newGatherer(gatherConfig{MaxSize: 10, MaxDelay: time.Hour, Slots: 40, Timeout: time.Second}, r.run)
	g.weight = func(v int) int { return v }
	var wg sync.WaitGroup
	// One item at a time, each once the one before has been taken in: 3 and 4 wait (7 < 10); 5
	// makes 12, so [3 4] runs and 5 waits; 20 makes 25, so [5] runs, then [20] alone.
	for _, c := range []struct{ v, pending int }{{3, 1}, {4, 2}, {5, 1}, {20, 0}} {
		wg.Go(func() {
			if err := g.Do(context.Background(), c.v); err != nil {
				t.Error(err)
			}
		})
		deadline := time.Now().Add(5 * time.Second)
		for {
			g.mu.Lock()
			n := len(g.pending)
			g.mu.Unlock()
			if n == c.pending || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	wg.Wait()
	sizes, reasons := r.snapshot()
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{1, 1, 2}) || slices.ContainsFunc(reasons, func(r string) bool { return r != flushSize }) {
		t.Fatalf("batches of %v items (%v), want [3 4], [5] and [20], flushed on size", sizes, reasons)
	}
	if g.pendingWeight != 0 {
		t.Fatalf("pending weight %d after every batch ran", g.pendingWeight)
	}
}

func TestGathererFlushesOnDelay(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	clk := newFakeClock()
	g := newGatherer(gatherConfig{MaxSize: 100, MaxDelay: 50 * time.Millisecond, Slots: 200, Timeout: time.Second, Clock: clk}, r.run)
	done := make(chan []error)
	go func() { done <- doAll(context.Background(), g, 7) }()
	waitPending(g, 7)
	clk.Advance(50*time.Millisecond - 1)
	if sizes, _ := r.snapshot(); len(sizes) != 0 {
		t.Fatalf("batches %v before max_delay", sizes)
	}
	clk.Advance(1)
	for _, err := range <-done {
		if err != nil {
			t.Fatal(err)
		}
	}
	sizes, reasons := r.snapshot()
	if len(sizes) != 1 || sizes[0] != 7 || reasons[0] != flushDelay {
		t.Fatalf("batches %v (%v), want one of 7 flushed on delay", sizes, reasons)
	}
}

// TestGathererWithdrawnItemKeepsNextItsDelay: an item withdrawn before its batch (its context
// ended) leaves its timer behind; the next item must still wait its own MaxDelay.
func TestGathererWithdrawnItemKeepsNextItsDelay(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	clk := newFakeClock()
	g := newGatherer(gatherConfig{MaxSize: 10, MaxDelay: 400 * time.Millisecond, Slots: 20, Timeout: time.Second, Clock: clk}, r.run)
	ctx, cancel := context.WithCancel(context.Background())
	withdrawn := make(chan error)
	go func() { withdrawn <- g.Do(ctx, 1) }()
	waitPending(g, 1)
	clk.Advance(100 * time.Millisecond)
	cancel()
	if err := <-withdrawn; !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want it withdrawn", err)
	}
	clk.Advance(200 * time.Millisecond) // 300 ms
	done := make(chan error)
	go func() { done <- g.Do(context.Background(), 2) }()
	waitPending(g, 1)
	clk.Advance(100 * time.Millisecond) // 400 ms: the withdrawn item's deadline
	clk.Advance(299 * time.Millisecond) // 699 ms
	if sizes, _ := r.snapshot(); len(sizes) != 0 {
		t.Fatalf("the second item was flushed %v before its own max_delay", sizes)
	}
	clk.Advance(time.Millisecond) // 700 ms: the second item's deadline
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if sizes, reasons := r.snapshot(); len(sizes) != 1 || reasons[0] != flushDelay {
		t.Fatalf("batches %v (%v), want one flushed on delay", sizes, reasons)
	}
}

// TestGathererWithdrawnOldestKeepsNextItsDelay: when the oldest pending item is withdrawn, the
// next oldest is flushed at its own deadline, not at the withdrawn one's.
func TestGathererWithdrawnOldestKeepsNextItsDelay(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	clk := newFakeClock()
	g := newGatherer(gatherConfig{MaxSize: 10, MaxDelay: 400 * time.Millisecond, Slots: 20, Timeout: time.Second, Clock: clk}, r.run)
	ctx, cancel := context.WithCancel(context.Background())
	withdrawn := make(chan error)
	go func() { withdrawn <- g.Do(ctx, 1) }()
	waitPending(g, 1)
	clk.Advance(100 * time.Millisecond)
	done := make(chan error)
	go func() { done <- g.Do(context.Background(), 2) }()
	waitPending(g, 2)
	cancel()
	<-withdrawn
	clk.Advance(399 * time.Millisecond) // 499 ms: past the withdrawn item's deadline
	if sizes, _ := r.snapshot(); len(sizes) != 0 {
		t.Fatalf("the second item was flushed %v at the withdrawn item's deadline", sizes)
	}
	clk.Advance(time.Millisecond) // 500 ms
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestGathererRemainderKeepsItsDelay: items left over after a full batch are flushed when the
// oldest of them has waited MaxDelay since it arrived.
func TestGathererRemainderKeepsItsDelay(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	clk := newFakeClock()
	g := newGatherer(gatherConfig{MaxSize: 2, MaxDelay: 100 * time.Millisecond, Slots: 10, Timeout: time.Second, Clock: clk}, r.run)
	done := make(chan error, 3)
	go func() { done <- g.Do(context.Background(), 1) }()
	waitPending(g, 1)
	clk.Advance(60 * time.Millisecond)
	// Two more: the first two make a full batch, the third waits from 60 ms, until 160 ms.
	go func() { done <- g.Do(context.Background(), 2) }()
	<-done
	go func() { done <- g.Do(context.Background(), 3) }()
	waitPending(g, 1)
	clk.Advance(99 * time.Millisecond)
	if sizes, _ := r.snapshot(); len(sizes) != 1 {
		t.Fatalf("batches %v, want only the full one before the third item's max_delay", sizes)
	}
	clk.Advance(time.Millisecond)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if sizes, reasons := r.snapshot(); !slices.Equal(sizes, []int{2, 1}) || reasons[1] != flushDelay {
		t.Fatalf("batches %v (%v), want 2 on size then 1 on delay", sizes, reasons)
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
	waitPending(g, 1)
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

// waitPending waits until n items are pending in g.
func waitPending(g *gatherer[int], n int) {
	for {
		g.mu.Lock()
		got := len(g.pending)
		g.mu.Unlock()
		if got >= n {
			return
		}
		runtime.Gosched()
	}
}

// fakeClock is a [clock] that moves only when told: Advance runs the timers that fall due, in
// order, before it returns.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	clk  *fakeClock
	at   time.Time
	f    func()
	done bool // stopped or fired
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) interface{ Stop() bool } {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clk: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// Advance moves the clock by d, running every timer due by then (a timer may arm another).
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *fakeTimer
		for _, t := range c.timers {
			if !t.done && !t.at.After(end) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		if next == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		next.done = true
		if next.at.After(c.now) {
			c.now = next.at
		}
		c.mu.Unlock()
		next.f()
	}
}

// TestGathererCancelsBatchWhenEveryItemIsCancelled: a running batch keeps its context while any
// of its items' Do still waits (one job's cancellation never aborts the others' write), and loses
// it once all of them have been cancelled (River's hard stop).
func TestGathererCancelsBatchWhenEveryItemIsCancelled(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	batchErr := make(chan error, 1)
	g := newGatherer(gatherConfig{MaxSize: 2, MaxDelay: time.Hour, Slots: 2, Timeout: time.Hour},
		func(ctx context.Context, items []int, reason string) []error {
			close(started)
			<-ctx.Done()
			batchErr <- ctx.Err()
			return []error{ctx.Err(), ctx.Err()}
		})
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { errs <- g.Do(ctx1, 1) }()
	go func() { errs <- g.Do(ctx2, 2) }()
	<-started
	cancel1()
	select { // a negative check: wait a little for what must not happen
	case err := <-batchErr:
		t.Fatalf("the batch was cancelled (%v) while one item still waited", err)
	case err := <-errs:
		t.Fatalf("Do returned %v before its batch did", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel2()
	if err := <-batchErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("batch context: %v, want cancelled", err)
	}
	for range 2 {
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Fatalf("Do = %v, want the batch's result, cancelled", err)
		}
	}
}

// While every write slot is busy, the items that keep arriving wait for the next free slot in one
// batch, not in batches cut at their MaxDelay or as each came: 20 items fill both write slots for
// 300 ms, and 9 items that arrive one every 20 ms meanwhile run as one batch of 9.
func TestGathererCutsBatchWhenItCanRun(t *testing.T) {
	t.Parallel()
	r := &recorder{delay: 300 * time.Millisecond}
	g := newGatherer(gatherConfig{MaxSize: 10, MaxDelay: 10 * time.Millisecond, Slots: 20, Timeout: 5 * time.Second}, r.run)
	var wg sync.WaitGroup
	wg.Go(func() { doAll(context.Background(), g, 20) })
	time.Sleep(50 * time.Millisecond) // both full batches run
	for i := range 9 {
		wg.Go(func() {
			if err := g.Do(context.Background(), 100+i); err != nil {
				t.Error(err)
			}
		})
		time.Sleep(20 * time.Millisecond)
	}
	wg.Wait()
	sizes, reasons := r.snapshot()
	slices.Sort(sizes)
	if !slices.Equal(sizes, []int{9, 10, 10}) {
		t.Fatalf("batches of %v (%v), want 10, 10 and the 9 that came while both wrote", sizes, reasons)
	}
}
