package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/config"
)

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func recordClient(b *testBundle) osav1connect.RecordServiceClient {
	return osav1connect.NewRecordServiceClient(http.DefaultClient, b.baseURL)
}

func TestRecordLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, nil)
	c := recordClient(b)

	pub, err := c.PublishRecord(ctx, connect.NewRequest(&osav1.PublishRecordRequest{
		Metadata: mustStruct(t, map[string]any{"title": "Single-cell atlas of the zebrafish heart", "organism": "Danio rerio"}),
	}))
	if err != nil {
		t.Fatal(err)
	}
	rec := pub.Msg.Record
	if !strings.HasPrefix(rec.Srn, "urn:osa:localhost:rec:") || !strings.HasSuffix(rec.Srn, "@1") || rec.Version != 1 {
		t.Fatalf("published %s version %d", rec.Srn, rec.Version)
	}

	// The workers index it in both backends.
	var status *osav1.GetIndexStatusResponse
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := c.GetIndexStatus(ctx, connect.NewRequest(&osav1.GetIndexStatusRequest{Srn: rec.Srn}))
		if err != nil {
			t.Fatal(err)
		}
		status = st.Msg
		indexed := 0
		for _, s := range status.Statuses {
			if s.State == osav1.IndexState_INDEX_STATE_INDEXED && s.IndexedVersion == 1 {
				indexed++
			}
		}
		if indexed == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not indexed in both backends after 30s: %v", status.Statuses)
		}
		time.Sleep(50 * time.Millisecond)
	}

	got, err := c.GetRecord(ctx, connect.NewRequest(&osav1.GetRecordRequest{Srn: strings.TrimSuffix(rec.Srn, "@1")}))
	if err != nil {
		t.Fatal(err)
	}
	if got.Msg.Record.Metadata.Fields["organism"].GetStringValue() != "Danio rerio" {
		t.Fatalf("GetRecord metadata %v", got.Msg.Record.Metadata)
	}

	if _, err := c.DeleteRecord(ctx, connect.NewRequest(&osav1.DeleteRecordRequest{Srn: rec.Srn})); err != nil {
		t.Fatal(err)
	}
	got, err = c.GetRecord(ctx, connect.NewRequest(&osav1.GetRecordRequest{Srn: rec.Srn}))
	if err != nil || got.Msg.Record.DeletedAt == nil {
		t.Fatalf("GetRecord after delete = %v, %v; want the tombstone", got, err)
	}
	// updated_at is when the version was published, not when the record was deleted.
	for _, srn := range []string{rec.Srn, strings.TrimSuffix(rec.Srn, "@1")} {
		got, err := c.GetRecord(ctx, connect.NewRequest(&osav1.GetRecordRequest{Srn: srn}))
		if err != nil || !got.Msg.Record.UpdatedAt.AsTime().Equal(rec.UpdatedAt.AsTime()) {
			t.Fatalf("GetRecord(%s) after delete: updated_at %v (%v), want the publication's %v", srn,
				got.Msg.Record.GetUpdatedAt().AsTime(), err, rec.UpdatedAt.AsTime())
		}
	}
	list, err := c.ListRecords(ctx, connect.NewRequest(&osav1.ListRecordsRequest{}))
	if err != nil || len(list.Msg.Records) != 0 {
		t.Fatalf("ListRecords after delete = %v, %v; want no records", list, err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		st, err := c.GetIndexStatus(ctx, connect.NewRequest(&osav1.GetIndexStatusRequest{Srn: rec.Srn}))
		if err != nil {
			t.Fatal(err)
		}
		deleted := 0
		for _, s := range st.Msg.Statuses {
			if s.State == osav1.IndexState_INDEX_STATE_DELETED {
				deleted++
			}
		}
		if deleted == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delete not propagated after 30s: %v", st.Msg.Statuses)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestListRecordsPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, func(c *config.Config) { c.Node.Role = "api" })
	c := recordClient(b)
	var reqs []*osav1.PublishRecordRequest
	for i := range 25 {
		src := "a"
		if i%2 == 1 {
			src = "b"
		}
		reqs = append(reqs, &osav1.PublishRecordRequest{Metadata: mustStruct(t, map[string]any{"i": float64(i)}), Source: src,
			SourceId: strings.Repeat("x", i+1)})
	}
	if _, err := c.PublishRecords(ctx, connect.NewRequest(&osav1.PublishRecordsRequest{Records: reqs})); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	token := ""
	pages := 0
	for {
		resp, err := c.ListRecords(ctx, connect.NewRequest(&osav1.ListRecordsRequest{PageSize: 5, PageToken: token, Source: "a"}))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, r := range resp.Msg.Records {
			if seen[r.Srn] || r.Source != "a" {
				t.Fatalf("page %d repeats %s or has source %q", pages, r.Srn, r.Source)
			}
			seen[r.Srn] = true
		}
		if token = resp.Msg.NextPageToken; token == "" {
			break
		}
	}
	if len(seen) != 13 || pages != 3 {
		t.Fatalf("listed %d records of source a in %d pages, want 13 in 3", len(seen), pages)
	}
}

// Bad input gets InvalidArgument naming the field, and writes nothing.
func TestPublishBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, func(c *config.Config) {
		c.Node.Role = "api"
		c.Records.MaxMetadataBytes = 1024
	})
	c := recordClient(b)
	ok := &osav1.PublishRecordRequest{Metadata: mustStruct(t, map[string]any{"title": "fine"})}
	many := make([]*osav1.PublishRecordRequest, 1001)
	for i := range many {
		many[i] = ok
	}
	deep := map[string]any{"leaf": "x"}
	for range 40 {
		deep = map[string]any{"d": deep}
	}

	for _, tc := range []struct {
		name  string
		call  func() error
		field string
	}{
		{"missing metadata", func() error {
			_, err := c.PublishRecord(ctx, connect.NewRequest(&osav1.PublishRecordRequest{}))
			return err
		}, "metadata"},
		{"metadata over max_metadata_bytes", func() error {
			_, err := c.PublishRecord(ctx, connect.NewRequest(&osav1.PublishRecordRequest{
				Metadata: mustStruct(t, map[string]any{"title": strings.Repeat("x", 2000)})}))
			return err
		}, "records.max_metadata_bytes"},
		{"metadata too deep", func() error {
			_, err := c.PublishRecord(ctx, connect.NewRequest(&osav1.PublishRecordRequest{Metadata: mustStruct(t, deep)}))
			return err
		}, "records.max_depth"},
		{"source without source_id", func() error {
			_, err := c.PublishRecord(ctx, connect.NewRequest(&osav1.PublishRecordRequest{Metadata: ok.Metadata, Source: "geo"}))
			return err
		}, "source_id"},
		{"empty batch", func() error {
			_, err := c.PublishRecords(ctx, connect.NewRequest(&osav1.PublishRecordsRequest{}))
			return err
		}, "records"},
		{"batch over 1000", func() error {
			_, err := c.PublishRecords(ctx, connect.NewRequest(&osav1.PublishRecordsRequest{Records: many}))
			return err
		}, "records"},
		{"bad element names its index", func() error {
			_, err := c.PublishRecords(ctx, connect.NewRequest(&osav1.PublishRecordsRequest{Records: []*osav1.PublishRecordRequest{ok, {}}}))
			return err
		}, "records[1].metadata"},
		{"malformed SRN", func() error {
			_, err := c.GetRecord(ctx, connect.NewRequest(&osav1.GetRecordRequest{Srn: "urn:osa:localhost:dataset:x"}))
			return err
		}, "srn"},
		{"page_size over the limit", func() error {
			_, err := c.ListRecords(ctx, connect.NewRequest(&osav1.ListRecordsRequest{PageSize: 5000}))
			return err
		}, "page_size"},
		{"forged page token", func() error {
			_, err := c.ListRecords(ctx, connect.NewRequest(&osav1.ListRecordsRequest{PageToken: "bm9wZQ"}))
			return err
		}, "page_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("got %v, want invalid_argument naming %q", err, tc.field)
			}
		})
	}

	// Raw JSON the proto decoder rejects: not an object, invalid UTF-8.
	for name, body := range map[string]string{
		"metadata not an object": `{"metadata": [1, 2]}`,
		"invalid UTF-8":          "{\"metadata\": {\"title\": \"\xff\xfe\"}}",
	} {
		resp, err := http.Post(b.baseURL+"/osa.v1.RecordService/PublishRecord", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%s: HTTP %d, want 400 invalid_argument", name, resp.StatusCode)
		}
	}

	unknown := "urn:osa:localhost:rec:01890a5d-ac96-774b-bcce-b302099a8057"
	if _, err := c.GetRecord(ctx, connect.NewRequest(&osav1.GetRecordRequest{Srn: unknown})); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("unknown record: %v, want not_found", err)
	}

	conn, err := pgx.Connect(ctx, b.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var records, jobs int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM records), (SELECT count(*) FROM river_job)`).Scan(&records, &jobs); err != nil {
		t.Fatal(err)
	}
	if records != 0 || jobs != 0 {
		t.Fatalf("bad input wrote %d records and %d jobs", records, jobs)
	}
}

// A publish answers each record with the metadata it stored: the Struct of the request, which
// equals what GetRecord reads back from the stored JSON, for numbers, nulls, nesting and
// unicode, new or unchanged.
func TestPublishAnswersStoredMetadata(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, func(c *config.Config) { c.Node.Role = "api" })
	c := recordClient(b)
	metas := []map[string]any{
		{"title": "Zebrafish <heart> & fin", "n": 1e21, "small": 1.5e-7, "neg": -0.25, "int": float64(9007199254740991)},
		{"title": "Ünïcode ✓ \u2028", "none": nil, "list": []any{"a", 1.0, true, nil, map[string]any{"deep": []any{}}}},
	}
	var reqs []*osav1.PublishRecordRequest
	for i, m := range metas {
		reqs = append(reqs, &osav1.PublishRecordRequest{Metadata: mustStruct(t, m), Source: "s", SourceId: fmt.Sprint("id", i)})
	}
	for round := range 2 { // new, then unchanged
		resp, err := c.PublishRecords(ctx, connect.NewRequest(&osav1.PublishRecordsRequest{Records: reqs}))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range resp.Msg.Records {
			if resp.Msg.Unchanged[i] != (round == 1) {
				t.Errorf("round %d record %d: unchanged %v", round, i, resp.Msg.Unchanged[i])
			}
			got, err := c.GetRecord(ctx, connect.NewRequest(&osav1.GetRecordRequest{Srn: r.Srn}))
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(r.Metadata, got.Msg.Record.Metadata) {
				t.Errorf("round %d record %d: publish answered %v, GetRecord reads %v", round, i, r.Metadata, got.Msg.Record.Metadata)
			}
		}
	}
}
