package search_test

import (
	"cmp"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/osa-archive/osa/search"
)

// sortDate is the key a browse sorted by pub_date:desc compares: the date, or "" when there is
// none (last).
func sortDate(m map[string]any) string {
	s, _ := m["pub_date"].(string)
	if len(s) < 10 || (s[4] != '-' && s[4] != '/') {
		return ""
	}
	return strings.ReplaceAll(s[:10], "/", "-")
}

// A browse sorted by pub_date:desc pages by keyset to the end: every record meeting the where
// exactly once, in the order computed here (newest first, those without a date last, ties by
// id); a query's sort orders its hits by the field, ties by relevance.
func TestSortAndKeysetPages(t *testing.T) {
	t.Parallel()
	b := facetSetup(t, search.Config{})
	var (
		got   []uuid.UUID
		token string
		pages int
	)
	for {
		res := b.search(t, search.Request{Where: "sample_count EXISTS", Sort: []string{"pub_date:desc"},
			Limit: 7, PageToken: token})
		if res.Mode != search.ModeBrowse {
			t.Fatalf("mode %v, want browse", res.Mode)
		}
		for _, h := range res.Hits {
			got = append(got, h.SRN.ID)
		}
		pages++
		if token = res.NextPageToken; token == "" || pages > 50 {
			break
		}
	}
	// Every record with a sample_count (numbers and "ten" alike).
	var want []uuid.UUID
	for id, m := range b.meta {
		if _, ok := m["sample_count"]; ok {
			want = append(want, id)
		}
	}
	slices.SortFunc(want, func(x, y uuid.UUID) int {
		dx, dy := sortDate(b.meta[x]), sortDate(b.meta[y])
		switch {
		case dx == "" && dy != "":
			return 1
		case dy == "" && dx != "":
			return -1
		}
		return cmp.Or(strings.Compare(dy, dx), strings.Compare(x.String(), y.String()))
	})
	if !slices.Equal(got, want) {
		t.Fatalf("keyset pages gave %d records, want %d in order (first difference at %d)", len(got), len(want), firstDiff(got, want))
	}

	// A query sorted by sample_count: ascending numbers, those without one last.
	res := b.search(t, search.Request{Query: "liver", Mode: search.ModeKeyword, Sort: []string{"sample_count"}, Limit: 100})
	if len(res.Hits) < 10 {
		t.Fatalf("%d hits: the test proves nothing", len(res.Hits))
	}
	last, seenNone := -1.0, false
	for _, h := range res.Hits {
		n, ok := b.meta[h.SRN.ID]["sample_count"].(float64)
		switch {
		case !ok:
			seenNone = true
		case seenNone || n < last:
			t.Fatalf("hits not in sample_count order: %v after %v (or after a record without one)", n, last)
		default:
			last = n
		}
	}
}

func firstDiff(a, b []uuid.UUID) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
