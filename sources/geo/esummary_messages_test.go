package geo_test

import (
	"context"
	"strings"
	"testing"

	"github.com/osa-archive/osa/sources"
	"github.com/osa-archive/osa/sources/geo/geotest"
)

func TestESummaryMessages(t *testing.T) {
	t.Parallel()
	// A message other than "Unable to obtain query" is NCBI's error, not an expired session:
	// no new search, and the message in the error.
	for _, msg := range []string{geotest.MessageEmptyResult, "Invalid uid list"} {
		t.Run(msg, func(t *testing.T) {
			t.Parallel()
			b := setup(t, geotest.Series(5), nil)
			b.fake.Fail("esummary", geotest.ESummaryMessages(msg))
			_, _, err := b.src.Pull(context.Background(), sources.Cursor{})
			if err == nil || !strings.Contains(err.Error(), msg) {
				t.Fatalf("Pull = %v, want the message", err)
			}
			if n := b.fake.Count("esearch"); n != 1 {
				t.Fatalf("%d searches, want 1: the message is not an expiry", n)
			}
		})
	}
}
