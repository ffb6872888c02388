package events

import (
	"context"
	"time"
)

// Watch replays the events after p.After, then follows new ones as they become final, handing
// each page to send: a page of events as soon as a read finds some, and a page with no events
// (a keep-alive, whose Next is the feed's head) first and after every Config.KeepAliveInterval
// of silence. It reads again at once after a full page, else every Config.PollInterval; each
// read is one statement, no connection is held between reads. It returns when ctx ends (with
// ctx's error), when send fails (with its error) or when a read fails; errors of p are those of
// [Feed.List].
func (f *Feed) Watch(ctx context.Context, p ListParams, send func(Page) error) error {
	limit, types, err := f.check(p)
	if err != nil {
		return err
	}
	after := p.After
	var lastSent time.Time // zero: the first read always sends
	poll := time.NewTimer(0)
	defer poll.Stop()
	for {
		page, err := f.list(ctx, after, types, limit)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if len(page.Events) > 0 || time.Since(lastSent) >= f.cfg.KeepAliveInterval {
			if err := send(page); err != nil {
				return err
			}
			lastSent = time.Now()
		}
		after = page.Next
		if len(page.Events) == limit {
			continue // more may be waiting
		}
		poll.Reset(f.cfg.PollInterval)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-poll.C:
		}
	}
}
