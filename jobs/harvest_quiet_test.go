package jobs_test

import (
	"testing"

	"github.com/osa-archive/osa/jobs/harvest"
	"github.com/osa-archive/osa/sources/geo/geotest"
)

// TestHarvestOfAQuietDay: NCBI answers a search without hits with neither WebEnv nor query_key;
// a harvest --since a day nothing was published is a success with nothing fetched (issue 15
// item 15).
func TestHarvestOfAQuietDay(t *testing.T) {
	t.Parallel()
	src := &testSource{name: "quiet", docs: geotest.Series(10)}
	e := newHarvestEnv(t, src)
	client := e.client(t, false)
	h := e.wait(t, e.start(t, client, harvest.Request{Source: "quiet", Since: "2031-01-01"}).ID)
	if h.State != harvest.Succeeded || h.Fetched != 0 || h.Total != 0 || h.Error != "" {
		t.Fatalf("harvest %+v, want an empty success", h)
	}
	if n := src.fake.Count("esearch"); n != 1 || src.fake.Count("esummary") != 0 {
		t.Fatalf("%d searches and %d esummary requests, want 1 and 0", n, src.fake.Count("esummary"))
	}
}
