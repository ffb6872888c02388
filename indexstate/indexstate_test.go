package indexstate_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/indexstate"
	"github.com/osa-archive/osa/internal/pgtest"
)

// The operations move a row through its states, never back to an older version, and the reads
// report what they wrote.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	a, b := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	for _, id := range []uuid.UUID{a, b} {
		if _, err := pool.Exec(ctx, `INSERT INTO records (id, version, metadata) VALUES ($1, 2, '{}')`, id); err != nil {
			t.Fatal(err)
		}
	}
	inTx := func(f func(pgx.Tx) error) {
		t.Helper()
		if err := pgx.BeginFunc(ctx, pool, f); err != nil {
			t.Fatal(err)
		}
	}
	state := func(id uuid.UUID, backend string) indexstate.Status {
		t.Helper()
		got, err := indexstate.OfRecord(ctx, pool, id)
		if err != nil {
			t.Fatal(err)
		}
		return got[backend]
	}

	if _, err := indexstate.MarkPending(ctx, pool, []uuid.UUID{a, b}, []int32{2, 1}, []string{"kw", "vec"}); err != nil {
		t.Fatal(err)
	}
	if st := state(a, "vec"); st.State != indexstate.Pending || st.Version != 2 || st.IndexedAt != nil {
		t.Fatalf("after MarkPending: %+v, want pending at 2", st)
	}
	inTx(func(tx pgx.Tx) error {
		if err := indexstate.Lock(ctx, tx, "kw", []uuid.UUID{b, a}); err != nil {
			return err
		}
		return indexstate.MarkDone(ctx, tx, "kw", []indexstate.Done{
			{RecordID: a, Version: 2, Attempt: 1}, {RecordID: b, Version: 1, Attempt: 3, Deleted: true}})
	})
	if st := state(a, "kw"); st.State != indexstate.Indexed || st.IndexedVersion != 2 || st.Attempts != 1 || st.IndexedAt == nil {
		t.Fatalf("after MarkDone: %+v, want indexed at 2", st)
	}
	if st := state(b, "kw"); st.State != indexstate.Deleted || st.IndexedVersion != 1 {
		t.Fatalf("after MarkDone of a delete: %+v, want deleted at 1", st)
	}
	// An older version changes nothing: neither pending, nor done, nor a failure.
	if _, err := indexstate.MarkPending(ctx, pool, []uuid.UUID{a}, []int32{1}, []string{"kw"}); err != nil {
		t.Fatal(err)
	}
	inTx(func(tx pgx.Tx) error {
		return indexstate.MarkDone(ctx, tx, "kw", []indexstate.Done{{RecordID: a, Version: 1}})
	})
	if err := indexstate.RecordFailures(ctx, pool, "kw", []indexstate.Failure{{RecordID: a, Version: 1, Attempt: 5, Error: "old", Final: true}}); err != nil {
		t.Fatal(err)
	}
	if st := state(a, "kw"); st.State != indexstate.Indexed || st.IndexedVersion != 2 || st.LastError != "" {
		t.Fatalf("after writes of an older version: %+v, want it indexed at 2, untouched", st)
	}

	// A snooze records its reason and keeps the attempts; a final failure fails the record.
	if err := indexstate.RecordFailures(ctx, pool, "vec", []indexstate.Failure{
		{RecordID: a, Version: 2, Attempt: 4, Error: "provider down", Snoozed: true},
		{RecordID: b, Version: 1, Attempt: 3, Error: "bad text", Final: true},
	}); err != nil {
		t.Fatal(err)
	}
	if st := state(a, "vec"); st.State != indexstate.Pending || st.Attempts != 0 || st.LastError != "provider down" {
		t.Fatalf("after a snooze: %+v, want pending, 0 attempts, the reason", st)
	}
	if st := state(b, "vec"); st.State != indexstate.Failed || st.Attempts != 3 || st.LastError != "bad text" {
		t.Fatalf("after a final failure: %+v, want failed after 3 attempts", st)
	}
	counts, err := indexstate.Counts(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if got := counts["vec"]; got != (indexstate.Count{Pending: 1, Failed: 1}) {
		t.Fatalf("vec counts %+v, want 1 pending and 1 failed", got)
	}
	if got := counts["kw"]; got != (indexstate.Count{Indexed: 1}) {
		t.Fatalf("kw counts %+v, want 1 indexed (the deleted record counts in no state)", got)
	}

	if n, err := indexstate.ResetFailed(ctx, pool, "vec"); err != nil || n != 1 {
		t.Fatalf("ResetFailed: %d, %v; want 1 reset", n, err)
	}
	if st := state(b, "vec"); st.State != indexstate.Pending || st.Attempts != 0 {
		t.Fatalf("after ResetFailed: %+v, want pending with no attempts", st)
	}

	// A rebuilt table holding both records at their versions syncs them indexed.
	if _, err := pool.Exec(ctx, `CREATE TABLE "vec table" (record_id uuid PRIMARY KEY, version int NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO "vec table" VALUES ($1, 2), ($2, 1)`, a, b); err != nil {
		t.Fatal(err)
	}
	if err := indexstate.SyncFromTable(ctx, pool, "vec", "vec table"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uuid.UUID{a, b} {
		if st := state(id, "vec"); st.State != indexstate.Indexed || st.IndexedVersion != st.Version || st.LastError != "" {
			t.Fatalf("after SyncFromTable: %+v, want indexed at its version", st)
		}
	}
	// A backend that never had rows (one backfilled after its records were fanned out) gets them.
	if err := indexstate.SyncFromTable(ctx, pool, "vec2", "vec table"); err != nil {
		t.Fatal(err)
	}
	if st := state(a, "vec2"); st.State != indexstate.Indexed || st.Version != 2 || st.IndexedVersion != 2 {
		t.Fatalf("after SyncFromTable of a new backend: %+v, want a row indexed at 2", st)
	}
	if err := indexstate.SyncFromTable(ctx, pool, "vec", "no such table"); err == nil || !strings.Contains(err.Error(), "no such table") {
		t.Fatalf("SyncFromTable of a missing table: %v, want an error naming it", err)
	}
}

// Settled is true once a backend is done with a version for good or ill, and only then.
func TestStatusSettled(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		st   indexstate.Status
		want bool
	}{
		{"IndexedAtVersion", indexstate.Status{State: indexstate.Indexed, Version: 2, IndexedVersion: 2}, true},
		{"IndexedLater", indexstate.Status{State: indexstate.Indexed, Version: 3, IndexedVersion: 3}, true},
		{"IndexedOlder", indexstate.Status{State: indexstate.Indexed, Version: 1, IndexedVersion: 1}, false},
		{"EmptyAtVersion", indexstate.Status{State: indexstate.Empty, Version: 2, IndexedVersion: 2}, true},
		{"FailedAtVersion", indexstate.Status{State: indexstate.Failed, Version: 2, IndexedVersion: 1}, true},
		{"FailedOlder", indexstate.Status{State: indexstate.Failed, Version: 1}, false},
		{"DeletedAfter", indexstate.Status{State: indexstate.Deleted, Version: 2, IndexedVersion: 2}, true},
		{"DeletedBefore", indexstate.Status{State: indexstate.Deleted, Version: 1, IndexedVersion: 1}, false},
		{"Pending", indexstate.Status{State: indexstate.Pending, Version: 2, IndexedVersion: 1}, false},
		{"PendingNewerHoldingOlder", indexstate.Status{State: indexstate.Pending, Version: 3, IndexedVersion: 2}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.st.Settled(2); got != tc.want {
				t.Fatalf("%+v Settled(2) = %v, want %v", tc.st, got, tc.want)
			}
		})
	}
}

// MarkPending does not wait for a row a backend's write holds: it returns it, and
// MarkBusyPending marks it after that write commits, unless the write reached the version.
func TestMarkPendingBusy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	a, b := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	for _, id := range []uuid.UUID{a, b} {
		if _, err := pool.Exec(ctx, `INSERT INTO records (id, version, metadata) VALUES ($1, 3, '{}')`, id); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := indexstate.MarkPending(ctx, pool, []uuid.UUID{a, b}, []int32{1, 1}, []string{"kw", "vec"}); err != nil {
		t.Fatal(err)
	}
	state := func(id uuid.UUID, backend string) indexstate.Status {
		t.Helper()
		got, err := indexstate.OfRecord(ctx, pool, id)
		if err != nil {
			t.Fatal(err)
		}
		return got[backend]
	}

	// The vec backend is writing a at version 2 and b at version 3 (its write read the record
	// after the change), holding their rows.
	writer, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Rollback(ctx)
	if err := indexstate.Lock(ctx, writer, "vec", []uuid.UUID{a, b}); err != nil {
		t.Fatal(err)
	}

	// The fan-out of version 3 of both does not wait for it.
	fanCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var busy []indexstate.Busy
	if err := pgx.BeginFunc(fanCtx, pool, func(tx pgx.Tx) error {
		busy, err = indexstate.MarkPending(fanCtx, tx, []uuid.UUID{a, b}, []int32{3, 3}, []string{"kw", "vec"})
		return err
	}); err != nil {
		t.Fatalf("MarkPending beside a backend's write: %v, want it done without waiting", err)
	}
	slices.SortFunc(busy, func(x, y indexstate.Busy) int { return bytes.Compare(x.RecordID[:], y.RecordID[:]) })
	if want := []indexstate.Busy{{RecordID: a, Backend: "vec", Version: 3}, {RecordID: b, Backend: "vec", Version: 3}}; !slices.Equal(busy, want) {
		t.Fatalf("busy rows %+v, want %+v", busy, want)
	}
	for _, id := range []uuid.UUID{a, b} {
		if st := state(id, "kw"); st.State != indexstate.Pending || st.Version != 3 {
			t.Fatalf("kw row beside vec's write: %+v, want pending at 3", st)
		}
		if st := state(id, "vec"); st.Version != 1 {
			t.Fatalf("vec row held by its write: %+v, want it untouched at 1", st)
		}
	}

	marked := make(chan error, 1)
	go func() { marked <- indexstate.MarkBusyPending(ctx, pool, busy) }()
	select {
	case err := <-marked:
		t.Fatalf("MarkBusyPending returned (%v) before the write holding its rows committed", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := indexstate.MarkDone(ctx, writer, "vec", []indexstate.Done{{RecordID: a, Version: 2, Attempt: 1}, {RecordID: b, Version: 3, Attempt: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := writer.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-marked; err != nil {
		t.Fatal(err)
	}
	if st := state(a, "vec"); st.State != indexstate.Pending || st.Version != 3 || st.IndexedVersion != 2 {
		t.Fatalf("a after the write of 2 and MarkBusyPending: %+v, want pending at 3, indexed at 2", st)
	}
	if st := state(b, "vec"); st.State != indexstate.Indexed || st.Version != 3 || st.IndexedVersion != 3 {
		t.Fatalf("b written at 3, then MarkBusyPending: %+v, want it left indexed at 3", st)
	}

	// A failure of a version newer than its row (a busy row not yet marked) moves it there.
	if err := indexstate.RecordFailures(ctx, pool, "kw", []indexstate.Failure{{RecordID: a, Version: 4, Attempt: 2, Error: "bad", Final: true}}); err != nil {
		t.Fatal(err)
	}
	if st := state(a, "kw"); st.State != indexstate.Failed || st.Version != 4 || st.LastError != "bad" {
		t.Fatalf("after a final failure of a newer version: %+v, want failed at 4", st)
	}
}
