package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/events"
	"github.com/osa-archive/osa/records"
)

// eventService implements osa.v1.EventService over an [events.Feed].
type eventService struct {
	osav1connect.UnimplementedEventServiceHandler
	domain string
	feed   *events.Feed
	// watchers bounds the open WatchEvents streams (events.max_watchers): a slot per stream.
	watchers chan struct{}
	// stopping is closed when the server shuts down: open streams end then, cleanly, so the
	// shutdown does not wait for them and their clients resume elsewhere.
	stopping <-chan struct{}
}

func (s *eventService) ListEvents(ctx context.Context, req *connect.Request[osav1.ListEventsRequest]) (*connect.Response[osav1.ListEventsResponse], error) {
	p, err := listParams(req.Msg.After, req.Msg.Types, int(req.Msg.Limit))
	if err != nil {
		return nil, err
	}
	page, err := s.feed.List(ctx, p)
	if err != nil {
		return nil, err
	}
	return connect.NewResponse(&osav1.ListEventsResponse{Events: s.toProto(page.Events), NextCursor: page.Next.String()}), nil
}

func (s *eventService) WatchEvents(ctx context.Context, req *connect.Request[osav1.WatchEventsRequest], stream *connect.ServerStream[osav1.WatchEventsResponse]) error {
	p, err := listParams(req.Msg.After, req.Msg.Types, s.feed.Config().PageLimitMax)
	if err != nil {
		return err
	}
	select {
	case s.watchers <- struct{}{}:
		defer func() { <-s.watchers }()
	default:
		return connect.NewError(connect.CodeResourceExhausted, fmt.Errorf("the server has as many WatchEvents streams open "+
			"as it takes (events.max_watchers %d); try again later, or page with ListEvents", cap(s.watchers)))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	err = s.feed.Watch(ctx, p, func(page events.Page) error {
		return stream.Send(&osav1.WatchEventsResponse{Events: s.toProto(page.Events), NextCursor: page.Next.String()})
	})
	select {
	case <-s.stopping:
		return nil // the end of a stream at shutdown is not an error: the client resumes
	default:
	}
	return err
}

// listParams reads the fields a ListEvents and a WatchEvents request share.
func listParams(after string, types []string, limit int) (events.ListParams, error) {
	c, err := events.ParseCursor("after", after)
	if err != nil {
		return events.ListParams{}, err
	}
	p := events.ListParams{After: c, Limit: limit}
	for _, t := range types {
		p.Types = append(p.Types, events.Type(t))
	}
	return p, nil
}

func (s *eventService) toProto(evs []events.Event) []*osav1.Event {
	out := make([]*osav1.Event, len(evs))
	for i, e := range evs {
		out[i] = &osav1.Event{
			Cursor:      e.Cursor.String(),
			Type:        string(e.Type),
			Srn:         records.SRN{Domain: s.domain, ID: e.RecordID, Version: e.Version}.String(),
			Version:     int32(e.Version),
			Source:      e.Source,
			SourceId:    e.SourceID,
			CommittedAt: timestamppb.New(e.CommittedAt),
		}
	}
	return out
}

// withoutDeadlines lifts http.read_timeout and http.write_timeout from the requests of next, a
// stream that lasts as long as its client wants (WatchEvents): those timeouts bound one request,
// and would cut a stream after http.write_timeout. Keep-alives keep the stream busy instead.
func withoutDeadlines(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Time{})  // not every writer supports it; then the server's timeouts hold
		_ = rc.SetWriteDeadline(time.Time{}) // idem
		next.ServeHTTP(w, r)
	})
}
