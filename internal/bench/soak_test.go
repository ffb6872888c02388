package bench

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/internal/devpg"
)

// TestSoakSmoke runs a short soak — the real osa binary as an API and a worker process, the
// reindex, the worker's SIGKILL and the database's restart — and checks that the report has its
// per-minute rows and that every fault happened and was survived, not its figures. The soak
// restarts its database, so it runs on a private cluster of its own instead of the shared test
// cluster, whose restart would break the other packages' tests. Not parallel: it measures.
func TestSoakSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "osa")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/osa-archive/osa/cmd/osa").CombinedOutput(); err != nil {
		t.Fatalf("building osa: %v\n%s", err, out)
	}
	binDir, err := devpg.Provision(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cluster, err := devpg.Start(ctx, devpg.Config{BinDir: binDir, Dir: filepath.Join(t.TempDir(), "pg"), Settings: map[string]string{
		"track_commit_timestamp": "on", "fsync": "off", "synchronous_commit": "off", "shared_buffers": "256MB",
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cluster.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})

	rep, err := Soak(ctx, SoakOpts{
		AdminURL:        cluster.URL("postgres"),
		RestartDatabase: cluster.Restart,
		Binary:          bin,
		Duration:        40 * time.Second,
		WarmUp:          5 * time.Second,
		Rate:            100,
		SearchRate:      10,
		SampleEvery:     time.Second,
		Smoke:           true,
		Progress:        testWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}

	var kinds []string
	for _, e := range rep.Events {
		kinds = append(kinds, e.Kind)
		if e.EndSeconds < e.AtSeconds {
			t.Errorf("event %s ends at %.1f s, before it started at %.1f s", e.Kind, e.EndSeconds, e.AtSeconds)
		}
	}
	if want := []string{SoakEventReindex, SoakEventKill, SoakEventDBRestart}; !slices.Equal(kinds, want) {
		t.Fatalf("events %v, want %v: %+v", kinds, want, rep.Events)
	}
	// The rebuild runs behind regular indexing, so on a busy machine it may outlast the load;
	// it must not fail.
	if d := rep.Events[0].Detail; strings.Contains(d, "failed") {
		t.Errorf("the reindex failed: %s", d)
	}

	if len(rep.Minutes) != 1 {
		t.Fatalf("%d per-minute rows for a 40 s run, want 1", len(rep.Minutes))
	}
	mn := rep.Minutes[0]
	if mn.Published == 0 || mn.Searches == 0 || mn.FreshnessCount == 0 {
		t.Errorf("minute 0: %d published, %d searches, %d versions measured: want some of each", mn.Published, mn.Searches, mn.FreshnessCount)
	}
	for i, role := range mn.Roles {
		if mn.RSSMiB[i] <= 0 || mn.Goroutines[i] <= 0 || mn.Connections[i] <= 0 {
			t.Errorf("minute 0, %s process: RSS %.1f MiB, %.0f goroutines, %.1f connections: want all above 0", role, mn.RSSMiB[i], mn.Goroutines[i], mn.Connections[i])
		}
	}
	if !slices.Equal(mn.Events, []string{SoakEventReindex, SoakEventKill, SoakEventDBRestart}) {
		t.Errorf("minute 0 marks the events %v", mn.Events)
	}

	// The worker after the kill is another process, and the samples after the restart read the
	// database again.
	kill, restart := rep.Events[1], rep.Events[2]
	pids := map[int]bool{}
	readAfterRestart := false
	for _, smp := range rep.Samples {
		pids[smp.Processes[1].Pid] = true
		if smp.AtSeconds > restart.EndSeconds && smp.QueueDepth >= 0 && smp.Processes[1].Connections > 0 {
			readAfterRestart = true
		}
	}
	if len(pids) != 2 {
		t.Errorf("worker pids sampled %v, want 2: one before the kill at %.1f s and one after", pids, kill.AtSeconds)
	}
	if !readAfterRestart {
		t.Error("no sample after the database restart read the queue and the worker's connections")
	}
	if rep.Freshness.Records == 0 || rep.Unmeasured != 0 || rep.IndexFailed != 0 {
		t.Errorf("freshness: %d measured, %d never indexed, %d failed: want every version indexed", rep.Freshness.Records, rep.Unmeasured, rep.IndexFailed)
	}
	if len(rep.Recoveries) != 3 || len(rep.Verdicts) == 0 {
		t.Errorf("%d recoveries, %d verdicts", len(rep.Recoveries), len(rep.Verdicts))
	}

	md, svg := rep.Markdown(), rep.SVG()
	for _, want := range []string{"## Per minute", "## Events", "worker SIGKILL", "database restart", "reindex"} {
		if !strings.Contains(md, want) {
			t.Errorf("the Markdown lacks %q", want)
		}
	}
	if !strings.HasPrefix(svg, "<svg") || strings.Count(svg, `class="panel"`) != 5 {
		t.Errorf("the chart is not 5 panels of SVG: %.200s", svg)
	}

	// The scratch database is gone.
	conn, err := pgx.Connect(ctx, cluster.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var left int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_database WHERE starts_with(datname, $1)", scratchPrefix).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d scratch databases left", left)
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatal(err)
	}
}

// The recoveries read the windows after each event up to the next one: the end of the last
// window over target, or not recovered when the last window seen is still over it; growth
// compares the first whole minute after the warm-up of the process running at the end with the
// last minute.
func TestSoakEvaluate(t *testing.T) {
	t.Parallel()
	win := func(start, p95 float64) SoakWindow { return SoakWindow{StartSeconds: start, Records: 10, P95Ms: p95} }
	minute := func(m int, apiRSS, wrkRSS float64) SoakMinute {
		return SoakMinute{Minute: m, Roles: []string{"api", "worker"}, RSSMiB: []float64{apiRSS, wrkRSS}, Goroutines: []float64{20, 300}}
	}
	rep := &SoakReport{
		DurationSeconds: 300, WarmUpSeconds: 60,
		Events: []SoakEvent{
			{Kind: SoakEventKill, AtSeconds: 100, EndSeconds: 101},
			{Kind: SoakEventDBRestart, AtSeconds: 200, EndSeconds: 202},
		},
		Windows: []SoakWindow{
			win(95, 100), win(100, 100), win(105, 5000), win(110, 400), win(115, 100), win(120, 200), win(125, 0),
			win(195, 100), win(200, 100), win(205, 900), win(210, 800),
		},
		Minutes: []SoakMinute{minute(0, 40, 40), minute(1, 50, 60), minute(2, 51, 45), minute(3, 52, 50), minute(4, 56, 50)},
	}
	rep.evaluate()

	if got := rep.Recoveries[0]; !got.Recovered || got.Seconds != 15 || got.WorstP95Ms != 5000 {
		t.Errorf("kill: %+v, want recovered after 15 s (the window 110-115 s), worst 5,000 ms", got)
	}
	if got := rep.Recoveries[1]; got.Recovered || got.Seconds != 15 {
		t.Errorf("restart: %+v, want not recovered, over target at least 15 s", got)
	}
	growth := map[string]SoakGrowth{}
	for _, g := range rep.Growth {
		growth[g.Role+"/"+g.Figure] = g
	}
	// api: minute 1 (after the 60 s warm-up) 50 → minute 4 56 MiB: +12 %.
	if g := growth["api/rss"]; g.FromMin != 1 || !g.Evaluated || g.Growth < 0.119 || g.Growth > 0.121 {
		t.Errorf("api RSS growth %+v, want from minute 1, +12 %%", g)
	}
	// worker: restarted at 101 s, so from minute 3 (101 + 60 s): 50 → 50.
	if g := growth["worker/rss"]; g.FromMin != 3 || !g.Evaluated || g.Growth != 0 {
		t.Errorf("worker RSS growth %+v, want from minute 3, 0 %%", g)
	}
	met := map[string]bool{}
	for _, v := range rep.Verdicts {
		met[v.Target] = v.Met
	}
	for target, want := range map[string]bool{
		"api process: RSS grow less than 10 % after the warm-up":             false,
		"worker process: RSS grow less than 10 % after the warm-up":          true,
		"freshness p95 back under 300 ms within 30s of the worker SIGKILL":   true,
		"freshness p95 back under 300 ms within 30s of the database restart": false,
		"no request fails except during the database restart":                true,
	} {
		if got, ok := met[target]; !ok || got != want {
			t.Errorf("verdict %q: met %v (present %v), want %v", target, got, ok, want)
		}
	}
}
