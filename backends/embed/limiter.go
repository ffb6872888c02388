package embed

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds of the adaptive concurrency toward one provider.
const (
	// MaxConcurrencyDefault is the most calls a process makes at once to one provider, the
	// ceiling of the adaptive limit (embedder.max_concurrency).
	MaxConcurrencyDefault = 16
	// MaxConcurrencyMax bounds embedder.max_concurrency.
	MaxConcurrencyMax = 1024

	// probeEvery is how many calls succeed at the current limit, with calls waiting for a
	// slot, before the limit is raised by one to probe for more room. Each probe that meets a
	// 429 (and the end of the slow start, which is one) doubles the wait before the next, up
	// to probeEveryMax; a probe that holds brings it back to probeEvery. Against a provider
	// whose capacity is steady, the 429s thin out as the run goes on (one near calls 1, 128,
	// 384, 896, then one every probeEveryMax); a provider that gains room is found within
	// probeEveryMax calls.
	probeEvery    = 64
	probeEveryMax = 1024
)

// limiter is the adaptive limit on concurrent calls to one provider, shared by every embedder of
// the process that calls the same endpoint and model with the same key ([limiterFor]), so all
// batches of all backends share one budget.
//
// It is AIMD-like, tuned to providers that answer 429 beyond a concurrency or rate cap rather
// than queueing (a hosted API): it starts at 1 and grows by one per success until the first
// 429 (slow start); a 429 of a call made with n calls in flight sets the limit to n−1, which is
// where the provider said its room ends (or halves it, when the limit was already below that);
// then, while the limit is in use, every [probeEvery] successes raise it by one, a wait that
// doubles after each raise the provider refused with a 429. A limit the calls do not fill never
// grows. A 5xx or a network error does not move it: capacity is not what failed.
type limiter struct {
	name string // in [Providers]
	max  int

	mu         sync.Mutex
	limit      int
	inFlight   int
	slowStart  bool
	successes  int           // at the current limit, in use, since the last change
	probeAfter int           // the successes at the limit that raise it: probeEvery, doubled by refused probes
	probing    bool          // the limit was raised by a probe that no 429 has refused yet nor later raise confirmed
	waiting    int           // callers waiting for a slot
	freed      chan struct{} // closed and replaced when a slot frees or the limit grows

	calls, rateLimited atomic.Int64
}

func newLimiter(name string, max int) *limiter {
	return &limiter{name: name, max: max, limit: 1, slowStart: true, probeAfter: probeEvery, freed: make(chan struct{})}
}

// tryAcquire takes a slot if one is free at once, returning the calls in flight counting this
// one.
func (l *limiter) tryAcquire() (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inFlight >= l.limit {
		return 0, false
	}
	return l.take(), true
}

// acquire waits for a slot and returns the number of calls in flight counting this one; it gives
// up when ctx ends or taken (nil: never) is closed, returning ctx's error or [errTaken].
func (l *limiter) acquire(ctx context.Context, taken <-chan struct{}) (int, error) {
	l.mu.Lock()
	for l.inFlight >= l.limit {
		l.waiting++
		freed := l.freed
		l.mu.Unlock()
		var err error
		select {
		case <-freed:
		case <-taken:
			err = errTaken
		case <-ctx.Done():
			err = ctx.Err()
		}
		l.mu.Lock()
		l.waiting--
		if err != nil {
			l.mu.Unlock()
			return 0, err
		}
	}
	n := l.take()
	l.mu.Unlock()
	return n, nil
}

// take takes a slot, with l.mu held.
func (l *limiter) take() int {
	l.inFlight++
	l.calls.Add(1)
	return l.inFlight
}

// unused gives back a slot no call was made in.
func (l *limiter) unused() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
	l.calls.Add(-1)
	close(l.freed)
	l.freed = make(chan struct{})
}

// outcome is what a call's answer says about the provider's room.
type outcome int

const (
	outcomeOK          outcome = iota // answered
	outcomeRateLimited                // 429
	outcomeOther                      // failed otherwise: no signal about capacity
)

// release frees the slot of a call made with n calls in flight, which ended with o.
func (l *limiter) release(n int, o outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inFlight--
	switch o {
	case outcomeRateLimited:
		l.rateLimited.Add(1)
		if l.slowStart || l.probing {
			// The raise went past the provider's room: wait longer before the next.
			l.probeAfter = min(2*l.probeAfter, probeEveryMax)
		}
		l.slowStart, l.probing = false, false
		if n-1 < l.limit {
			l.limit = max(1, n-1)
		} else {
			l.limit = max(1, l.limit/2)
		}
		l.successes = 0
	case outcomeOK:
		// Only a limit in use grows: the call took the last slot, or others wait for one.
		switch full := n >= l.limit || l.waiting > 0; {
		case !full || l.limit >= l.max:
		case l.slowStart:
			l.limit++
		default:
			if l.successes++; l.successes >= l.probeAfter {
				if l.probing {
					l.probeAfter = probeEvery // the last raise held
				}
				l.limit++
				l.successes, l.probing = 0, true
			}
		}
	}
	close(l.freed)
	l.freed = make(chan struct{})
}

// ProviderStats is the state of the calls to one provider, for metrics.
type ProviderStats struct {
	// Provider names the endpoint and model: "<host><path> <model>", without the key.
	Provider string
	// Limit is the current adaptive concurrency limit; InFlight the calls being made.
	Limit, InFlight int
	// Calls and RateLimited count the calls made and those answered 429, since start.
	Calls, RateLimited int64
}

// limiters holds the process's limiters, by endpoint, model and key.
var limiters = struct {
	sync.Mutex
	byKey map[limiterKey]*limiter
}{byKey: map[limiterKey]*limiter{}}

type limiterKey struct{ url, model, apiKey string }

// limiterFor returns the process's limiter of calls to url with model and apiKey, named name in
// [Providers], creating it with ceiling maxConcurrency; an existing one takes the newest
// ceiling.
func limiterFor(url, model, apiKey, name string, maxConcurrency int) *limiter {
	limiters.Lock()
	defer limiters.Unlock()
	k := limiterKey{url, model, apiKey}
	l, ok := limiters.byKey[k]
	if !ok {
		l = newLimiter(name, maxConcurrency)
		limiters.byKey[k] = l
		return l
	}
	l.mu.Lock()
	l.max = maxConcurrency
	l.limit = min(l.limit, maxConcurrency)
	l.mu.Unlock()
	return l
}

// Providers returns the state of the calls to every provider the process has an HTTP embedder
// for, sorted by name.
func Providers() []ProviderStats {
	limiters.Lock()
	out := make([]ProviderStats, 0, len(limiters.byKey))
	for _, l := range limiters.byKey {
		l.mu.Lock()
		out = append(out, ProviderStats{Provider: l.name, Limit: l.limit, InFlight: l.inFlight,
			Calls: l.calls.Load(), RateLimited: l.rateLimited.Load()})
		l.mu.Unlock()
	}
	limiters.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Provider < out[j].Provider })
	return out
}

// rateLimitWaitMax bounds how long a rate-limited call waits (its Retry-After, or
// rateLimitWaitDefault without one) before it is made again, and rateLimitTries how many
// times: beyond either, the batch ends with the rate limit, and its job snoozes.
const (
	rateLimitWaitMax     = 10 * time.Second
	rateLimitWaitDefault = time.Second
	rateLimitTries       = 5

	// serverErrorRetries is how many times a call answered 5xx is made again at once, after
	// serverErrorBackoff, doubled each time.
	serverErrorRetries = 2
	serverErrorBackoff = 100 * time.Millisecond
)
