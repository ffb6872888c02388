package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Answers that had no body, or a line of plain text, say in Connect's JSON what to send instead:
// a form-encoded POST (curl -d), a GET without encoding=json, a GET of a write RPC, an unknown
// path. River UI's own pages are left alone.
func TestStatusesExplainThemselves(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for _, tc := range []struct {
		name, method, path, contentType string
		status                          int
		code, inMessage                 string
	}{
		{"form POST", http.MethodPost, "/osa.v1.SearchService/Search", "application/x-www-form-urlencoded",
			http.StatusUnsupportedMediaType, "invalid_argument", "send Content-Type: application/json"},
		{"GET without encoding", http.MethodGet, "/osa.v1.SearchService/ListBackends", "",
			http.StatusUnsupportedMediaType, "invalid_argument", "?encoding=json"},
		{"GET of a write RPC", http.MethodGet, "/osa.v1.RecordService/PublishRecord?encoding=json&message=%7B%7D", "",
			http.StatusMethodNotAllowed, "unimplemented", "with POST"},
		{"unknown path", http.MethodPost, "/osa.v1.NoService/Nothing", "application/json",
			http.StatusNotFound, "unimplemented", "no such path /osa.v1.NoService/Nothing"},
		{"unknown top path", http.MethodGet, "/nothing-here", "",
			http.StatusNotFound, "unimplemented", "grpcurl -plaintext HOST list"},
	} {
		req, err := http.NewRequest(tc.method, b.baseURL+tc.path, strings.NewReader("q=heart"))
		if err != nil {
			t.Fatal(err)
		}
		if tc.contentType != "" {
			req.Header.Set("Content-Type", tc.contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct{ Code, Message string }
		if resp.StatusCode != tc.status || json.Unmarshal(body, &e) != nil || e.Code != tc.code || !strings.Contains(e.Message, tc.inMessage) {
			t.Errorf("%s: HTTP %d %q, want %d with code %s mentioning %q", tc.name, resp.StatusCode, body, tc.status, tc.code, tc.inMessage)
		}
	}
	// A read RPC by GET still works, and River UI still serves its page.
	if code, body := get(t, b.baseURL+"/osa.v1.SearchService/ListBackends?encoding=json&message=%7B%7D"); code != http.StatusOK || !strings.Contains(body, "backends") {
		t.Errorf("GET ListBackends: %d %s", code, body)
	}
	if code, body := get(t, b.baseURL+"/riverui/"); code != http.StatusOK || !strings.Contains(strings.ToLower(body), "<html") {
		t.Errorf("River UI: %d %.100s", code, body)
	}
}
