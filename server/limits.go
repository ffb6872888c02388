package server

import (
	"context"
	"fmt"
	"math"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"golang.org/x/time/rate"

	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/config"
)

// limiter applies http.rate_limit (per token, or per address without one) and
// http.max_in_flight (with http.write_reserve kept for writes) to every OSA RPC.
type limiter struct {
	cfg  config.RateLimit
	auth *authorizer

	mu      sync.Mutex
	callers map[string]*callerLimit
	calls   int // since the last sweep of idle callers

	inFlight inFlight
}

// callerLimit is one caller's token bucket.
type callerLimit struct {
	bucket   *rate.Limiter
	lastSeen time.Time
}

// sweepEvery and idleAfter bound the callers kept: every sweepEvery calls, those not seen for
// idleAfter are forgotten (a full bucket again, as if new).
const (
	sweepEvery = 10000
	idleAfter  = 10 * time.Minute
)

func newLimiter(cfg config.HTTP, auth *authorizer) *limiter {
	return &limiter{cfg: cfg.RateLimit, auth: auth, callers: map[string]*callerLimit{},
		inFlight: newInFlight(cfg.MaxInFlight, cfg.WriteReserve)}
}

// interceptor refuses a call over its caller's rate (ResourceExhausted, with Retry-After) or
// beyond the calls in flight (Unavailable), before its handler runs.
func (l *limiter) interceptor() serverInterceptor {
	return func(ctx context.Context, call rpc, next func(context.Context) error) error {
		if err := l.rate(bearer(call.Header), call.Peer.Addr); err != nil {
			return err
		}
		switch call.Spec.Procedure {
		case osav1connect.EventServiceWatchEventsProcedure, osav1connect.RecordServiceExportRecordsProcedure,
			osav1connect.RecordServiceImportRecordsProcedure:
			// a stream as long as its client wants: events.max_watchers and export.max_running bound them
			// instead, and imports need the admin scope
			return next(ctx)
		}
		write := !isRead(scopeOf(call.Spec.Procedure))
		if !l.inFlight.acquire(write) {
			kind := "reads"
			if write {
				kind = "calls"
			}
			return connect.NewError(connect.CodeUnavailable, fmt.Errorf("the server is running as many %s as it takes "+
				"(http.max_in_flight %d, http.write_reserve %.2f kept for writes); try again shortly", kind, l.inFlight.max, l.inFlight.reserve))
		}
		defer l.inFlight.release(write)
		return next(ctx)
	}
}

// rate takes one request from the bucket of the caller (its token's name, else its address).
func (l *limiter) rate(secret, addr string) error {
	key, rps := "", 0.0
	if t := l.auth.lookup(secret); secret != "" && t != nil {
		key, rps = "token:"+t.name, l.cfg.TokenRPS
	} else {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			host = addr
		}
		key, rps = "addr:"+host, l.cfg.AnonymousRPS
	}
	if rps == 0 {
		return nil
	}
	now := time.Now()
	l.mu.Lock()
	c := l.callers[key]
	if c == nil {
		c = &callerLimit{bucket: rate.NewLimiter(rate.Limit(rps), l.cfg.Burst)}
		l.callers[key] = c
	}
	c.lastSeen = now
	if l.calls++; l.calls >= sweepEvery {
		l.calls = 0
		for k, o := range l.callers {
			if now.Sub(o.lastSeen) > idleAfter {
				delete(l.callers, k)
			}
		}
	}
	r := c.bucket.ReserveN(now, 1)
	l.mu.Unlock()
	delay := r.DelayFrom(now)
	if delay == 0 {
		return nil
	}
	r.CancelAt(now)
	secs := int(math.Ceil(delay.Seconds()))
	err := connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("rate limit exceeded (http.rate_limit: %g requests/s, "+
		"burst %d); retry after %d s", rps, l.cfg.Burst, secs))
	err.Meta().Set("Retry-After", strconv.Itoa(secs))
	return err
}

// inFlight counts the calls running: at most max, of which reads take at most max × (1 −
// reserve). max 0 counts nothing.
type inFlight struct {
	max, reads int
	reserve    float64
	all, read  atomic.Int64
}

func newInFlight(max int, reserve float64) inFlight {
	return inFlight{max: max, reserve: reserve, reads: max - int(math.Ceil(float64(max)*reserve))}
}

// acquire takes a slot for a read or a write, reporting whether one was free.
func (f *inFlight) acquire(write bool) bool {
	if f.max == 0 {
		return true
	}
	if f.all.Add(1) > int64(f.max) {
		f.all.Add(-1)
		return false
	}
	if !write && f.read.Add(1) > int64(f.reads) {
		f.read.Add(-1)
		f.all.Add(-1)
		return false
	}
	return true
}

// release returns a slot acquire took.
func (f *inFlight) release(write bool) {
	if f.max == 0 {
		return
	}
	if !write {
		f.read.Add(-1)
	}
	f.all.Add(-1)
}
