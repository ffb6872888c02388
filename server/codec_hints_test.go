package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// JSON decoding errors say what to send: an unknown field lists the fields and the likely one,
// or, for a bare record, the metadata wrapper; an enum value lists the spellings; the short
// spelling of an enum value is accepted.
func TestDecodeErrorsHint(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	post := func(path, body string) (int, string, string) {
		t.Helper()
		resp, err := http.Post(b.baseURL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var e struct{ Code, Message string }
		_ = json.Unmarshal(raw, &e)
		return resp.StatusCode, e.Code, e.Message + string(raw)
	}
	for _, tc := range []struct{ name, path, body, want string }{
		{"misspelt field", "/osa.v1.SearchService/Search", `{"q": "heart"}`, `did you mean \"query\"`},
		{"fields listed", "/osa.v1.SearchService/Search", `{"zzzzzz": 1}`, "SearchRequest has the fields query, mode"},
		{"bare record", "/osa.v1.RecordService/PublishRecord", `{"organism": "Danio rerio"}`, `go inside \"metadata\"`},
		{"enum spellings", "/osa.v1.SearchService/Search", `{"query": "heart", "mode": "fuzzy"}`, `SEARCH_MODE_KEYWORD (or \"keyword\")`},
	} {
		if status, code, msg := post(tc.path, tc.body); status != http.StatusBadRequest || code != "invalid_argument" || !strings.Contains(msg, tc.want) {
			t.Errorf("%s: %d %s %s, want invalid_argument with %s", tc.name, status, code, msg, tc.want)
		}
	}
	for _, mode := range []string{"keyword", "KEYWORD", "SEARCH_MODE_KEYWORD"} {
		status, _, msg := post("/osa.v1.SearchService/Search", `{"query": "heart", "mode": "`+mode+`"}`)
		if status != http.StatusOK || !strings.Contains(msg, "SEARCH_MODE_KEYWORD") {
			t.Errorf("mode %q: %d %s, want a keyword search", mode, status, msg)
		}
	}
}
