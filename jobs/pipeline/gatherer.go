package pipeline

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Flush reasons, reported in the batch log line.
const (
	flushSize  = "size"  // batch.max_size items were waiting
	flushDelay = "delay" // batch.max_delay passed since the first item arrived
	flushSlots = "slots" // every worker slot of the queue was waiting here: no item can arrive
)

// gatherConfig sizes a [gatherer].
type gatherConfig struct {
	// MaxSize is the most items in one batch.
	MaxSize int
	// MaxDelay is how long the first item of a batch waits for more.
	MaxDelay time.Duration
	// Slots is the queue's MaxWorkers: when that many Work calls wait here, River cannot start
	// another job until one returns, so waiting longer is pointless.
	Slots int
	// Timeout bounds one batch run; negative means no bound.
	Timeout time.Duration
	// Clock is the gatherer's time: nil is the wall clock; tests pass a fake one.
	Clock clock
}

// clock is a gatherer's time source.
type clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed.
	AfterFunc(d time.Duration, f func()) interface{ Stop() bool }
}

// wallClock is the time of the time package.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) AfterFunc(d time.Duration, f func()) interface{ Stop() bool } {
	return time.AfterFunc(d, f)
}

// batchFunc runs one batch and returns one result per item, in order.
type batchFunc[T any] func(ctx context.Context, items []T, reason string) []error

// gatherer turns concurrent single-item Work calls into batches. Open-source River runs one job
// per Work call; each call hands its job to the gatherer of its queue and blocks until the batch
// it joined has run, then returns its own result. A batch is due when it is full, when its first
// item has waited MaxDelay, or when every worker slot is waiting here; it is cut when it can
// run, once one of the Slots/MaxSize write slots is free, from the items pending then. While
// every write slot is busy (a slow embedding provider, a long HNSW insert), the items that keep
// arriving join the next batch instead of each waiting in a batch cut at its MaxDelay: cut
// early, the next batches carried the few jobs a River fetch had brought, and against a
// provider of one concurrent call every other call carried two texts. A batch's
// batch.timeout starts when it runs. Batches run on a context
// of their own, so one job's cancellation never aborts the others' write; once every job of a
// batch is cancelled (River's hard stop at worker.shutdown_timeout), the batch's context is
// cancelled too, so a stuck batch cannot hold a shutdown for batch.timeout. At most
// Slots/MaxSize batches run at once.
type gatherer[T any] struct {
	cfg gatherConfig
	run batchFunc[T]
	// weight, when set, is how much of MaxSize an item fills (a fan-out job, its changes);
	// nil counts every item as one. A batch holds items up to MaxSize in weight, and at least one.
	weight func(T) int

	mu            sync.Mutex
	inFlight      int                      // Do calls that have not returned
	pending       []*gatherItem[T]         // items not yet in a batch, oldest first
	pendingWeight int                      // the weight of pending
	due           int                      // batches due that wait for a write slot (next calls)
	timer         interface{ Stop() bool } // flushes the pending items when the oldest has waited MaxDelay
	timerGen      int                      // invalidates a timer that fired while being replaced
	writes        chan struct{}            // semaphore bounding concurrent batches
}

type gatherItem[T any] struct {
	value   T
	weight  int
	arrived time.Time
	done    chan error // receives the item's result exactly once
	taken   bool       // in a batch: its result will come
	run     *batchRun  // the batch it is in, once taken
}

// batchRun is the context of one batch and the count of its items whose Do still waits.
type batchRun struct {
	ctx    context.Context
	cancel context.CancelFunc
	live   atomic.Int32
}

// abandon notes that one item's Do no longer waits for the result (its context ended); the last
// one to leave cancels the batch.
func (r *batchRun) abandon() {
	if r.live.Add(-1) == 0 {
		r.cancel()
	}
}

func newGatherer[T any](cfg gatherConfig, run batchFunc[T]) *gatherer[T] {
	if cfg.MaxSize < 1 || cfg.Slots < cfg.MaxSize || cfg.MaxDelay <= 0 || cfg.Timeout == 0 {
		panic(fmt.Sprintf("jobs: invalid gatherer config %+v", cfg))
	}
	if cfg.Clock == nil {
		cfg.Clock = wallClock{}
	}
	return &gatherer[T]{cfg: cfg, run: run, writes: make(chan struct{}, cfg.Slots/cfg.MaxSize)}
}

// Do adds v to a batch and waits for its result. If ctx ends while v still waits for a batch,
// v is withdrawn and Do returns an error wrapping ctx.Err() (River then treats a shutdown as an
// interruption, not a failure); once v's batch runs, Do waits for the real result.
func (g *gatherer[T]) Do(ctx context.Context, v T) error {
	it := &gatherItem[T]{value: v, weight: 1, arrived: g.cfg.Clock.Now(), done: make(chan error, 1)}
	if g.weight != nil {
		it.weight = max(g.weight(v), 1)
	}

	g.mu.Lock()
	g.inFlight++
	g.pending = append(g.pending, it)
	g.pendingWeight += it.weight
	reasons := g.dueLocked()
	if len(reasons) == 0 && len(g.pending) == 1 {
		g.armLocked()
	}
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.inFlight--
		g.mu.Unlock()
	}()
	for _, reason := range reasons {
		go g.next(reason)
	}

	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
	}
	g.mu.Lock()
	if !it.taken {
		first := g.pending[0] == it
		g.pending = slices.DeleteFunc(g.pending, func(p *gatherItem[T]) bool { return p == it })
		g.pendingWeight -= it.weight
		if first {
			g.armLocked() // the timer was the withdrawn item's: the next oldest's deadline is later
		}
		g.mu.Unlock()
		return fmt.Errorf("jobs: stopped waiting for a batch: %w", ctx.Err())
	}
	g.mu.Unlock()
	it.run.abandon()
	return <-it.done
}

// dueLocked counts the batches that became due, for [gatherer.next] to run: one per MaxSize of
// pending weight beyond the batches already due (with weights, one item can fill more than one),
// else one when every worker slot waits here and none is due. It returns their reasons. g.mu
// must be held.
func (g *gatherer[T]) dueLocked() []string {
	var reasons []string
	for g.pendingWeight >= (g.due+1)*g.cfg.MaxSize {
		g.due++
		reasons = append(reasons, flushSize)
	}
	if len(reasons) == 0 && len(g.pending) > 0 && g.inFlight >= g.cfg.Slots && g.due == 0 {
		g.due++
		reasons = append(reasons, flushSlots)
	}
	return reasons
}

// armLocked replaces the timer by one for the oldest pending item's deadline, arrival +
// MaxDelay, or by none when nothing is pending. g.mu must be held.
func (g *gatherer[T]) armLocked() {
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	g.timerGen++
	if len(g.pending) == 0 {
		return
	}
	gen := g.timerGen
	wait := g.pending[0].arrived.Add(g.cfg.MaxDelay).Sub(g.cfg.Clock.Now())
	g.timer = g.cfg.Clock.AfterFunc(wait, func() { g.onDelay(gen) })
}

// onDelay flushes the pending items when the timer of generation gen fires, unless another timer
// has replaced it since (a stopped timer can still fire).
func (g *gatherer[T]) onDelay(gen int) {
	g.mu.Lock()
	if gen != g.timerGen || len(g.pending) == 0 || g.due > 0 {
		g.mu.Unlock()
		return // a due batch will take the pending items first
	}
	g.due++
	g.mu.Unlock()
	g.next(flushDelay)
}

// takeLocked removes pending items up to MaxSize in weight, and at least one, for a batch, and
// returns them with their weight. g.mu must be held, and an item pending.
func (g *gatherer[T]) takeLocked() ([]*gatherItem[T], int) {
	n, w := 0, 0
	for n < len(g.pending) && (n == 0 || w+g.pending[n].weight <= g.cfg.MaxSize) {
		w += g.pending[n].weight
		n++
	}
	g.pendingWeight -= w
	batch := slices.Clone(g.pending[:n])
	g.pending = slices.Delete(g.pending, 0, n)
	run := &batchRun{}
	if g.cfg.Timeout > 0 {
		run.ctx, run.cancel = context.WithTimeout(context.Background(), g.cfg.Timeout)
	} else {
		run.ctx, run.cancel = context.WithCancel(context.Background())
	}
	run.live.Store(int32(len(batch)))
	for _, it := range batch {
		it.taken, it.run = true, run
	}
	g.armLocked()
	return batch, w
}

// next runs a due batch: once a write slot is free, it takes the items pending then (reported
// as full when they fill the batch, else with reason), runs them, and delivers every item's
// result. A panic in the batch fails every item.
func (g *gatherer[T]) next(reason string) {
	g.writes <- struct{}{}
	defer func() { <-g.writes }()

	g.mu.Lock()
	g.due--
	if len(g.pending) == 0 {
		g.mu.Unlock()
		return // withdrawn meanwhile, or taken by a batch due before
	}
	batch, weight := g.takeLocked()
	more := g.dueLocked() // what is left may fill another batch, or be all that can come
	g.mu.Unlock()
	for _, r := range more {
		go g.next(r)
	}
	if weight >= g.cfg.MaxSize {
		reason = flushSize
	}

	run := batch[0].run
	defer run.cancel()
	values := make([]T, len(batch))
	for i, it := range batch {
		values[i] = it.value
	}
	errs := g.runSafely(run.ctx, values, reason)
	for i, it := range batch {
		it.done <- errs[i]
	}
}

func (g *gatherer[T]) runSafely(ctx context.Context, values []T, reason string) (errs []error) {
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("jobs: batch panicked: %v\n%s", r, debug.Stack())
			errs = make([]error, len(values))
			for i := range errs {
				errs[i] = err
			}
		}
	}()
	errs = g.run(ctx, values, reason)
	if len(errs) != len(values) {
		panic(fmt.Sprintf("jobs: batch returned %d results for %d items", len(errs), len(values)))
	}
	return errs
}
