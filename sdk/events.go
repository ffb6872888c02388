package sdk

import (
	"context"
	"iter"
	"math/rand/v2"
	"time"

	"connectrpc.com/connect"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
)

// EventType is what happened to a record.
type EventType string

const (
	// EventPublished is a new version of a record: its first, or one whose metadata changed.
	EventPublished EventType = "record.published"
	// EventDeleted is a record deleted at its version.
	EventDeleted EventType = "record.deleted"
	// EventRestored is a deleted record published again under its source and source id: a new
	// version that brings it back.
	EventRestored EventType = "record.restored"
)

// Event is one change of a record, from the server's changefeed.
type Event struct {
	// Cursor is the event's opaque place in the feed: following or listing after it starts
	// with the next event. Keep the cursor of the last event handled to resume from it.
	Cursor string `json:"cursor"`

	// Type is what happened.
	Type EventType `json:"type"`

	// SRN names the record at the version the change made (for a delete, the version deleted).
	SRN string `json:"srn"`

	// Version is the version the SRN names.
	Version int `json:"version"`

	// Source and SourceID are the record's; empty when it has none.
	Source   string `json:"source,omitempty"`
	SourceID string `json:"source_id,omitempty"`

	// CommittedAt is when the change was written, just before its transaction committed.
	CommittedAt time.Time `json:"committed_at"`

	pb *osav1.Event // what it was read from, for Proto
}

// Proto returns the API message e was read from (nil for an Event built by hand).
func (e Event) Proto() *osav1.Event { return e.pb }

func fromEvent(e *osav1.Event) Event {
	return Event{Cursor: e.Cursor, Type: EventType(e.Type), SRN: e.Srn, Version: int(e.Version), Source: e.Source,
		SourceID: e.SourceId, CommittedAt: fromTime(e.CommittedAt), pb: e}
}

// EventPage is one page of [Client.ListEvents].
type EventPage struct {
	// Events are in cursor order.
	Events []Event `json:"events"`
	// NextCursor is where the next page starts; it may pass events that the types filter left
	// out, never one still to come.
	NextCursor string `json:"next_cursor"`
}

// ListEvents returns the page of at most limit events (0: the server's 100) after the cursor
// after ("" starts at the oldest event the server keeps), only those of types when any are
// given. A cursor older than the events the server keeps is an [*Error] with
// [CodeFailedPrecondition]: re-read the records, then follow from a cursor taken before.
func (c *Client) ListEvents(ctx context.Context, after string, limit int, types ...EventType) (*EventPage, error) {
	req := &osav1.ListEventsRequest{After: after, Limit: clamp32(limit), Types: typeStrings(types)}
	res, err := unary(ctx, c, osav1connect.EventServiceListEventsProcedure, true, req, c.events.ListEvents)
	if err != nil {
		return nil, err
	}
	page := &EventPage{Events: make([]Event, len(res.Events)), NextCursor: res.NextCursor}
	for i, e := range res.Events {
		page.Events[i] = fromEvent(e)
	}
	return page, nil
}

// Events follows the changefeed after the cursor after ("" starts at the oldest event the
// server keeps): it yields the events already there, then each new one within moments of its
// commit, for as long as the loop runs, each once and in cursor order. When the stream breaks
// (a dropped connection, a server restart, Unavailable) it opens it again after the last
// cursor it delivered (or the later cursor of a keep-alive), waiting between attempts as
// [WithRetry] says, up to [RetryBackoffMax], without end. It yields an error and stops on
// what retrying cannot mend: a bad cursor or type (CodeInvalidArgument), a cursor older than
// the events kept (CodeFailedPrecondition), missing rights (CodeUnauthenticated,
// CodePermissionDenied). It ends, without an error, when ctx is done. The client's timeout
// does not apply to the stream.
func (c *Client) Events(ctx context.Context, after string, types ...EventType) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		cursor := after
		backoff := c.cfg.retryBackoff
		for {
			req := connect.NewRequest(&osav1.WatchEventsRequest{After: cursor, Types: typeStrings(types)})
			c.setHeaders(req.Header())
			stream, err := c.events.WatchEvents(ctx, req)
			if err == nil {
				for stream.Receive() {
					msg := stream.Msg()
					backoff = c.cfg.retryBackoff // the stream works again
					for _, e := range msg.Events {
						if !yield(fromEvent(e), nil) {
							_ = stream.Close()
							return
						}
						cursor = e.Cursor
					}
					if msg.NextCursor != "" {
						cursor = msg.NextCursor
					}
				}
				err = stream.Err()
				_ = stream.Close()
			}
			if ctx.Err() != nil {
				return
			}
			if err != nil && !retryable(connect.CodeOf(err)) {
				yield(Event{}, toError(osav1connect.EventServiceWatchEventsProcedure, err))
				return
			}
			// A stream the server ended (its shutdown) or one that broke: open it again.
			wait := backoff/2 + rand.N(backoff/2+1)
			backoff = min(2*backoff, RetryBackoffMax)
			if !sleep(ctx, wait) {
				return
			}
		}
	}
}

// retryable reports whether a stream that failed with code may be opened again.
func retryable(code connect.Code) bool {
	switch code {
	case connect.CodeInvalidArgument, connect.CodeFailedPrecondition, connect.CodeUnauthenticated,
		connect.CodePermissionDenied, connect.CodeNotFound, connect.CodeUnimplemented, connect.CodeOutOfRange:
		return false
	}
	return true
}

func typeStrings(types []EventType) []string {
	out := make([]string, len(types))
	for i, t := range types {
		out[i] = string(t)
	}
	return out
}
