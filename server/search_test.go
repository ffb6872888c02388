package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
)

// getJSON calls a read RPC with Connect's HTTP GET, as curl would.
func getJSON(t *testing.T, base, procedure, message string) (int, map[string]any) {
	t.Helper()
	u := base + procedure + "?encoding=json&message=" + url.QueryEscape(message)
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	return resp.StatusCode, out
}

func TestSearchOverHTTP(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, nil)
	rc := recordClient(b)
	pub, err := rc.PublishRecords(ctx, connect.NewRequest(&osav1.PublishRecordsRequest{Records: []*osav1.PublishRecordRequest{
		{Metadata: mustStruct(t, map[string]any{"title": "Zebrafish heart regeneration", "organism": "Danio rerio"})},
		{Metadata: mustStruct(t, map[string]any{"title": "Mouse heart development", "organism": "Mus musculus"})},
	}}))
	if err != nil {
		t.Fatal(err)
	}
	sc := osav1connect.NewSearchServiceClient(http.DefaultClient, b.baseURL)
	deadline := time.Now().Add(30 * time.Second)
	for {
		lb, err := sc.ListBackends(ctx, connect.NewRequest(&osav1.ListBackendsRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		if lb.Msg.Backends[0].Indexed == 2 && lb.Msg.Backends[1].Indexed == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not indexed after 30s: %v", lb.Msg.Backends)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// POST, through the generated client.
	res, err := sc.Search(ctx, connect.NewRequest(&osav1.SearchRequest{Query: "heart",
		Filter: mustStruct(t, map[string]any{"organism": "Danio rerio"})}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Msg.Mode != osav1.SearchMode_SEARCH_MODE_HYBRID || len(res.Msg.Hits) != 1 ||
		res.Msg.Hits[0].Srn != pub.Msg.Records[0].Srn {
		t.Fatalf("POST search: %v", res.Msg)
	}

	// GET, as in the README's curl example. Words are alternatives: both records have "heart",
	// the one with "zebrafish" too ranks first.
	code, body := getJSON(t, b.baseURL, "/osa.v1.SearchService/Search", `{"query": "zebrafish heart", "mode": "SEARCH_MODE_KEYWORD", "limit": 5}`)
	hits, _ := body["hits"].([]any)
	if code != http.StatusOK || len(hits) != 2 || hits[0].(map[string]any)["srn"] != pub.Msg.Records[0].Srn {
		t.Fatalf("GET search: %d %v", code, body)
	}
	if _, ok := hits[1].(map[string]any)["score"].(float64); !ok {
		t.Fatalf("GET search: a hit without its score: %v", hits[1])
	}

	// No junk: a word no record has finds nothing in any mode (the hash embedder's collisions
	// are not hits), and a real word finds its record in every mode.
	for _, mode := range []string{"SEARCH_MODE_VECTOR", "SEARCH_MODE_KEYWORD", "SEARCH_MODE_HYBRID"} {
		for query, want := range map[string]int{"qwertyuiop": 0, "asdfgh zxcvb": 0, "zebrafish": 1} {
			code, body := getJSON(t, b.baseURL, "/osa.v1.SearchService/Search", `{"query": "`+query+`", "mode": "`+mode+`"}`)
			if hits, _ := body["hits"].([]any); code != http.StatusOK || len(hits) != want {
				t.Fatalf("%s search for %q: %d %v, want %d hits", mode, query, code, body, want)
			}
		}
	}

	code, body = getJSON(t, b.baseURL, "/osa.v1.SearchService/ListBackends", `{}`)
	if code != http.StatusOK || len(body["backends"].([]any)) != 2 {
		t.Fatalf("GET ListBackends: %d %v", code, body)
	}

	// Bad input names the field.
	for msg, field := range map[string]string{
		`{"query": "x", "limit": 0}`:     "limit",
		`{"query": "x", "limit": 1000}`:  "limit",
		`{"query": "", "limit": 5}`:      "query",
		`{"query": "x", "offset": -1}`:   "offset",
		`{"query": "x", "backend": "x"}`: "backend",
	} {
		code, body := getJSON(t, b.baseURL, "/osa.v1.SearchService/Search", msg)
		if code != http.StatusBadRequest || body["code"] != "invalid_argument" || !strings.Contains(body["message"].(string), field) {
			t.Fatalf("GET search %s: %d %v, want invalid_argument naming %s", msg, code, body, field)
		}
	}
	code, body = getJSON(t, b.baseURL, "/osa.v1.SearchService/Search", `{"query": "x", "filter": [1]}`)
	if code != http.StatusBadRequest || body["code"] != "invalid_argument" {
		t.Fatalf("filter not an object: %d %v", code, body)
	}
}
