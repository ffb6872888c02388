package jobs_test

import (
	"slices"
	"testing"

	"github.com/osa-archive/osa/jobs/harvest"
	"github.com/osa-archive/osa/sources/geo/geotest"
)

// TestHarvestReportsUnfetched: the uids esummary answered with an error are counted and listed
// in the harvest's row, capped, and each chunk that had some logs them once at WARN (issue 15
// item 14).
func TestHarvestReportsUnfetched(t *testing.T) {
	t.Parallel()
	docs := geotest.Series(25)
	for _, i := range []int{1, 3, 12, 24} {
		docs[i].Error = "cannot get document summary"
	}
	all := &testSource{name: "unfetched", docs: docs}
	capped := &testSource{name: "capped", docs: docs, maxUnfetched: 2}
	e := newHarvestEnv(t, all, capped)
	client := e.client(t, false)

	t.Run("CountedListedAndLogged", func(t *testing.T) {
		t.Parallel()
		h := e.wait(t, e.start(t, client, harvest.Request{Source: "unfetched"}).ID)
		want := []string{docs[1].UID, docs[3].UID, docs[12].UID, docs[24].UID}
		if h.State != harvest.Succeeded || h.Fetched != 25 || h.Published != 21 || h.Skipped != 4 || h.Unfetched != 4 {
			t.Fatalf("harvest %+v, want 21 published and 4 unfetched", h)
		}
		got := slices.Clone(h.UnfetchedIDs)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("unfetched ids %v, want %v", h.UnfetchedIDs, want)
		}
		// One WARN line per chunk that had some: chunks 0, 10 and 20 of three.
		var lines []map[string]any
		for _, l := range e.logs.lines(t, "harvest: documents the source could not return") {
			if l["source"] == "unfetched" {
				lines = append(lines, l)
			}
		}
		if len(lines) != 3 {
			t.Fatalf("%d WARN lines, want one per chunk with unfetched documents (3): %v", len(lines), lines)
		}
		for _, l := range lines {
			if l["level"] != "WARN" || l["count"] == nil || l["ids"] == nil {
				t.Fatalf("line %v, want WARN with count and ids", l)
			}
		}
	})
	t.Run("ListCapped", func(t *testing.T) {
		t.Parallel()
		h := e.wait(t, e.start(t, client, harvest.Request{Source: "capped"}).ID)
		if h.State != harvest.Succeeded || h.Unfetched != 4 || len(h.UnfetchedIDs) != 2 {
			t.Fatalf("harvest %+v, want 4 unfetched, 2 of them listed", h)
		}
	})
}
