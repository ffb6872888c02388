package server_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/events"
	"github.com/osa-archive/osa/records"
)

// TestEventsNoGapsOverRPC is issue 20's gap test end to end: 16 publishers write through the
// record store on the server's database, half of them holding their transaction open for a
// random 0–200 ms after the write (one in ten rolling back), while one consumer follows
// WatchEvents and another pages ListEvents over HTTP. Both see every committed version once,
// in cursor order, and no rolled-back one. (events TestNoGaps runs the same load against the
// naive sequence cursor, which misses events.)
func TestEventsNoGapsOverRPC(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := setup(t, nil)
	pool, err := pgxpool.New(ctx, b.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := records.NewStore(pool, func(context.Context, pgx.Tx, []records.Change, int) error { return nil },
		records.StoreConfig{Domain: b.cfg.Node.Domain})

	const sentinel = "sentinel"
	type delivered struct {
		name  string
		srns  []string
		order int // events not after the one before
	}
	consume := func(d *delivered, evs []*osav1.Event, last *events.Cursor) bool {
		done := false
		for _, e := range evs {
			c, err := events.ParseCursor("cursor", e.Cursor)
			if err != nil || c.Compare(*last) <= 0 {
				d.order++
			}
			*last = c
			d.srns = append(d.srns, e.Srn)
			done = done || e.SourceId == sentinel
		}
		return done
	}
	watcher, lister := &delivered{name: "WatchEvents"}, &delivered{name: "ListEvents"}
	var consumers sync.WaitGroup
	consumers.Go(func() {
		stream, errc := watch(ctx, b, &osav1.WatchEventsRequest{}, "")
		var last events.Cursor
		for m := range stream {
			if consume(watcher, m.Events, &last) {
				return
			}
		}
		t.Errorf("WatchEvents ended before the sentinel: %v", <-errc)
	})
	consumers.Go(func() {
		var (
			after string
			last  events.Cursor
		)
		for ctx.Err() == nil {
			resp, err := eventClient(b).ListEvents(ctx, connect.NewRequest(&osav1.ListEventsRequest{After: after, Limit: 5}))
			if err != nil {
				t.Errorf("ListEvents: %v", err)
				return
			}
			if consume(lister, resp.Msg.Events, &last) {
				return
			}
			after = resp.Msg.NextCursor
			if len(resp.Msg.Events) == 0 {
				time.Sleep(5 * time.Millisecond)
			}
		}
	})

	var (
		mu        sync.Mutex
		committed = map[string]bool{}
	)
	publish := func(hold time.Duration, rollback bool, params []records.PublishParams) {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Error(err)
			return
		}
		defer tx.Rollback(context.WithoutCancel(ctx))
		res, err := store.PublishTx(ctx, tx, params, records.PriorityInteractive)
		if err != nil {
			t.Error(err)
			return
		}
		time.Sleep(hold)
		if rollback {
			return
		}
		if err := tx.Commit(ctx); err != nil {
			t.Error(err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		for _, r := range res {
			committed[store.SRN(r.Record).String()] = true
		}
	}
	var publishers sync.WaitGroup
	for p := range 16 {
		publishers.Go(func() {
			for i := range 12 {
				var hold time.Duration
				if p%2 == 0 {
					hold = rand.N(200 * time.Millisecond)
				}
				// Upserts of a few source ids per publisher: new records and new versions.
				var params []records.PublishParams
				for j := range 1 + rand.N(3) {
					params = append(params, records.PublishParams{Metadata: []byte(fmt.Sprintf(`{"title": "p%d i%d j%d"}`, p, i, j)),
						Source: "lab", SourceID: fmt.Sprintf("p%d-%d", p, (i+j)%4)})
				}
				publish(hold, rand.N(10) == 0, params)
			}
		})
	}
	publishers.Wait()
	publish(0, false, []records.PublishParams{{Metadata: []byte(`{"title": "the end"}`), Source: "lab", SourceID: sentinel}})
	consumers.Wait()

	for _, d := range []*delivered{watcher, lister} {
		seen := map[string]int{}
		for _, srn := range d.srns {
			seen[srn]++
		}
		missing, dup, extra := 0, 0, 0
		for srn := range committed {
			if seen[srn] == 0 {
				missing++
			}
		}
		for srn, n := range seen {
			if n > 1 {
				dup++
			}
			if !committed[srn] {
				extra++
			}
		}
		if missing+dup+extra+d.order > 0 {
			t.Errorf("%s: %d of %d committed versions missing, %d delivered twice, %d not committed, %d out of cursor order",
				d.name, missing, len(committed), dup, extra, d.order)
		}
	}
}
