package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/osa-archive/osa/internal/pgtest"
)

// TestProviderSmoke runs the provider benchmark on one small shape: every record is indexed
// through the fake provider, its counts are read, and the report states each target.
func TestProviderSmoke(t *testing.T) {
	t.Parallel()
	shape := ProviderShape{Name: "C2 10ms+0.1ms", Concurrency: 2, Latency: 10 * time.Millisecond,
		PerInput: 100 * time.Microsecond, ErrorRate: 0.01, Batch: 16, Records: 400}
	rep, err := Provider(context.Background(), ProviderOpts{AdminURL: pgtest.AdminURL(t), Shapes: []ProviderShape{shape}})
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Results[0]
	t.Logf("%.0f records/s of a limit of %.0f, %d calls, %d answered 429, limit learned %d", r.PerSecond, r.Limit, r.Calls, r.RateLimited, r.LimitLearned)
	if r.PerSecond <= 0 || r.Calls < int64(shape.Records/shape.Batch) || r.InputsPerCall <= 0 || r.InputsPerCall > float64(shape.Batch) ||
		r.LimitLearned < 1 || r.RecordsFailed != 0 {
		t.Fatalf("result %+v", r)
	}
	if md := rep.Markdown(); !strings.Contains(md, "| C2 10ms+0.1ms | 400 | 16 |") || strings.Count(md, "; 429 ") != 1 {
		t.Fatalf("markdown:\n%s", md)
	}
}
