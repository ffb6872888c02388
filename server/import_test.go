package server_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/sdk"
)

// sdkClient returns an SDK client of b's server with token ("" for none).
func sdkClient(t *testing.T, b *testBundle, token string) *sdk.Client {
	t.Helper()
	opts := []sdk.Option{}
	if token != "" {
		opts = append(opts, sdk.WithToken(token))
	}
	c, err := sdk.New(b.baseURL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// exportAll exports every record of c's server, tombstones included.
func exportAll(ctx context.Context, t *testing.T, c *sdk.Client) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := c.Export(ctx, &buf, &sdk.ExportOpts{IncludeDeleted: true}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestImportRoundTrip: an export of an archive with versions, sources, tombstones and restores,
// imported into an empty archive, exports again as the same bytes; every SRN, @version
// included, answers there as it did; every backend indexes the records through a rebuild
// (searches find them); importing again changes nothing.
func TestImportRoundTrip(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a, b := setup(t, nil), setup(t, nil)
	ca, cb := sdkClient(t, a, ""), sdkClient(t, b, "")

	var srns []string
	for i := range 30 {
		p := sdk.PublishParams{Metadata: map[string]any{"title": fmt.Sprintf("Zebrafish fin regeneration %d", i), "n": i, "x": 1.50}}
		if i%3 != 0 {
			p.Source, p.SourceID = "lab", fmt.Sprintf("ZF-%d", i)
		}
		rec, err := ca.Publish(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		srns = append(srns, rec.SRN)
		if i%3 == 1 { // a second version
			p.Metadata["title"] = fmt.Sprintf("Zebrafish fin regrowth %d", i)
			if rec, err = ca.Publish(ctx, p); err != nil {
				t.Fatal(err)
			}
			srns = append(srns, rec.SRN)
		}
		if i%5 == 0 {
			if err := ca.Delete(ctx, rec.SRN); err != nil {
				t.Fatal(err)
			}
		}
		if i == 10 { // deleted, then restored at version 3
			if err := ca.Delete(ctx, rec.SRN); err != nil {
				t.Fatal(err)
			}
			if rec, err = ca.Publish(ctx, p); err != nil {
				t.Fatal(err)
			}
			srns = append(srns, rec.SRN)
		}
	}
	first := exportAll(ctx, t, ca)

	res, err := cb.Import(ctx, bytes.NewReader(first), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Lines != 30 || res.Imported != 30 || res.Failed+res.Skipped+res.Unchanged != 0 || len(res.Reindexes) != 2 {
		t.Fatalf("import: %+v", res)
	}
	for _, j := range res.Reindexes {
		if done, err := cb.WaitReindex(ctx, j.ID, nil); err != nil || done.State != sdk.ReindexSucceeded {
			t.Fatalf("rebuild %s after the import: %+v, %v", j.Backend, done, err)
		}
	}
	second := exportAll(ctx, t, cb)
	if !bytes.Equal(first, second) {
		t.Fatalf("export, import, export: the bytes differ\nfirst:\n%s\nsecond:\n%s", first, second)
	}
	for _, srn := range srns {
		ra, err := ca.Get(ctx, srn)
		if err != nil {
			t.Fatal(err)
		}
		rb, err := cb.Get(ctx, srn)
		if err != nil || !equalRecords(ra, rb) {
			t.Errorf("GetRecord %s: %+v, %v; the exported archive answers %+v", srn, rb, err, ra)
		}
	}
	// Every backend indexed them: keyword and vector searches find a live record.
	for _, mode := range []string{"keyword", "vector"} {
		hits, err := cb.Search(ctx, "Zebrafish fin regeneration 3", &sdk.SearchOpts{Mode: sdk.SearchMode(mode), Limit: 50})
		if err != nil || len(hits.Hits) == 0 {
			t.Errorf("%s search after the import: %+v, %v", mode, hits, err)
		}
	}
	st, err := cb.IndexStatus(ctx, srns[len(srns)-1])
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Backends {
		if s.State != sdk.IndexIndexed {
			t.Errorf("index status after the import's rebuild: %+v", st.Backends)
		}
	}

	again, err := cb.Import(ctx, bytes.NewReader(first), nil)
	if err != nil || again.Unchanged != 30 || again.Imported != 0 || again.Failed != 0 || len(again.Reindexes) != 0 {
		t.Fatalf("the same import again: %+v, %v", again, err)
	}
}

// equalRecords reports whether two records read from two archives are the same.
func equalRecords(a, b *sdk.Record) bool {
	return a.SRN == b.SRN && a.Version == b.Version && fmt.Sprint(a.Metadata) == fmt.Sprint(b.Metadata) && a.Source == b.Source &&
		a.SourceID == b.SourceID && a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt) &&
		(a.DeletedAt == nil) == (b.DeletedAt == nil) && (a.DeletedAt == nil || a.DeletedAt.Equal(*b.DeletedAt))
}

// TestImportBadLines: bad lines are reported with their numbers and the field at fault, and
// nothing from them is written; conflicts with the archive's records are failed lines, or
// skipped ones with on_conflict skip; the good lines are imported either way.
func TestImportBadLines(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t, nil)
	c := sdkClient(t, b, "")
	existing, err := c.Publish(ctx, sdk.PublishParams{Metadata: map[string]any{"title": "already here"}, Source: "lab", SourceID: "X-1"})
	if err != nil {
		t.Fatal(err)
	}
	good := func(id, title string) string {
		return fmt.Sprintf(`{"record":{"srn":"urn:osa:localhost:rec:%s@1","version":1,"metadata":{"title":%q},"createdAt":"2024-05-01T10:00:00Z","updatedAt":"2024-05-01T10:00:00Z"}}`, id, title)
	}
	lines := []string{
		good("0190b2a4-7c1e-7cc0-9d2a-6d3c1f0a9e11", "good one"),
		`{"record": {"srn": "urn:osa:localhost:rec:0190b2a4-7c1e-7cc0-9d2a-6d3c1f0a9e12@1"`, // cut short
		strings.Replace(good("0190b2a4-7c1e-7cc0-9d2a-6d3c1f0a9e13", "x"), `{"title":"x"}`, `["not", "an object"]`, 1),
		strings.Replace(good("0190b2a4-7c1e-7cc0-9d2a-6d3c1f0a9e14", "x"), "localhost", "elsewhere.org", 1),
		strings.Replace(good("0190b2a4-7c1e-7cc0-9d2a-6d3c1f0a9e15", "x"), `@1","version":1`, `@2","version":2`, 1),
		strings.Replace(good("0190b2a4-7c1e-7cc0-9d2a-6d3c1f0a9e16", "x"), `"createdAt":"2024-05-01T10:00:00Z"`, `"createdAt":"yesterday"`, 1),
		"",
		strings.Replace(good("0190b2a4-7c1e-7cc0-9d2a-6d3c1f0a9e17", "x"), `"version":1,`, `"version":1,"colour":"red",`, 1),
		strings.Replace(good(strings.TrimPrefix(strings.Split(existing.SRN, "@")[0], "urn:osa:localhost:rec:"), "a different title"), "", "", 1),
		good("0190b2a4-7c1e-7cc0-9d2a-6d3c1f0a9e18", "good two"),
	}
	want := map[int64]string{2: "", 3: "record.metadata", 4: "record.srn", 5: "earlierVersions", 6: "record.createdAt", 8: "", 9: "record.srn"}
	file := strings.Join(lines, "\n") + "\n"
	for _, policy := range []string{sdk.ConflictRefuse, sdk.ConflictSkip} {
		res, err := c.Import(ctx, strings.NewReader(file), &sdk.ImportOpts{OnConflict: policy})
		if err != nil {
			t.Fatal(err)
		}
		got := map[int64]string{}
		for _, p := range res.Problems {
			got[p.Line] = p.Field
			if p.Message == "" || (p.Line == 9) != p.Skipped && policy == sdk.ConflictSkip {
				t.Errorf("%s: problem %+v", policy, p)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: problems %+v, want the lines and fields %v", policy, res.Problems, want)
		}
		wantImported, wantUnchanged, wantFailed, wantSkipped := int64(2), int64(0), int64(7), int64(0)
		if policy == sdk.ConflictSkip { // the second run: the good lines are there already
			wantImported, wantUnchanged, wantFailed, wantSkipped = 0, 2, 6, 1
		}
		if res.Lines != 9 || res.Imported != wantImported || res.Unchanged != wantUnchanged || res.Failed != wantFailed || res.Skipped != wantSkipped {
			t.Errorf("%s: %+v", policy, res)
		}
		for _, j := range res.Reindexes { // an import waits for no rebuild, but refuses to start during one
			if _, err := c.WaitReindex(ctx, j.ID, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, id := range []string{"e12", "e13", "e15", "e16", "e17"} {
		_, err := c.Get(ctx, "urn:osa:localhost:rec:0190b2a4-7c1e-7cc0-9d2a-6d3c1f0a9"+id)
		if !errors.Is(err, sdk.ErrNotFound) {
			t.Errorf("the record of a bad line was written: %v", err)
		}
	}
	if rec, err := c.Get(ctx, existing.SRN); err != nil || rec.Metadata["title"] != "already here" {
		t.Errorf("the conflicting record changed: %+v, %v", rec, err)
	}
	if rec, err := c.Get(ctx, "urn:osa:localhost:rec:0190b2a4-7c1e-7cc0-9d2a-6d3c1f0a9e18@1"); err != nil || rec.Metadata["title"] != "good two" ||
		!rec.CreatedAt.Equal(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("a good line after bad ones: %+v, %v", rec, err)
	}
}

// TestImportAuth: an import needs the admin scope; a records:write token is refused before
// anything is written.
func TestImportAuth(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t, withTokens(true))
	line := `{"record":{"srn":"urn:osa:localhost:rec:0190b2a4-7c1e-7cc0-9d2a-6d3c1f0a9e11@1","version":1,"metadata":{"title":"t"},` +
		`"createdAt":"2024-05-01T10:00:00Z","updatedAt":"2024-05-01T10:00:00Z"}}` + "\n"
	for _, tc := range []struct {
		token string
		code  sdk.Code
	}{{"", sdk.CodeUnauthenticated}, {readerToken, sdk.CodePermissionDenied}, {writerToken, sdk.CodePermissionDenied}, {adminToken, ""}} {
		res, err := sdkClient(t, b, tc.token).Import(ctx, strings.NewReader(line), nil)
		var se *sdk.Error
		switch {
		case tc.code == "" && (err != nil || res.Imported != 1):
			t.Errorf("import with the admin token: %+v, %v", res, err)
		case tc.code != "" && (!errors.As(err, &se) || se.Code != tc.code):
			t.Errorf("import with token %q: %v, want %s", tc.token, err, tc.code)
		}
	}
}

// TestImportHoldsOffRebuilds: while an import writes, a rebuild asked for is refused (its scan
// could pass the ids of records the import writes later, and the import's own rebuild would
// then be that one, still running: those records would never be indexed). Once the import's
// writes are done, its own rebuilds index every record, and rebuilds can be asked for again.
func TestImportHoldsOffRebuilds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a := setup(t, nil)
	b := setup(t, func(c *config.Config) { c.Import.BatchSize = 10 })
	ca, cb := sdkClient(t, a, ""), sdkClient(t, b, "")
	const n = 40
	for i := range n {
		if _, err := ca.Publish(ctx, sdk.PublishParams{Metadata: map[string]any{"title": fmt.Sprintf("Axolotl limb regeneration %d", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	lines := bytes.SplitAfter(exportAll(ctx, t, ca), []byte("\n"))

	// The first half of the file, then the import waits for the rest.
	stream := recordClient(b).ImportRecords(ctx)
	if err := stream.Send(&osav1.ImportRecordsRequest{Data: bytes.Join(lines[:n/2], nil)}); err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, b.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for written := 0; written < n/2; time.Sleep(20 * time.Millisecond) {
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM records`).Scan(&written); err != nil {
			t.Fatal(err)
		}
		if ctx.Err() != nil {
			t.Fatalf("the import wrote %d records of the first %d", written, n/2)
		}
	}

	for _, backend := range []string{"vector", "keyword"} {
		_, err := cb.Reindex(ctx, backend)
		var se *sdk.Error
		if !errors.As(err, &se) || se.Code != sdk.CodeFailedPrecondition || !strings.Contains(se.Message, "an import is writing records") {
			t.Fatalf("Reindex %s while an import writes: %v, want failed_precondition naming the import", backend, err)
		}
	}

	if err := stream.Send(&osav1.ImportRecordsRequest{Data: bytes.Join(lines[n/2:], nil)}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.CloseAndReceive()
	if err != nil || resp.Msg.Imported != n || len(resp.Msg.Reindexes) != 2 {
		t.Fatalf("import: %v, %v", resp, err)
	}
	for _, j := range resp.Msg.Reindexes {
		if r, err := cb.WaitReindex(ctx, j.Id, nil); err != nil || r.State != sdk.ReindexSucceeded {
			t.Fatalf("rebuild %s after the import: %+v, %v", j.Backend, r, err)
		}
	}
	rows, err := pool.Query(ctx, `SELECT backend, count(*) FROM index_state WHERE state = 'indexed' GROUP BY backend ORDER BY backend`)
	if err != nil {
		t.Fatal(err)
	}
	indexed, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var (
			name  string
			count int
		)
		err := r.Scan(&name, &count)
		return fmt.Sprintf("%s %d", name, count), err
	})
	if err != nil || fmt.Sprint(indexed) != fmt.Sprintf("[keyword %d vector %d]", n, n) {
		t.Fatalf("records indexed after the import's rebuilds: %v, %v; want %d in each backend", indexed, err, n)
	}

	j, err := cb.Reindex(ctx, "keyword")
	if err != nil {
		t.Fatalf("Reindex after the import: %v", err)
	}
	if r, err := cb.WaitReindex(ctx, j.ID, nil); err != nil || r.State != sdk.ReindexSucceeded {
		t.Fatalf("rebuild after the import: %+v, %v", r, err)
	}
}
