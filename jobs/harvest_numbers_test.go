package jobs_test

import (
	"testing"

	"github.com/osa-archive/osa/jobs/harvest"
	"github.com/osa-archive/osa/sources/geo/geotest"
)

// TestHarvestKeepsRecordsWithEmptyNumbers: a document whose n_samples is "" (as NCBI serves
// it) is published without sample_count, and the harvest counts a warning (issue 15 item 13).
func TestHarvestKeepsRecordsWithEmptyNumbers(t *testing.T) {
	t.Parallel()
	docs := geotest.Series(15)
	for _, i := range []int{2, 11} {
		docs[i].Raw = map[string]any{"n_samples": geotest.NoSampleCount}
	}
	e := newHarvestEnv(t, &testSource{name: "numbers", docs: docs})
	client := e.client(t, false)
	h := e.wait(t, e.start(t, client, harvest.Request{Source: "numbers"}).ID)
	if h.State != harvest.Succeeded || h.Published != 15 || h.Skipped != 0 || h.Warnings != 2 {
		t.Fatalf("harvest %+v, want 15 published, none skipped, 2 warnings", h)
	}
	if n := e.count(t, `SELECT count(*) FROM records WHERE source = 'numbers' AND NOT metadata ? 'sample_count'`); n != 2 {
		t.Fatalf("%d records without sample_count, want 2", n)
	}
}
