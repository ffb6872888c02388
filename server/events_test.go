package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/events"
	"github.com/osa-archive/osa/internal/pgtest"
)

func eventClient(b *testBundle) osav1connect.EventServiceClient {
	return osav1connect.NewEventServiceClient(http.DefaultClient, b.baseURL)
}

// watch opens a WatchEvents stream with token ("" for none) and returns its messages on a
// channel, closed with the stream; its error, if any, goes to errc.
func watch(ctx context.Context, b *testBundle, req *osav1.WatchEventsRequest, token string) (<-chan *osav1.WatchEventsResponse, <-chan error) {
	r := connect.NewRequest(req)
	if token != "" {
		r.Header().Set("Authorization", "Bearer "+token)
	}
	out, errc := make(chan *osav1.WatchEventsResponse, 1000), make(chan error, 1)
	go func() {
		defer close(out)
		stream, err := eventClient(b).WatchEvents(ctx, r)
		if err != nil {
			errc <- err
			return
		}
		defer stream.Close()
		for stream.Receive() {
			out <- stream.Msg()
		}
		errc <- stream.Err()
	}()
	return out, errc
}

// TestEventsOverHTTP follows a record's life through ListEvents and WatchEvents: published,
// a new version, deleted, restored; the types filter; the stream's first keep-alive and the
// events after it; bad requests name their field.
func TestEventsOverHTTP(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t, func(c *config.Config) { c.Events.KeepAliveInterval = 200 * time.Millisecond })
	rc, ec := recordClient(b), eventClient(b)

	stream, errc := watch(ctx, b, &osav1.WatchEventsRequest{}, "")
	if first := <-stream; first == nil || len(first.Events) != 0 {
		t.Fatalf("first message of the stream = %v, %v; want a keep-alive", first, <-errc)
	}

	pub := func(title string) *osav1.Record {
		t.Helper()
		resp, err := rc.PublishRecord(ctx, connect.NewRequest(&osav1.PublishRecordRequest{
			Metadata: mustStruct(t, map[string]any{"title": title}), Source: "lab", SourceId: "ev-1"}))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Msg.Record
	}
	v1 := pub("Zebrafish fin regeneration")
	v2 := pub("Zebrafish fin regeneration, revised")
	if _, err := rc.DeleteRecord(ctx, connect.NewRequest(&osav1.DeleteRecordRequest{Srn: v2.Srn})); err != nil {
		t.Fatal(err)
	}
	v3 := pub("Zebrafish fin regeneration, revised")
	want := []string{"record.published " + v1.Srn, "record.published " + v2.Srn, "record.deleted " + v2.Srn, "record.restored " + v3.Srn}

	var streamed []string
	for len(streamed) < len(want) {
		select {
		case m, ok := <-stream:
			if !ok {
				t.Fatalf("stream ended: %v", <-errc)
			}
			for _, e := range m.Events {
				streamed = append(streamed, e.Type+" "+e.Srn)
			}
		case <-ctx.Done():
			t.Fatalf("streamed %v, want %v", streamed, want)
		}
	}
	if !slices.Equal(streamed, want) {
		t.Fatalf("streamed %v, want %v", streamed, want)
	}

	resp, err := ec.ListEvents(ctx, connect.NewRequest(&osav1.ListEventsRequest{Limit: 2}))
	if err != nil {
		t.Fatal(err)
	}
	page := resp.Msg
	if len(page.Events) != 2 || page.Events[0].Srn != v1.Srn || page.Events[0].Version != 1 || page.Events[0].Source != "lab" ||
		page.Events[0].SourceId != "ev-1" || page.Events[0].CommittedAt == nil || page.NextCursor != page.Events[1].Cursor {
		t.Fatalf("ListEvents limit 2 = %v", page)
	}
	resp, err = ec.ListEvents(ctx, connect.NewRequest(&osav1.ListEventsRequest{After: page.NextCursor, Types: []string{"record.restored"}}))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Msg.Events) != 1 || resp.Msg.Events[0].Srn != v3.Srn || resp.Msg.NextCursor == "" {
		t.Fatalf("ListEvents of record.restored = %v", resp.Msg)
	}
	// The filter's next_cursor passed the events it left out: nothing follows.
	resp, err = ec.ListEvents(ctx, connect.NewRequest(&osav1.ListEventsRequest{After: resp.Msg.NextCursor}))
	if err != nil || len(resp.Msg.Events) != 0 {
		t.Fatalf("ListEvents after the filtered page = %v, %v; want no events", resp.Msg, err)
	}

	for _, tc := range []struct {
		req   *osav1.ListEventsRequest
		field string
	}{
		{&osav1.ListEventsRequest{After: "nonsense"}, "after"},
		{&osav1.ListEventsRequest{Types: []string{"record.published", "record.updated"}}, "types[1]"},
		{&osav1.ListEventsRequest{Limit: 5000}, "limit"},
	} {
		_, err := ec.ListEvents(ctx, connect.NewRequest(tc.req))
		if field, _ := fieldViolation(t, err); field != tc.field {
			t.Errorf("ListEvents(%v): field %q, want %q", tc.req, field, tc.field)
		}
	}
	_, werr := watch(ctx, b, &osav1.WatchEventsRequest{Types: []string{"record.nope"}}, "")
	if field, _ := fieldViolation(t, <-werr); field != "types[0]" {
		t.Errorf("WatchEvents with a bad type: field %q, want types[0]", field)
	}
}

// listAtLeast pages ListEvents from the start until it has n events: an event is listed once
// every transaction begun before it has ended, and the other tests' transactions, in other
// databases of the cluster, count too.
func listAtLeast(ctx context.Context, t *testing.T, ec osav1connect.EventServiceClient, n int) []*osav1.Event {
	t.Helper()
	var (
		out   []*osav1.Event
		after string
	)
	for len(out) < n {
		resp, err := ec.ListEvents(ctx, connect.NewRequest(&osav1.ListEventsRequest{After: after}))
		if err != nil {
			t.Fatalf("ListEvents: %v (%d events of %d)", err, len(out), n)
		}
		out = append(out, resp.Msg.Events...)
		after = resp.Msg.NextCursor
		if len(resp.Msg.Events) == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	return out
}

// TestEventsAuth: with auth.public_read false the changefeed needs a token with records:read
// (or admin); an anonymous caller and a token without the scope learn nothing, on either RPC.
func TestEventsAuth(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t, withTokens(false))
	for _, tc := range []struct {
		token string
		want  connect.Code
	}{
		{"", connect.CodeUnauthenticated},
		{"osa_not_a_token", connect.CodeUnauthenticated},
		{writerToken, connect.CodePermissionDenied},
		{harvestTok, connect.CodePermissionDenied},
		{readerToken, 0},
		{adminToken, 0},
	} {
		stream, errc := watch(ctx, b, &osav1.WatchEventsRequest{}, tc.token)
		first := <-stream
		var err error
		if first == nil {
			err = <-errc
		}
		if got := connect.CodeOf(err); (tc.want == 0 && err != nil) || (tc.want != 0 && got != tc.want) {
			t.Errorf("WatchEvents with token %q: %v, want code %v", tc.token, err, tc.want)
		}
		req := connect.NewRequest(&osav1.ListEventsRequest{})
		if tc.token != "" {
			req.Header().Set("Authorization", "Bearer "+tc.token)
		}
		_, err = eventClient(b).ListEvents(ctx, req)
		if got := connect.CodeOf(err); (tc.want == 0 && err != nil) || (tc.want != 0 && got != tc.want) {
			t.Errorf("ListEvents with token %q: %v, want code %v", tc.token, err, tc.want)
		}
	}
}

// TestWatchEventsOutlivesWriteTimeout: a stream lasts longer than http.write_timeout, which
// bounds one request, and keeps sending keep-alives, over HTTP/1.1 (Connect) and h2c (gRPC).
func TestWatchEventsOutlivesWriteTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) {
		c.Records.WaitTimeoutDefault, c.Records.WaitTimeoutMax = 500*time.Millisecond, time.Second
		c.HTTP.WriteTimeout = 2 * time.Second
		c.Events.KeepAliveInterval = 200 * time.Millisecond
	})
	for name, client := range map[string]osav1connect.EventServiceClient{
		"Connect": eventClient(b),
		"GRPC":    osav1connect.NewEventServiceClient(h2cClient(), b.baseURL, connect.WithGRPC()),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			stream, err := client.WatchEvents(ctx, connect.NewRequest(&osav1.WatchEventsRequest{}))
			if err != nil {
				t.Fatal(err)
			}
			defer stream.Close()
			start := time.Now()
			n := 0
			for time.Since(start) < 4*time.Second {
				if !stream.Receive() {
					t.Fatalf("the stream ended after %v and %d messages: %v", time.Since(start), n, stream.Err())
				}
				n++
			}
			if n < 5 {
				t.Fatalf("%d keep-alives in %v, want one every 200ms", n, time.Since(start))
			}
		})
	}
}

// TestWatchEventsEndsAtShutdown: an open stream ends cleanly when the server shuts down, so the
// shutdown does not wait http.shutdown_timeout for it, and the client resumes elsewhere.
func TestWatchEventsEndsAtShutdown(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t, func(c *config.Config) { c.HTTP.ShutdownTimeout = 30 * time.Second })
	stream, errc := watch(ctx, b, &osav1.WatchEventsRequest{}, "")
	<-stream // the first keep-alive: the stream is open
	start := time.Now()
	b.stop()
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("the shutdown took %v with a stream open: it waited for the stream", d)
	}
	for range stream {
	}
	if err := <-errc; err != nil {
		t.Fatalf("the stream ended with %v at shutdown, want a clean end", err)
	}
}

// TestEventsCursorExpired: once events are pruned, a cursor before them is FailedPrecondition,
// with how to re-sync; a cursor after them and an empty one still read.
func TestEventsCursorExpired(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t, nil)
	for i := range 3 {
		publish(t, b, fmt.Sprintf("Medaka retina %d", i))
	}
	ec := eventClient(b)
	evs := listAtLeast(ctx, t, ec, 3)

	pool, err := pgxpool.New(ctx, b.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// The first two events are older than the retention; the prune deletes them.
	if _, err := pool.Exec(ctx, `UPDATE record_events SET committed_at = now() - interval '31 days'
		WHERE (xid, id) <= (SELECT xid, id FROM record_events ORDER BY xid, id OFFSET 1 LIMIT 1)`); err != nil {
		t.Fatal(err)
	}
	n, err := events.Prune(ctx, pool, time.Now().Add(-b.cfg.Events.Retention), 1)
	if err != nil || n != 2 {
		t.Fatalf("Prune = %d, %v; want 2 deleted", n, err)
	}

	_, err = ec.ListEvents(ctx, connect.NewRequest(&osav1.ListEventsRequest{After: evs[0].Cursor}))
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeFailedPrecondition || !strings.Contains(ce.Message(), "re-sync") ||
		!strings.Contains(ce.Message(), "(events.retention, 720h)") {
		t.Fatalf("ListEvents after a pruned cursor = %v, want failed_precondition saying how to re-sync", err)
	}
	_, werr := watch(ctx, b, &osav1.WatchEventsRequest{After: evs[0].Cursor}, "")
	if got := connect.CodeOf(<-werr); got != connect.CodeFailedPrecondition {
		t.Fatalf("WatchEvents after a pruned cursor: %v, want failed_precondition", got)
	}
	for _, after := range []string{evs[1].Cursor, ""} {
		resp, err := ec.ListEvents(ctx, connect.NewRequest(&osav1.ListEventsRequest{After: after}))
		if err != nil || len(resp.Msg.Events) != 1 || resp.Msg.Events[0].Cursor != evs[2].Cursor {
			t.Fatalf("ListEvents after %q = %v, %v; want the third event", after, resp, err)
		}
	}
}

// TestEventsBehindTransactionPooler follows and pages the changefeed of a server behind
// PgBouncer in transaction mode (database.transaction_pooler): no statement of the feed needs
// a session.
func TestEventsBehindTransactionPooler(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pooled := pgtest.ThroughPgBouncer(t, pgtest.NewURL(t), 4)
	b := setup(t, func(c *config.Config) {
		c.Database.URL = pooled
		c.Database.TransactionPooler = true
	})
	stream, errc := watch(ctx, b, &osav1.WatchEventsRequest{}, "")
	<-stream // the first keep-alive
	var want []string
	for i := range 3 {
		want = append(want, publish(t, b, fmt.Sprintf("Planarian regeneration %d", i)))
	}
	var got []string
	for len(got) < len(want) {
		select {
		case m, ok := <-stream:
			if !ok {
				t.Fatalf("stream ended after %v: %v", got, <-errc)
			}
			for _, e := range m.Events {
				got = append(got, e.Srn)
			}
		case <-ctx.Done():
			t.Fatalf("streamed %v, want %v", got, want)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("streamed %v, want %v", got, want)
	}
	if listed := listAtLeast(ctx, t, eventClient(b), 3); len(listed) != 3 || listed[2].Srn != want[2] {
		t.Fatalf("listed %v, want the three events", listed)
	}
}
