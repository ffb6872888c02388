package embed

import "testing"

// Against a provider whose room is steady and a process that always has calls waiting, refused
// probes space out the next ones: few 429s over many calls, the limit at the provider's room;
// when the provider gains room, a probe finds it within probeEveryMax calls.
func TestProbesBackOff(t *testing.T) {
	l := newLimiter("test", MaxConcurrencyDefault)
	room := 2
	// round makes as many calls at once as the limit allows, with more waiting, and answers
	// those beyond room with a 429; it returns the calls made and the 429s.
	round := func() (calls, refused int) {
		var ns []int
		for {
			n, ok := l.tryAcquire()
			if !ok {
				break
			}
			ns = append(ns, n)
		}
		l.mu.Lock()
		l.waiting = 1 // more calls wait for a slot
		l.mu.Unlock()
		for _, n := range ns {
			o := outcomeOK
			if n > room {
				o, refused = outcomeRateLimited, refused+1
			}
			l.release(n, o)
		}
		return len(ns), refused
	}
	calls, refused := 0, 0
	for calls < 4000 {
		c, r := round()
		calls, refused = calls+c, refused+r
	}
	t.Logf("room %d: %d calls, %d answered 429 (%.2f %%), limit %d", room, calls, refused, 100*float64(refused)/float64(calls), l.limit)
	if l.limit != room {
		t.Errorf("limit %d after %d calls, want the provider's room %d", l.limit, calls, room)
	}
	// The end of the slow start (two calls over the room in its last round), then the probes
	// after 128, 256, 512, 1024, 1024 successes: 8. A fixed probeEvery of 64 would give 60.
	if refused > 10 {
		t.Errorf("%d of %d calls answered 429, want at most 10", refused, calls)
	}

	room = 3
	found := -1
	for c := 0; c < 4*probeEveryMax; {
		n, _ := round()
		c += n
		if l.limit == room {
			found = c
			break
		}
	}
	if found < 0 || found > 3*probeEveryMax {
		t.Errorf("the limit reached the provider's new room %d after %d calls, want within %d", room, found, 3*probeEveryMax)
	}
}
