package embed

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// A provider at its concurrency limit makes batches wait for a slot. Each batch was cut by the
// index pipeline without knowing that (a batch's max_delay ends, or a small tail of a publish),
// so the calls they would make one after the other are often far from full, and the provider's
// throughput is C × inputs-per-call ÷ call time. The coalescer lets the call that gets a freed
// slot take along the calls waiting behind it, as many as fit in one call's inputs and tokens:
// waiting batches share full calls instead of making partial ones; the first waiting call that
// does not fit whole gives the inputs that do, and its rest waits first in line (when a slot
// frees before the rest is back in line, the next call goes without it: calls are fuller, not
// always full). A call that finds a slot at once is never held back.

// waitingCall is a call waiting for a slot toward the provider, which another call may take.
type waitingCall struct {
	inputs []string
	taken  chan struct{}   // closed when a leader takes it
	result chan callResult // the leader's answer for it, once taken (buffered)
}

// callResult is what a leader sends to a call it took: the vectors of the first len(vecs) of its
// inputs (all of them, or the part that fit in the merged call: the call then goes on with the
// rest), or again: the merged call failed and the call is made again on its own (alone: without
// being merged, when the provider rejected the merged input, so that one bad text spoils only
// its own batch).
type callResult struct {
	vecs  [][]float32
	again bool
	alone bool
}

// errTaken says a waiting call was taken by a leader: its result comes on its result channel.
var errTaken = errors.New("embed: call taken by another")

// coalescer holds the calls of one embedder waiting for a slot, in arrival order.
type coalescer struct {
	mu      sync.Mutex
	waiting []*waitingCall
}

// wait adds a call of inputs to the waiting calls: last, or first when it is the rest of a call
// taken in part, which has waited already.
func (c *coalescer) wait(inputs []string, first bool) *waitingCall {
	w := &waitingCall{inputs: inputs, taken: make(chan struct{}), result: make(chan callResult, 1)}
	c.mu.Lock()
	if first {
		c.waiting = slices.Insert(c.waiting, 0, w)
	} else {
		c.waiting = append(c.waiting, w)
	}
	c.mu.Unlock()
	return w
}

// leave removes w from the waiting calls and reports whether it was still there; false means a
// leader took it.
func (c *coalescer) leave(w *waitingCall) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.waiting {
		if x == w {
			c.waiting = append(c.waiting[:i], c.waiting[i+1:]...)
			return true
		}
	}
	return false
}

// taken is a waiting call taken into a merged call: its first n inputs.
type taken struct {
	w *waitingCall
	n int
}

// take removes and returns the waiting calls, oldest first, that fit beside a call of inputs
// and tokens within maxInputs and maxTokens (0: no token bound), closing their taken channels.
// The first that does not fit whole gives the inputs that do, and fills the call.
func (c *coalescer) take(inputs, tokens, maxInputs, maxTokens int) []taken {
	c.mu.Lock()
	defer c.mu.Unlock()
	var took []taken
	i := 0
	for ; i < len(c.waiting) && inputs < maxInputs; i++ {
		w, n := c.waiting[i], 0
		for n < len(w.inputs) && inputs < maxInputs {
			t := EstimateTokens(w.inputs[n])
			if maxTokens > 0 && tokens+t > maxTokens {
				break
			}
			inputs, tokens, n = inputs+1, tokens+t, n+1
		}
		if n == 0 {
			break
		}
		close(w.taken)
		took = append(took, taken{w, n})
		if n < len(w.inputs) {
			i++
			break
		}
	}
	c.waiting = slices.Delete(c.waiting, 0, i)
	return took
}

// estimateAll is the estimated tokens of inputs ([EstimateTokens]).
func estimateAll(inputs []string) int {
	n := 0
	for _, s := range inputs {
		n += EstimateTokens(s)
	}
	return n
}

// slot waits for a slot toward the provider for a call of inputs, letting another call take
// it meanwhile unless alone (first: inputs are the rest of a call taken in part). It returns the
// slot's calls in flight, the waiting call when it was merged (err [errTaken]), or ctx's error.
func (e *httpEmbedder) slot(ctx context.Context, inputs []string, alone, first bool) (int, *waitingCall, error) {
	if n, ok := e.limiter.tryAcquire(); ok || alone {
		if ok {
			return n, nil, nil
		}
		n, err := e.limiter.acquire(ctx, nil)
		return n, nil, err
	}
	w := e.coalesce.wait(inputs, first)
	n, err := e.limiter.acquire(ctx, w.taken)
	if e.coalesce.leave(w) {
		return n, nil, err // not taken: the slot (or ctx's error) is this call's
	}
	if err == nil {
		e.limiter.unused() // taken meanwhile: the slot goes back unused
	}
	return 0, w, errTaken
}

// merged runs the taken calls' inputs after inputs in one call (the leader's, within its
// slot), and answers each taken call; it returns the leader's own vectors and the call's error.
func (e *httpEmbedder) merged(ctx context.Context, inputs []string, took []taken) ([][]float32, error) {
	all := inputs
	if len(took) > 0 {
		all = make([]string, 0, e.maxInputs)
		all = append(all, inputs...)
		for _, t := range took {
			all = append(all, t.w.inputs[:t.n]...)
		}
	}
	vecs, err := e.call(ctx, all)
	if len(took) == 0 {
		return vecs, err
	}
	var rejected *rejectedError
	at := len(inputs)
	for _, t := range took {
		if err != nil {
			t.w.result <- callResult{again: true, alone: errors.As(err, &rejected)}
			continue
		}
		t.w.result <- callResult{vecs: vecs[at : at+t.n : at+t.n]}
		at += t.n
	}
	if err != nil {
		return nil, err
	}
	return vecs[:len(inputs):len(inputs)], nil
}
