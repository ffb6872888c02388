package main

import (
	"strings"
	"testing"
)

// --limit 0 is refused with the API's rule instead of meaning 20 (leaving the flag out does).
func TestSearchLimitZero(t *testing.T) {
	t.Parallel()
	_, _, err := runCLI(t, "", "search", "heart", "--limit", "0", "--server", "http://127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "--limit must be at least 1 (leave it out for 20)") {
		t.Fatalf("osa search --limit 0: %v", err)
	}
}

// osa search with facets, sort and highlight, and browsing without a query, page by page; osa
// similar.
func TestSearchFacetsAndBrowse(t *testing.T) {
	t.Parallel()
	base := startClientServer(t, nil)
	srv := []string{"--server", base}
	file := writeTemp(t, "records.jsonl", `{"title": "Zebrafish heart regeneration", "organism": "Danio rerio", "pub_date": "2021/04/01"}
{"title": "Mouse heart development", "organism": "Mus musculus", "pub_date": "2023/01/09"}
{"title": "Mouse liver atlas", "organism": "Mus musculus", "pub_date": "2022/06/30"}
`)
	mustRunCLI(t, "", append([]string{"publish", file, "--wait"}, srv...)...)

	out, _ := mustRunCLI(t, "", append([]string{"search", "hearts", "--mode", "keyword", "--facet", "organism", "--highlight"}, srv...)...)
	for _, want := range []string{"[heart]", "facets over 2 matches:", "organism  Danio rerio   1", "organism  Mus musculus  1"} {
		if !strings.Contains(out, want) {
			t.Fatalf("search --facet --highlight lacks %q:\n%s", want, out)
		}
	}
	out, _ = mustRunCLI(t, "", append([]string{"search", "--sort", "pub_date:desc", "--limit", "2", "--facet", "pub_date"}, srv...)...)
	if !strings.Contains(out, "Mouse heart development") || strings.Contains(out, "Zebrafish") || !strings.Contains(out, "mode browse") ||
		!strings.Contains(out, "pub_date  2021   1") {
		t.Fatalf("browse page 1:\n%s", out)
	}
	_, token, ok := strings.Cut(out, "next page: --page-token ")
	if !ok {
		t.Fatalf("browse page 1 has no next page:\n%s", out)
	}
	out, _ = mustRunCLI(t, "", append([]string{"search", "--sort", "pub_date:desc", "--limit", "2", "--page-token", strings.TrimSpace(token)}, srv...)...)
	if !strings.Contains(out, "Zebrafish") || strings.Contains(out, "Mouse") || strings.Contains(out, "next page") {
		t.Fatalf("browse page 2:\n%s", out)
	}
	if _, _, err := runCLI(t, "", append([]string{"search"}, srv...)...); err == nil || !strings.Contains(err.Error(), "give a QUERY, or browse") {
		t.Fatalf("osa search with nothing: %v", err)
	}

	// osa similar: the other records, nearest first, never the record itself.
	out, _ = mustRunCLI(t, "", append([]string{"search", "zebrafish", "--mode", "keyword", "--json"}, srv...)...)
	_, rest, _ := strings.Cut(out, `"srn": "`)
	srn, _, _ := strings.Cut(rest, `"`)
	out, _ = mustRunCLI(t, "", append([]string{"similar", srn, "--where", `organism = "Mus musculus"`}, srv...)...)
	if strings.Contains(out, "Zebrafish") || !strings.Contains(out, "Mouse heart development") || !strings.Contains(out, "2 similar records (backend vector)") {
		t.Fatalf("osa similar %s:\n%s", srn, out)
	}
}
