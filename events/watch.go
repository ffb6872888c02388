package events

import (
	"context"
	"time"
)

// Watch replays the events after p.After, then follows new ones as they become final, handing
// each page to send: a page of events as soon as a read finds some, and a page with no events
// (a keep-alive, whose Next is the feed's head) first and after every Config.KeepAliveInterval
// of silence. It reads again at once after a full page; otherwise it reads when the feed's
// head, which one poller per Feed reads every Config.PollInterval for all its Watches, has
// moved past its cursor, or when a keep-alive is due. Each read is one statement; no
// connection is held between reads. It returns when ctx ends (with ctx's error), when send
// fails (with its error) or when a read fails; errors of p are those of [Feed.List].
func (f *Feed) Watch(ctx context.Context, p ListParams, send func(Page) error) error {
	limit, types, err := f.check(p)
	if err != nil {
		return err
	}
	leave := f.head.join(f)
	defer leave()
	keepAlive := time.NewTimer(f.cfg.KeepAliveInterval)
	defer keepAlive.Stop()
	after := p.After
	read, mustSend := true, true // the first read always sends
	for {
		if read {
			page, err := f.list(ctx, f.pool, after, types, limit)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return err
			}
			if len(page.Events) > 0 || mustSend {
				if err := send(page); err != nil {
					return err
				}
				keepAlive.Reset(f.cfg.KeepAliveInterval)
			}
			after, read, mustSend = page.Next, false, false
			if len(page.Events) == limit {
				read = true // more may be waiting
				continue
			}
		}
		last, changed := f.head.get()
		if last.Compare(after) > 0 {
			read = true
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
			// the head moved: read if it passed the cursor (checked above)
		case <-keepAlive.C:
			read, mustSend = true, true
		}
	}
}
