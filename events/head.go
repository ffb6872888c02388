package events

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// headSQL reads the place of the last exposed event: the last below the feed's horizon
// ([horizonSQL]), by a backward scan of the primary key.
var headSQL = `
SELECT e.xid::text, e.id FROM record_events e
WHERE e.xid < ` + horizonSQL + `
ORDER BY e.xid DESC, e.id DESC LIMIT 1`

// naiveHeadSQL is headSQL of the naive cursor: the last committed id.
const naiveHeadSQL = `SELECT '0', id FROM record_events ORDER BY id DESC LIMIT 1`

// head follows the place of the feed's last exposed event for every [Feed.Watch] of a feed: one
// statement every Config.PollInterval while at least one Watch runs, however many run, instead
// of one per Watch. A Watch reads its own page only when the head has moved past its cursor
// (or a keep-alive is due). The head only says when to read, never what: a stale head delays a
// read, it cannot skip an event.
type head struct {
	mu       sync.Mutex
	last     Cursor
	changed  chan struct{} // closed, and replaced, when last moves
	watchers int
	stop     context.CancelFunc
	done     chan struct{} // closed when the poller started with stop has returned
}

// join registers a Watch of f, starting the poller for the first one; the returned leave
// unregisters it, and stops the poller (waiting for it) after the last one.
func (h *head) join(f *Feed) (leave func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.changed == nil {
		h.changed = make(chan struct{})
	}
	h.watchers++
	if h.watchers == 1 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		h.stop, h.done = cancel, done
		go h.run(ctx, f, done)
	}
	return sync.OnceFunc(func() {
		h.mu.Lock()
		h.watchers--
		var (
			stop context.CancelFunc
			done chan struct{}
		)
		if h.watchers == 0 {
			stop, done = h.stop, h.done
			h.stop, h.done = nil, nil
		}
		h.mu.Unlock()
		if stop != nil {
			stop()
			<-done
		}
	})
}

// get returns the last place seen and a channel closed when it moves on.
func (h *head) get() (Cursor, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last, h.changed
}

// run polls until ctx ends, then closes done.
func (h *head) run(ctx context.Context, f *Feed, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(f.cfg.PollInterval)
	defer t.Stop()
	for {
		h.poll(ctx, f)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// poll reads the head once and wakes the watchers when it moved. An error is left to the
// watchers' own reads (their keep-alives read too) to report.
func (h *head) poll(ctx context.Context, f *Feed) {
	q := headSQL
	if f.naive {
		q = naiveHeadSQL
	}
	var (
		xid string
		id  int64
	)
	if err := f.pool.QueryRow(ctx, q).Scan(&xid, &id); err != nil {
		return // no event yet (pgx.ErrNoRows), or a failed read
	}
	x, err := strconv.ParseUint(xid, 10, 64)
	if err != nil {
		return
	}
	c := Cursor{XID: x, ID: id}
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.Compare(h.last) > 0 {
		h.last = c
		close(h.changed)
		h.changed = make(chan struct{})
	}
}
