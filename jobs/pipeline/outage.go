package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/backends/indexerr"
)

// outageJitter is the part of a delay drawn at random per batch: delays lie between
// (1 - outageJitter) × step and step, so batches that failed together do not come back
// together, and no delay exceeds OutageRetryMax.
const outageJitter = 0.2

// probeText is what the indexer embeds to tell an outage from a record the provider fails on.
const probeText = "OSA embedding provider probe"

// provider follows the health of one backend's embedding provider as its batches see it. It is
// safe for concurrent use.
type provider struct {
	backend  string
	logger   *slog.Logger
	min, max time.Duration
	now      func() time.Time
	rand     func() float64 // in [0, 1)

	mu       sync.Mutex
	down     bool
	since    time.Time // when the current outage began
	failures int       // batches the current outage failed
	ended    time.Time // when the last outage ended
}

// newProvider returns the state of backend's provider: up. minDelay and maxDelay bound the retry
// delays (0 < minDelay <= maxDelay, as Config.validate checks).
func newProvider(backend string, logger *slog.Logger, minDelay, maxDelay time.Duration) *provider {
	return &provider{backend: backend, logger: logger, min: minDelay, max: maxDelay, now: time.Now, rand: rand.Float64}
}

// outage describes a provider outage as one batch met it.
type outage struct {
	since time.Time     // when it began
	delay time.Duration // how long the batch's jobs snooze
}

// succeeded records that an embedding call of the backend worked: it ends an outage.
func (p *provider) succeeded(ctx context.Context) {
	p.mu.Lock()
	if !p.down {
		p.mu.Unlock()
		return
	}
	now := p.now()
	since, failures := p.since, p.failures
	p.down, p.ended, p.failures = false, now, 0
	p.mu.Unlock()
	p.logger.InfoContext(ctx, "jobs: embedding provider back, index jobs run again", "backend", p.backend,
		"outage", now.Sub(since).Round(time.Millisecond), "failed_batches", failures)
}

// known reports whether the provider is known to have been down during a call that started at
// started: an outage is under way, or ended after started.
func (p *provider) known(started time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.down || p.ended.After(started)
}

// failed records a batch whose embedding call, started at started, failed as a whole with
// cause, and returns the outage it belongs to. The first failure begins an outage. A call that
// started before the last outage ended belongs to that outage: it neither begins a new one nor
// waits long.
func (p *provider) failed(ctx context.Context, started time.Time, cause error) outage {
	p.mu.Lock()
	now := p.now()
	if !p.down && p.ended.After(started) {
		o := outage{since: p.ended, delay: p.jitter(p.min)}
		p.mu.Unlock()
		return o
	}
	begins := !p.down
	if begins {
		p.down, p.since, p.failures = true, now, 0
	}
	p.failures++
	o := outage{since: p.since, delay: p.jitter(min(max(now.Sub(p.since), p.min), p.max))}
	p.mu.Unlock()
	if begins {
		p.logger.WarnContext(ctx, "jobs: embedding provider down, index jobs snooze until it answers again", "backend", p.backend,
			"error", cause, "retry_max", p.max)
	}
	return o
}

// downFor returns how long the current outage has lasted; zero when the provider is up.
func (p *provider) downFor() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.down {
		return 0
	}
	return max(p.now().Sub(p.since), time.Nanosecond)
}

// jitter returns step less up to outageJitter of it, at random. p.mu must be held (p.rand
// need not be safe for concurrent use).
func (p *provider) jitter(step time.Duration) time.Duration {
	return max(step-time.Duration(outageJitter*p.rand()*float64(step)), time.Millisecond)
}

// outageError is a record's embedding error that belongs to a provider outage: its job snoozes
// for delay without using an attempt.
type outageError struct {
	err   error
	since time.Time
	delay time.Duration
}

// Error says why the record waits, for index_state and the log.
func (e *outageError) Error() string {
	return fmt.Sprintf("embedding provider unavailable since %s, next try in %s: %v",
		e.since.UTC().Format(time.RFC3339), e.delay.Round(time.Millisecond), e.err)
}

// Unwrap returns the embedding error.
func (e *outageError) Unwrap() error { return e.err }

// transient reports whether err is an embedding error that a provider outage explains: not
// permanent, not a rate limit (which has its own snooze), not a cancellation.
func transient(err error) bool {
	if err == nil || indexerr.IsPermanent(err) || errors.Is(err, context.Canceled) {
		return false
	}
	_, limited := indexerr.RetryAfter(err)
	return !limited
}

// checkOutage decides, after Prepare, whether the embedding errors of acts (the actions whose
// documents were prepared, in a call that started at started) are an outage of the provider.
// If so, it turns each transient error into an [outageError]; otherwise the errors are left as
// they are. Any document embedded means the provider answers.
func (x *indexer) checkOutage(ctx context.Context, acts []*action, started time.Time) {
	var (
		embedded int
		cause    error
	)
	for _, a := range acts {
		switch {
		case a.err == nil:
			embedded++
		case cause == nil && transient(a.err):
			cause = a.err
		}
	}
	if embedded > 0 {
		x.provider.succeeded(ctx)
		return
	}
	if cause == nil {
		return // nothing transient: permanent errors and rate limits have their own outcomes
	}
	if !x.provider.known(started) {
		// A provider that is down and one that fails on this batch's texts look the same:
		// ask it to embed a text of our own.
		if err := x.probe(ctx); err == nil || indexerr.IsPermanent(err) {
			return // it answers: the errors are the records' own
		}
	}
	o := x.provider.failed(ctx, started, cause)
	for _, a := range acts {
		if transient(a.err) {
			a.err = &outageError{err: a.err, since: o.since, delay: o.delay}
		}
	}
}

// probe embeds probeText through the backend and returns its error.
func (x *indexer) probe(ctx context.Context) error {
	return x.backend.Prepare(ctx, []backends.Document{{Metadata: map[string]any{"title": probeText}}})[0]
}
