package records_test

import (
	"context"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/internal/pgtest"
	"github.com/osa-archive/osa/records"
)

// TestPublishCall publishes one call that holds every kind of record — new without a source,
// unchanged, a restore of a deleted record, a new version, new with a source — and one that
// names a (source, source_id) twice: results come in the order of the call, the changes handed
// to the fan-out and the events are those of the records that changed, in that order.
func TestPublishCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	var enqueued [][]records.Change
	store := records.NewStore(pool, func(_ context.Context, _ pgx.Tx, cs []records.Change, _ int) error {
		enqueued = append(enqueued, slices.Clone(cs))
		return nil
	}, records.StoreConfig{})
	pub := func(ps ...records.PublishParams) []records.PublishResult {
		t.Helper()
		res, err := store.Publish(ctx, ps, records.PriorityInteractive)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	lab := func(id, title string) records.PublishParams {
		return records.PublishParams{Metadata: []byte(`{"title":"` + title + `"}`), Source: "lab", SourceID: id}
	}
	first := pub(lab("1", "a"), lab("2", "b"), lab("5", "e"))
	if err := store.Delete(ctx, store.SRN(first[1].Record)); err != nil {
		t.Fatal(err)
	}
	enqueued = nil

	res := pub(records.PublishParams{Metadata: []byte(`{"title":"plain"}`)}, lab("1", "a"), lab("2", "b"), lab("3", "c"), lab("5", "e2"))
	type want struct {
		id        uuid.UUID // uuid.Nil: a new record
		version   int
		unchanged bool
		title     string
	}
	for i, w := range []want{{uuid.Nil, 1, false, "plain"}, {first[0].Record.ID, 1, true, "a"}, {first[1].Record.ID, 2, false, "b"},
		{uuid.Nil, 1, false, "c"}, {first[2].Record.ID, 2, false, "e2"}} {
		r := res[i]
		if (w.id != uuid.Nil && r.Record.ID != w.id) || (w.id == uuid.Nil && slices.ContainsFunc(first, func(f records.PublishResult) bool {
			return f.Record.ID == r.Record.ID
		})) || r.Record.Version != w.version || r.Unchanged != w.unchanged || string(r.Record.Metadata) != `{"title": "`+w.title+`"}` ||
			r.Record.CreatedAt.IsZero() || r.Record.UpdatedAt.IsZero() {
			t.Errorf("record %d = %+v (metadata %s), want %+v", i, r, r.Record.Metadata, w)
		}
	}
	wantChanges := []records.Change{{RecordID: res[0].Record.ID, Version: 1}, {RecordID: res[2].Record.ID, Version: 2},
		{RecordID: res[3].Record.ID, Version: 1}, {RecordID: res[4].Record.ID, Version: 2}}
	if len(enqueued) != 1 || !slices.Equal(enqueued[0], wantChanges) {
		t.Errorf("enqueued %v, want one call of %v", enqueued, wantChanges)
	}
	type ev struct {
		typ     string
		version int
	}
	var evs []ev
	for _, c := range wantChanges {
		var e ev
		if err := pool.QueryRow(ctx, `SELECT type, version FROM record_events WHERE record_id = $1 ORDER BY xid DESC, id DESC LIMIT 1`,
			c.RecordID).Scan(&e.typ, &e.version); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, e)
	}
	if want := []ev{{"record.published", 1}, {"record.restored", 2}, {"record.published", 1}, {"record.published", 2}}; !slices.Equal(evs, want) {
		t.Errorf("events %v, want %v", evs, want)
	}
	var versions int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM record_versions`).Scan(&versions); err != nil || versions != 7 {
		t.Errorf("%d record versions (%v), want 7", versions, err)
	}

	// The same source record twice in a call: the second publish sees the first.
	enqueued = nil
	twice := pub(lab("4", "x"), lab("4", "y"), lab("4", "y"))
	if twice[0].Record.ID != twice[1].Record.ID || twice[0].Record.Version != 1 || twice[1].Record.Version != 2 ||
		!twice[2].Unchanged || twice[2].Record.Version != 2 {
		t.Errorf("the same record three times: %+v", twice)
	}
	if len(enqueued) != 1 || len(enqueued[0]) != 2 {
		t.Errorf("enqueued %v, want the two versions", enqueued)
	}
}
