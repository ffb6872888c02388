package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
)

// TestSearchFacetsSortHighlight, through the Connect JSON API as curl sends it: facets over a
// browse and a query, a browse sorted newest first paged by next_page_token, highlights with a
// hostile title escaped, and similar records; a bad facet is InvalidArgument naming it, an
// unknown record's similar records NotFound.
func TestSearchFacetsSortHighlight(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, nil)
	pub, err := recordClient(b).PublishRecords(ctx, connect.NewRequest(&osav1.PublishRecordsRequest{WaitIndexed: true, Records: []*osav1.PublishRecordRequest{
		{Metadata: mustStruct(t, map[string]any{"title": "Mouse heart regeneration", "organism": "Mus musculus", "sample_count": 12, "pub_date": "2023/05/01"})},
		{Metadata: mustStruct(t, map[string]any{"title": "Mouse heart development", "organism": "Mus musculus", "sample_count": 4, "pub_date": "2019/02/11"})},
		{Metadata: mustStruct(t, map[string]any{"title": "<img src=x onerror=alert(1)> Human heart atlas", "organism": "Homo sapiens", "pub_date": "2024-01-01"})},
	}}))
	if err != nil || len(pub.Msg.NotIndexed) != 0 {
		t.Fatalf("publish: %v %v", err, pub)
	}
	call := func(t *testing.T, body string) (int, map[string]any) {
		t.Helper()
		return postJSON(t, b.baseURL+"/osa.v1.SearchService/Search", body)
	}
	str := func(v any) string { out, _ := json.Marshal(v); return string(out) }

	// Browse: every record, facets by organism and year, newest first, two per page.
	_, page1 := call(t, `{"sort": ["pub_date:desc"], "facets": ["organism", "pub_date", "sample_count"], "limit": 2}`)
	if page1["mode"] != "SEARCH_MODE_BROWSE" || page1["facetMatches"] != "3" {
		t.Fatalf("browse: %s", str(page1))
	}
	facets := str(page1["facets"])
	for _, want := range []string{`{"count":"2","value":"Mus musculus"}`, `{"count":"1","value":"Homo sapiens"}`, `"value":"2024"`,
		`{"count":"1","from":10,"to":100,"value":"[10, 100)"}`, `"missing":"1"`, `"min":4`, `"max":12`} {
		if !strings.Contains(facets, want) {
			t.Fatalf("facets lack %s: %s", want, facets)
		}
	}
	hits := page1["hits"].([]any)
	token, _ := page1["nextPageToken"].(string)
	if len(hits) != 2 || token == "" || hits[0].(map[string]any)["srn"] != pub.Msg.Records[2].Srn || hits[0].(map[string]any)["score"] != nil {
		t.Fatalf("page 1: %s", str(page1))
	}
	_, page2 := call(t, `{"sort": ["pub_date:desc"], "limit": 2, "pageToken": "`+token+`"}`)
	if hits := page2["hits"].([]any); len(hits) != 1 || hits[0].(map[string]any)["srn"] != pub.Msg.Records[1].Srn || page2["nextPageToken"] != nil {
		t.Fatalf("page 2: %s", str(page2))
	}

	// A query with a where, facets and highlights.
	_, q := call(t, `{"query": "hearts", "mode": "keyword", "where": "pub_date >= 2020-01-01", "facets": ["organism"], "highlight": true}`)
	if q["facetMatches"] != "2" || !strings.Contains(str(q["facets"]), `{"count":"1","value":"Homo sapiens"}`) {
		t.Fatalf("query facets: %s", str(q))
	}
	for _, h := range q["hits"].([]any) {
		title := h.(map[string]any)["highlights"].(map[string]any)["title"].(string)
		if strings.Contains(title, "<img") || !strings.Contains(title, "<mark>heart</mark>") {
			t.Fatalf("highlighted title %q: want the word marked and the markup escaped", title)
		}
	}

	// Bad input names its field.
	code, bad := call(t, `{"facets": ["title"]}`)
	if code != http.StatusBadRequest || !strings.Contains(str(bad), "facets[0]") || !strings.Contains(str(bad), "organism") {
		t.Fatalf("a facet on an undeclared field: %d %s", code, str(bad))
	}

	// Similar records: the others, nearest first, never the record itself.
	similar := b.baseURL + "/osa.v1.SearchService/SimilarRecords"
	code, sim := postJSON(t, similar, `{"srn": "`+pub.Msg.Records[0].Srn+`", "where": "organism = \"Mus musculus\""}`)
	if code != http.StatusOK || sim["backend"] != "vector" || len(sim["hits"].([]any)) != 1 ||
		sim["hits"].([]any)[0].(map[string]any)["srn"] != pub.Msg.Records[1].Srn {
		t.Fatalf("similar records: %d %s", code, str(sim))
	}
	if code, _ := postJSON(t, similar, `{"srn": "urn:osa:localhost:rec:0190b2a4-7c1e-7cc0-9d2a-6d3c1f0a9e11"}`); code != http.StatusNotFound {
		t.Fatalf("similar records of an unknown record: %d", code)
	}
}

// postJSON posts body to url as curl -H 'Content-Type: application/json' does and returns the
// status and the decoded answer.
func postJSON(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&out); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	return res.StatusCode, out
}
