package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/dump"
	"github.com/osa-archive/osa/events"
)

// download GETs path with token ("" for none) and returns the answer, its body read whole.
func download(t *testing.T, b *testBundle, path, token string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.baseURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestExportFormats: a JSONL export is one ExportedRecord a line in protojson, each equal to
// what GetRecord and the record's versions say (a tombstone with deletedAt, earlier versions
// oldest first); the download of the same snapshot is the same bytes, gzip-compressed for .gz,
// with its cursor in a header; CSV has the documented columns and the metadata as JSON; a bad
// where names its field; filters by source and where select what ListRecords does.
func TestExportFormats(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t, nil)
	rc := recordClient(b)
	pub := func(meta map[string]any, source, sourceID string) *osav1.Record {
		m, err := structpb.NewStruct(meta)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := rc.PublishRecord(ctx, connect.NewRequest(&osav1.PublishRecordRequest{Metadata: m, Source: source, SourceId: sourceID}))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Msg.Record
	}
	pub(map[string]any{"title": "Zebrafish heart", "organism": "Danio rerio", "n": 3.5}, "lab", "a")
	pub(map[string]any{"title": "Zebrafish heart, again", "organism": "Danio rerio"}, "lab", "a")
	gone := pub(map[string]any{"title": "Mouse \"liver\", with a comma\nand a newline", "tags": []any{"x", "y"}}, "lab", "b")
	if _, err := rc.DeleteRecord(ctx, connect.NewRequest(&osav1.DeleteRecordRequest{Srn: gone.Srn})); err != nil {
		t.Fatal(err)
	}
	pub(map[string]any{"title": "Yeast <b>stress</b> & heat"}, "", "")

	all, cursor := exportRPC(ctx, t, b, &osav1.ExportRecordsRequest{IncludeDeleted: true})
	if _, err := events.ParseCursor("cursor", cursor); err != nil || cursor == "" {
		t.Fatalf("export cursor %q: %v", cursor, err)
	}
	lines := strings.Split(strings.TrimSuffix(string(all), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("export with tombstones: %d lines, want 3:\n%s", len(lines), all)
	}
	for _, line := range lines {
		var er osav1.ExportedRecord
		if err := protojson.Unmarshal([]byte(line), &er); err != nil {
			t.Fatalf("line %s is not an ExportedRecord in protojson: %v", line, err)
		}
		got, err := rc.GetRecord(ctx, connect.NewRequest(&osav1.GetRecordRequest{Srn: er.Record.Srn}))
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(er.Record, got.Msg.Record) {
			t.Errorf("exported %v\nGetRecord %v", er.Record, got.Msg.Record)
		}
		if len(er.EarlierVersions) != int(er.Record.Version)-1 {
			t.Errorf("%s: %d earlier versions", er.Record.Srn, len(er.EarlierVersions))
		}
		for i, v := range er.EarlierVersions {
			srn := strings.TrimSuffix(er.Record.Srn, "@2") + "@1"
			old, err := rc.GetRecord(ctx, connect.NewRequest(&osav1.GetRecordRequest{Srn: srn}))
			if err != nil || i != 0 || v.Version != 1 || !proto.Equal(v.Metadata, old.Msg.Record.Metadata) ||
				!v.PublishedAt.AsTime().Equal(old.Msg.Record.UpdatedAt.AsTime()) {
				t.Errorf("%s: earlier version %v, GetRecord of @1 %v, %v", er.Record.Srn, v, old.Msg.Record, err)
			}
		}
	}

	live, _ := exportRPC(ctx, t, b, &osav1.ExportRecordsRequest{})
	resp, body := download(t, b, "/export/records.jsonl", "")
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, live) || resp.Header.Get("Content-Type") != "application/x-ndjson" ||
		resp.Header.Get("Osa-Export-Total") != "2" || resp.Header.Get("Osa-Export-Cursor") == "" {
		t.Fatalf("GET /export/records.jsonl: %s %v\n%s\nwant the RPC's\n%s", resp.Status, resp.Header, body, live)
	}
	resp, body = download(t, b, "/export/records.jsonl.gz?include_deleted=true", "")
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("GET /export/records.jsonl.gz: %s, body not gzip: %v", resp.Status, err)
	}
	unzipped, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(unzipped, all) {
		t.Fatalf("GET /export/records.jsonl.gz: %v\n%s\nwant\n%s", err, unzipped, all)
	}

	csvFile, _ := exportRPC(ctx, t, b, &osav1.ExportRecordsRequest{Format: osav1.ExportFormat_EXPORT_FORMAT_CSV, IncludeDeleted: true})
	rows, err := csv.NewReader(bytes.NewReader(csvFile)).ReadAll()
	if err != nil || len(rows) != 4 || strings.Join(rows[0], ",") != strings.Join(dump.CSVColumns, ",") {
		t.Fatalf("CSV export: %v\n%s", err, csvFile)
	}
	for _, row := range rows[1:] {
		var m structpb.Struct
		if err := protojson.Unmarshal([]byte(row[8]), &m); err != nil || m.Fields["title"] == nil {
			t.Errorf("CSV row %q: metadata %v", row, err)
		}
		if (row[0] == gone.Srn) != (row[7] != "") {
			t.Errorf("CSV row %q: deleted_at of the tombstone %s", row, gone.Srn)
		}
	}
	resp, body = download(t, b, "/export/records.csv.gz", "")
	if zr, err = gzip.NewReader(bytes.NewReader(body)); err != nil {
		t.Fatalf("GET /export/records.csv.gz: %s: %v", resp.Status, err)
	}
	if rows, err = csv.NewReader(zr).ReadAll(); err != nil || len(rows) != 3 {
		t.Fatalf("GET /export/records.csv.gz: %d rows, %v", len(rows), err)
	}

	// Filters: by source and by where, as ListRecords reads them.
	bySource, _ := exportRPC(ctx, t, b, &osav1.ExportRecordsRequest{Source: "lab"})
	byWhere, _ := exportRPC(ctx, t, b, &osav1.ExportRecordsRequest{Where: `organism = "Danio rerio"`})
	if n := bytes.Count(bySource, []byte("\n")); n != 1 || !bytes.Equal(bySource, byWhere) {
		t.Errorf("export of source lab: %s\nwhere organism: %s", bySource, byWhere)
	}
	resp, body = download(t, b, "/export/records.csv?where="+url.QueryEscape("organism = "), "")
	if resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(string(body), "where:") {
		t.Errorf("a bad where: %s %s", resp.Status, body)
	}
	_, err = rc.ExportRecords(ctx, connect.NewRequest(&osav1.ExportRecordsRequest{Source: "Not A Source"}))
	if err == nil {
		stream, _ := rc.ExportRecords(ctx, connect.NewRequest(&osav1.ExportRecordsRequest{Source: "Not A Source"}))
		for stream.Receive() {
		}
		err = stream.Err()
	}
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "source") {
		t.Errorf("a bad source: %v", err)
	}
	if resp, _ := download(t, b, "/export/records.xml", ""); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /export/records.xml: %s", resp.Status)
	}
}

// TestExportAuth: without auth.public_read an export needs the records:read scope, over the
// RPC and the download (whose missing token gets a basic-auth challenge); nothing is sent to
// a caller who may not read.
func TestExportAuth(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t, withTokens(false))
	for _, tc := range []struct {
		token  string
		code   connect.Code
		status int
	}{
		{"", connect.CodeUnauthenticated, http.StatusUnauthorized},
		{"osa_not_a_token", connect.CodeUnauthenticated, http.StatusUnauthorized},
		{writerToken, connect.CodePermissionDenied, http.StatusForbidden},
		{readerToken, 0, http.StatusOK},
		{adminToken, 0, http.StatusOK},
	} {
		req := connect.NewRequest(&osav1.ExportRecordsRequest{})
		if tc.token != "" {
			req.Header().Set("Authorization", "Bearer "+tc.token)
		}
		var err error
		stream, err := recordClient(b).ExportRecords(ctx, req)
		if err == nil {
			for stream.Receive() {
			}
			err = stream.Err()
		}
		if got := connect.CodeOf(err); (tc.code == 0 && err != nil) || (tc.code != 0 && got != tc.code) {
			t.Errorf("ExportRecords with token %q: %v, want code %v", tc.token, err, tc.code)
		}
		resp, body := download(t, b, "/export/records.jsonl", tc.token)
		if resp.StatusCode != tc.status {
			t.Errorf("GET /export/records.jsonl with token %q: %s %s, want %d", tc.token, resp.Status, body, tc.status)
		}
		if tc.status == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("GET /export/records.jsonl without a token: no basic-auth challenge")
		}
	}
}
