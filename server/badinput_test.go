package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/config"
)

// Malformed requests through the real server: each gets a clear error, and nothing is written.
func TestBadInputThroughTheServer(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) {
		c.HTTP.ReadMaxBytes = 64 << 10
		c.Records.MaxDepth = 8
	})
	deep := strings.Repeat(`{"a":`, 20) + `1` + strings.Repeat(`}`, 20)
	for _, tc := range []struct {
		name, path, contentType, body string
		wantStatus                    int
		wantCode, wantInMessage       string
	}{
		{"malformed JSON", "/osa.v1.RecordService/PublishRecord", "application/json", `{"metadata": {"title": `,
			http.StatusBadRequest, "invalid_argument", ""},
		{"empty body", "/osa.v1.RecordService/PublishRecord", "application/json", ``,
			http.StatusBadRequest, "invalid_argument", "empty"},
		{"unknown field", "/osa.v1.RecordService/PublishRecord", "application/json",
			`{"metadata": {"title": "x"}, "source": "geo", "sourceIdd": "GSE1"}`, http.StatusBadRequest, "invalid_argument", "sourceIdd"},
		{"wrong type", "/osa.v1.RecordService/PublishRecord", "application/json", `{"metadata": "a string"}`,
			http.StatusBadRequest, "invalid_argument", ""},
		{"invalid UTF-8", "/osa.v1.RecordService/PublishRecord", "application/json", "{\"metadata\": {\"t\": \"\xc3\x28\"}}",
			http.StatusBadRequest, "invalid_argument", ""},
		{"deeply nested metadata", "/osa.v1.RecordService/PublishRecord", "application/json", `{"metadata": ` + deep + `}`,
			http.StatusBadRequest, "invalid_argument", "records.max_depth"},
		{"oversized body", "/osa.v1.RecordService/PublishRecord", "application/json",
			`{"metadata": {"title": "` + strings.Repeat("x", 100<<10) + `"}}`, http.StatusBadRequest, "invalid_argument", "http.read_max_bytes"},
		{"huge limit", "/osa.v1.SearchService/Search", "application/json", `{"query": "x", "limit": 2147483647}`,
			http.StatusBadRequest, "invalid_argument", "limit"},
		{"huge offset", "/osa.v1.SearchService/Search", "application/json", `{"query": "x", "offset": 2147483647}`,
			http.StatusBadRequest, "invalid_argument", "offset"},
		{"number out of range", "/osa.v1.SearchService/Search", "application/json", `{"query": "x", "limit": 99999999999}`,
			http.StatusBadRequest, "invalid_argument", ""},
	} {
		resp, err := http.Post(b.baseURL+tc.path, tc.contentType, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct{ Code, Message string }
		_ = json.Unmarshal(body, &e)
		if resp.StatusCode != tc.wantStatus || e.Code != tc.wantCode || !strings.Contains(e.Message, tc.wantInMessage) {
			t.Errorf("%s: HTTP %d %s %q, want %d %s mentioning %q", tc.name, resp.StatusCode, e.Code, e.Message,
				tc.wantStatus, tc.wantCode, tc.wantInMessage)
		}
	}

	// A content type the API does not speak.
	resp, err := http.Post(b.baseURL+"/osa.v1.RecordService/PublishRecord", "text/plain", strings.NewReader(`hello`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: HTTP %d, want 415", resp.StatusCode)
	}

	ctx := context.Background()
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
