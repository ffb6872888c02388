package bench

import (
	"context"
	"strings"
	"testing"

	"github.com/osa-archive/osa/internal/pgtest"
)

// TestRebuildSmoke runs the rebuild benchmark on a small corpus: the change rebuilds, the
// ceiling and both search series are measured, and every unchanged row's vector is copied, not
// embedded again (the new generation embeds at most the changed records). The throughput and
// latency figures themselves are for osa bench rebuild.
func TestRebuildSmoke(t *testing.T) {
	t.Parallel()
	rep, err := Rebuild(context.Background(), RebuildOpts{AdminURL: pgtest.AdminURL(t), Records: RebuildRecordsSmokeDefault})
	if err != nil {
		t.Fatal(err)
	}
	if rep.RebuildSeconds <= 0 || rep.CeilingIndexSeconds <= 0 || rep.CeilingCopySeconds <= 0 {
		t.Fatalf("rebuild %.3f s, ceiling COPY %.3f s, index %.3f s", rep.RebuildSeconds, rep.CeilingCopySeconds, rep.CeilingIndexSeconds)
	}
	t.Logf("embedding inputs: baseline %d, the new generation's %d, for %d changed records", rep.BaselineInputs, rep.RebuildInputs, rep.Updates)
	if rep.BaselineInputs != int64(rep.Updates) || rep.RebuildInputs < 0 || rep.RebuildInputs > int64(rep.Updates) {
		t.Fatalf("embedding inputs: baseline %d, the new generation's %d, for %d changed records", rep.BaselineInputs, rep.RebuildInputs, rep.Updates)
	}
	if rep.Idle.Requests != rebuildIdleSearches || rep.Idle.Errors+rep.Idle.EmptyCount != 0 || rep.During.Requests == 0 ||
		rep.During.Errors+rep.During.EmptyCount != 0 {
		t.Fatalf("searches: idle %+v, during %+v", rep.Idle, rep.During)
	}
	if md := rep.Markdown(); !strings.Contains(md, "share of the bulk path") || !strings.Contains(md, "| during the rebuild |") {
		t.Fatalf("markdown:\n%s", md)
	}
}
