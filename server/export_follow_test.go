package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/records"
)

// exportRPC runs ExportRecords and returns the file and the cursor.
func exportRPC(ctx context.Context, t *testing.T, b *testBundle, req *osav1.ExportRecordsRequest) ([]byte, string) {
	t.Helper()
	stream, err := recordClient(b).ExportRecords(ctx, connect.NewRequest(req))
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Close()
	var (
		file           bytes.Buffer
		cursor         string
		total, records int64
	)
	for i := 0; stream.Receive(); i++ {
		m := stream.Msg()
		if i == 0 {
			cursor, total = m.Cursor, m.Total
			if len(m.Data) != 0 {
				t.Fatalf("the first message of an export carries data")
			}
			continue
		}
		file.Write(m.Data)
		records += m.Records
	}
	if err := stream.Err(); err != nil {
		t.Fatalf("ExportRecords: %v", err)
	}
	if records != total || int64(bytes.Count(file.Bytes(), []byte("\n"))) < total {
		t.Fatalf("the export counted %d records and sent %d in %d lines", total, records, bytes.Count(file.Bytes(), []byte("\n")))
	}
	return file.Bytes(), cursor
}

// exported is a record as an export holds it.
type exported struct {
	version int
	deleted bool
}

// readExport reads a JSONL export into its records' versions and tombstones.
func readExport(t *testing.T, file []byte) map[uuid.UUID]exported {
	t.Helper()
	out := map[uuid.UUID]exported{}
	sc := bufio.NewScanner(bytes.NewReader(file))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct {
			Record struct {
				Srn       string `json:"srn"`
				Version   int    `json:"version"`
				DeletedAt string `json:"deletedAt"`
			} `json:"record"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		srn, err := records.ParseSRN(line.Record.Srn)
		if err != nil || srn.Version != line.Record.Version {
			t.Fatalf("export line %q: srn %v", sc.Text(), err)
		}
		if _, dup := out[srn.ID]; dup {
			t.Fatalf("record %s is twice in the export", srn.ID)
		}
		out[srn.ID] = exported{version: line.Record.Version, deleted: line.Record.DeletedAt != ""}
	}
	return out
}

// TestExportThenFollow is issue 20's export-then-follow test: while 8 writers publish new
// records, new versions (half of them holding their transaction open up to 100 ms, so that
// transactions commit out of xid order around the snapshot) and deletes, three exports run;
// each is then followed with ListEvents from its cursor. Applied to the export, the events give
// the archive's final state; every version the export lacks is delivered once, and no event
// delivers a change the export already held.
func TestExportThenFollow(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	b := setup(t, nil)
	pool, err := pgxpool.New(ctx, b.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store := records.NewStore(pool, func(context.Context, pgx.Tx, []records.Change, int) error { return nil },
		records.StoreConfig{Domain: b.cfg.Node.Domain})

	var seq atomic.Int64
	publish := func(hold time.Duration, params []records.PublishParams) []records.PublishResult {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Error(err)
			return nil
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // committed below
		res, err := store.PublishTx(ctx, tx, params, records.PriorityInteractive)
		if err != nil {
			t.Error(err)
			return nil
		}
		time.Sleep(hold)
		if err := tx.Commit(ctx); err != nil {
			t.Error(err)
			return nil
		}
		return res
	}
	meta := func(w int) []byte { return fmt.Appendf(nil, `{"title": "writer %d change %d"}`, w, seq.Add(1)) }
	// A first set, so that the exports hold records to change.
	for w := range 8 {
		for i := range 10 {
			publish(0, []records.PublishParams{{Metadata: meta(w), Source: "lab", SourceID: fmt.Sprintf("w%d-%d", w, i)}})
		}
	}

	stop := make(chan struct{})
	var writers sync.WaitGroup
	for w := range 8 {
		writers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var hold time.Duration
				if w%2 == 0 {
					hold = rand.N(100 * time.Millisecond)
				}
				switch rand.N(5) {
				case 0: // a record without a source: always new
					publish(hold, []records.PublishParams{{Metadata: meta(w)}})
				case 1: // a delete of one of the writer's records
					res := publish(0, []records.PublishParams{{Metadata: meta(w), Source: "lab", SourceID: fmt.Sprintf("w%d-%d", w, rand.N(20))}})
					if len(res) == 1 {
						if err := store.Delete(ctx, store.SRN(res[0].Record)); err != nil {
							t.Error(err)
						}
					}
				default: // new versions, new records and restores of deleted ones, 1-3 in a transaction
					var params []records.PublishParams
					for j := range 1 + rand.N(3) {
						params = append(params, records.PublishParams{Metadata: meta(w), Source: "lab",
							SourceID: fmt.Sprintf("w%d-%d", w, (i+j)%20)})
					}
					publish(hold, params)
				}
			}
		})
	}

	type run struct {
		file   []byte
		cursor string
	}
	var runs []run
	for range 3 {
		time.Sleep(300 * time.Millisecond)
		file, cursor := exportRPC(ctx, t, b, &osav1.ExportRecordsRequest{IncludeDeleted: true})
		runs = append(runs, run{file, cursor})
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	writers.Wait()
	if t.Failed() {
		t.FailNow()
	}
	sentinel := publish(0, []records.PublishParams{{Metadata: []byte(`{"title": "the end"}`), Source: "lab", SourceID: "sentinel"}})[0]

	// The archive's final state, and every version it ever had.
	final := map[uuid.UUID]exported{}
	rows, _ := pool.Query(ctx, `SELECT id, version, deleted_at IS NOT NULL FROM records`)
	var (
		id      uuid.UUID
		version int
		deleted bool
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &version, &deleted}, func() error {
		final[id] = exported{version: version, deleted: deleted}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	versions := map[uuid.UUID][]int{}
	rows, _ = pool.Query(ctx, `SELECT record_id, version FROM record_versions ORDER BY record_id, version`)
	if _, err := pgx.ForEachRow(rows, []any{&id, &version}, func() error {
		versions[id] = append(versions[id], version)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	for i, r := range runs {
		snapshot := readExport(t, r.file)
		state := map[uuid.UUID]exported{}
		for id, e := range snapshot {
			state[id] = e
		}
		delivered := map[string]bool{}
		var applied, skippedOlder int
		after := r.cursor
	follow:
		for {
			resp, err := eventClient(b).ListEvents(ctx, connect.NewRequest(&osav1.ListEventsRequest{After: after, Limit: 200}))
			if err != nil {
				t.Fatalf("export %d: ListEvents: %v", i, err)
			}
			for _, e := range resp.Msg.Events {
				srn, err := records.ParseSRN(e.Srn)
				if err != nil {
					t.Fatal(err)
				}
				key := e.Type + " " + e.Srn
				if delivered[key] {
					t.Errorf("export %d: %s delivered twice", i, key)
				}
				delivered[key] = true
				held, ok := snapshot[srn.ID]
				switch e.Type {
				case "record.published", "record.restored":
					if ok && srn.Version <= held.version {
						t.Errorf("export %d: %s delivered, but the export holds version %d", i, key, held.version)
					}
				case "record.deleted":
					if ok && held.deleted && held.version == srn.Version {
						t.Errorf("export %d: %s delivered, but the export holds the tombstone", i, key)
					}
				}
				// Apply with a version guard: the feed's order is xid order, not commit order.
				cur := state[srn.ID]
				switch {
				case e.Type == "record.deleted" && srn.Version >= cur.version:
					state[srn.ID] = exported{version: srn.Version, deleted: true}
				case e.Type != "record.deleted" && srn.Version > cur.version:
					state[srn.ID] = exported{version: srn.Version}
				default:
					skippedOlder++
				}
				applied++
				if srn.ID == sentinel.Record.ID {
					break follow
				}
			}
			after = resp.Msg.NextCursor
			if len(resp.Msg.Events) == 0 {
				time.Sleep(10 * time.Millisecond)
			}
		}
		// Every version the export lacks was delivered, and only those.
		for id, vs := range versions {
			for _, v := range vs {
				srn := records.SRN{Domain: b.cfg.Node.Domain, ID: id, Version: v}.String()
				want := v > snapshot[id].version
				got := delivered["record.published "+srn] || delivered["record.restored "+srn]
				if want != got {
					t.Errorf("export %d: version %s: delivered %v, want %v (the export holds version %d)", i, srn, got, want, snapshot[id].version)
				}
			}
		}
		var diffs []string
		for id, f := range final {
			if state[id] != f {
				diffs = append(diffs, fmt.Sprintf("%s: export+events %+v, archive %+v", id, state[id], f))
			}
		}
		if len(state) != len(final) || len(diffs) > 0 {
			t.Fatalf("export %d (%d records) then %d events: %d records, the archive %d; differences:\n%s", i, len(snapshot), applied,
				len(state), len(final), strings.Join(diffs, "\n"))
		}
		t.Logf("export %d: %d records, then %d events (%d older than a version already applied) give the archive's %d records",
			i, len(snapshot), applied, skippedOlder, len(final))
	}
}
