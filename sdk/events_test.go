package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/osa-archive/osa/sdk"
)

// TestEventsResumes follows the changefeed through a proxy that drops every connection halfway:
// Events opens the stream again after the last cursor it delivered, and the loop sees every
// event once, in order.
func TestEventsResumes(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	base := newServer(t, nil)
	direct := newClient(t, base)

	target, _ := url.Parse(base)
	var conns atomic.Int32
	proxy := httptest.NewUnstartedServer(&httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target) },
		FlushInterval: -1, // a stream's messages go through at once
	})
	proxy.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	proxy.Start()
	defer proxy.Close()
	follower := newClient(t, proxy.URL, sdk.WithRetry(3, 20*time.Millisecond))

	publish := func(from, to int) []string {
		var srns []string
		for i := from; i < to; i++ {
			rec, err := direct.Publish(ctx, sdk.PublishParams{Metadata: map[string]any{"title": fmt.Sprintf("Axolotl limb %d", i)}})
			if err != nil {
				t.Fatal(err)
			}
			srns = append(srns, rec.SRN)
		}
		return srns
	}
	want := publish(0, 5)

	got := make(chan sdk.Event, 100)
	errc := make(chan error, 1)
	followCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		defer close(got)
		for e, err := range follower.Events(followCtx, "") {
			if err != nil {
				errc <- err
				return
			}
			got <- e
		}
	}()
	receive := func(n int) []string {
		var srns []string
		for len(srns) < n {
			select {
			case e, ok := <-got:
				if !ok {
					t.Fatalf("Events ended after %d events: %v", len(srns), <-errc)
				}
				if e.Type != sdk.EventPublished || e.Version != 1 || e.Cursor == "" || e.CommittedAt.IsZero() {
					t.Fatalf("event = %+v", e)
				}
				srns = append(srns, e.SRN)
			case <-ctx.Done():
				t.Fatalf("received %d of %d events", len(srns), n)
			}
		}
		return srns
	}
	seen := receive(5)
	proxy.CloseClientConnections()
	want = append(want, publish(5, 10)...)
	seen = append(seen, receive(5)...)
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("events %v, want %v", seen, want)
		}
	}
	select {
	case e := <-got:
		t.Fatalf("an extra event: %+v", e)
	case <-time.After(200 * time.Millisecond):
	}
	if n := conns.Load(); n < 2 {
		t.Fatalf("%d connections to the proxy: the stream was never opened again", n)
	}

	page, err := follower.ListEvents(ctx, "", 4)
	if err != nil || len(page.Events) != 4 || page.Events[0].SRN != want[0] || page.NextCursor != page.Events[3].Cursor {
		t.Fatalf("ListEvents = %+v, %v", page, err)
	}
	page, err = follower.ListEvents(ctx, page.NextCursor, 0, sdk.EventDeleted)
	if err != nil || len(page.Events) != 0 || page.NextCursor == "" {
		t.Fatalf("ListEvents of deletes = %+v, %v; want none", page, err)
	}
}

// TestEventsStopsOnBadCursor: what retrying cannot mend ends the loop with an error naming the
// field.
func TestEventsStopsOnBadCursor(t *testing.T) {
	t.Parallel()
	c := newClient(t, serverURL)
	n := 0
	for _, err := range c.Events(testContext(t), "not-a-cursor") {
		n++
		var se *sdk.Error
		if !errors.As(err, &se) || se.Code != sdk.CodeInvalidArgument || se.Field != "after" {
			t.Fatalf("Events with a bad cursor yielded %v, want invalid_argument on after", err)
		}
	}
	if n != 1 {
		t.Fatalf("Events with a bad cursor yielded %d times, want one error", n)
	}
}
