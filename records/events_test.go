package records_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/events"
	"github.com/osa-archive/osa/internal/pgtest"
	"github.com/osa-archive/osa/records"
)

// TestChangesWriteEvents checks that every change of a record writes its event in its own
// transaction: a new record, a new version, an unchanged upsert (no event), a delete, a second
// delete (no event), a republish of the deleted record (a restore), and a publish whose
// transaction fails (no event).
func TestChangesWriteEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	noop := func(context.Context, pgx.Tx, []records.Change, int) error { return nil }
	store := records.NewStore(pool, noop, records.StoreConfig{})
	feed := events.New(pool, events.Config{})

	plain, err := store.PublishOne(ctx, records.PublishParams{Metadata: []byte(`{"title":"plain"}`)}, records.PriorityInteractive)
	if err != nil {
		t.Fatal(err)
	}
	lab := records.PublishParams{Metadata: []byte(`{"title":"one"}`), Source: "lab", SourceID: "7"}
	v1, err := store.PublishOne(ctx, lab, records.PriorityInteractive)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.PublishOne(ctx, lab, records.PriorityInteractive); err != nil { // unchanged
		t.Fatal(err)
	}
	lab.Metadata = []byte(`{"title":"two"}`)
	if _, err := store.PublishOne(ctx, lab, records.PriorityInteractive); err != nil {
		t.Fatal(err)
	}
	srn := store.SRN(v1.Record)
	if err := store.Delete(ctx, srn); err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(ctx, srn); err != nil { // already deleted
		t.Fatal(err)
	}
	if _, err := store.PublishOne(ctx, lab, records.PriorityInteractive); err != nil { // restores it
		t.Fatal(err)
	}
	failing := records.NewStore(pool, func(context.Context, pgx.Tx, []records.Change, int) error { return errors.New("boom") },
		records.StoreConfig{})
	if _, err := failing.PublishOne(ctx, records.PublishParams{Metadata: []byte(`{"title":"lost"}`)}, records.PriorityInteractive); err == nil {
		t.Fatal("a publish whose enqueue fails succeeded")
	}

	// The feed exposes an event once every transaction begun before it has ended, those of
	// other tests in the cluster too: wait for the five.
	var got []events.Event
	for after := (events.Cursor{}); len(got) < 5; {
		page, err := feed.List(ctx, events.ListParams{After: after})
		if err != nil {
			t.Fatal(err)
		}
		got, after = append(got, page.Events...), page.Next
		if len(page.Events) == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	type ev struct {
		typ     events.Type
		id      string
		version int
		source  string
	}
	want := []ev{
		{events.TypePublished, plain.Record.ID.String(), 1, ""},
		{events.TypePublished, v1.Record.ID.String(), 1, "lab"},
		{events.TypePublished, v1.Record.ID.String(), 2, "lab"},
		{events.TypeDeleted, v1.Record.ID.String(), 2, "lab"},
		{events.TypeRestored, v1.Record.ID.String(), 3, "lab"},
	}
	if len(got) != len(want) {
		t.Fatalf("events = %+v, want %d events", got, len(want))
	}
	for i, e := range got {
		got := ev{e.Type, e.RecordID.String(), e.Version, e.Source}
		if got != want[i] || (e.Source != "" && e.SourceID != "7") || e.CommittedAt.IsZero() {
			t.Errorf("event %d = %+v, want %+v", i, e, want[i])
		}
	}
}
