package geo_test

import (
	"slices"
	"testing"

	"github.com/osa-archive/osa/sources"
	"github.com/osa-archive/osa/sources/geo/geotest"
)

func TestUnfetchedDocuments(t *testing.T) {
	t.Parallel()
	docs := geotest.Series(5)
	docs[1].Error = "cannot get document summary" // ESUMMARY_ERROR's per-uid error
	docs[3].Error = "cannot get document summary"
	b := setup(t, docs, nil)
	page, _ := b.pull(t, sources.Cursor{})
	if page.Fetched != 5 || page.Skipped != 2 || len(page.Records) != 3 {
		t.Fatalf("fetched %d, skipped %d, %d records", page.Fetched, page.Skipped, len(page.Records))
	}
	if want := []string{docs[1].UID, docs[3].UID}; !slices.Equal(page.Unfetched, want) {
		t.Fatalf("unfetched %v, want %v", page.Unfetched, want)
	}
}
