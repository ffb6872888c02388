package jobs_test

import (
	"strings"
	"testing"

	"github.com/osa-archive/osa/jobs/harvest"
	"github.com/osa-archive/osa/sources/geo/geotest"
)

// TestHarvestErrorNamesNoAddress: harvests are public reads, and NCBI's rate-limit answer names
// the caller's address; the stored error keeps the status and NCBI's message only (issue 15
// item 16).
func TestHarvestErrorNamesNoAddress(t *testing.T) {
	t.Parallel()
	src := &testSource{name: "limited", docs: geotest.Series(10)}
	e := newHarvestEnv(t, src)
	client := e.client(t, false)
	var faults []geotest.Fault
	for range 5 * harvest.MaxAttempts {
		faults = append(faults, geotest.RateLimited("1.2.3.4"))
	}
	src.fake.Fail("esearch", faults...)
	h := e.wait(t, e.start(t, client, harvest.Request{Source: "limited"}).ID)
	if h.State != harvest.Failed || !strings.Contains(h.Error, "HTTP 429") || !strings.Contains(h.Error, "API rate limit exceeded") {
		t.Fatalf("harvest %+v, want failed with the status and NCBI's message", h)
	}
	if strings.Contains(h.Error, "1.2.3.4") || strings.Contains(h.Error, "api-key") {
		t.Fatalf("harvest error %q shows the caller's address", h.Error)
	}
}
