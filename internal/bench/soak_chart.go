package bench

import "fmt"

// soakChartFreshnessCap is the top of the freshness panel's axis, in multiples of the target:
// a fault's seconds-long delays would otherwise flatten everything else.
const soakChartFreshnessCap = 10

// SVG charts the soak over time, in minutes from the start of the load, with the events
// marked: each process's RSS, goroutines and database connections, River's queue depth, and
// the freshness p95 per window of indexing time. It returns "" when there are no samples.
func (r *SoakReport) SVG() string {
	if len(r.Samples) == 0 {
		return ""
	}
	end := r.DurationSeconds / 60
	xLabel := "minutes since the load started"
	var marks []chartMark
	for _, e := range r.Events {
		marks = append(marks, chartMark{x: e.AtSeconds / 60, label: soakEventName(e.Kind)})
	}
	panel := func(title, yLabel string) chartPanel {
		return chartPanel{title: title, xLabel: xLabel, yLabel: yLabel, xMax: end, marks: marks}
	}
	rss, gor, conns := panel("RSS per process (VmRSS)", "MiB"), panel("goroutines per process", "goroutines"),
		panel("database connections per process (pg_stat_activity)", "connections")
	queue := panel("River queue depth: available + running + retryable jobs", "jobs")
	roles := r.roles()
	for i, role := range roles {
		color := chartColors[i%len(chartColors)]
		rs, gs, cs := chartSeries{name: role, color: color}, chartSeries{name: role, color: color}, chartSeries{name: role, color: color}
		for _, smp := range r.Samples {
			if i >= len(smp.Processes) {
				continue
			}
			x, ps := smp.AtSeconds/60, smp.Processes[i]
			if ps.RSSBytes >= 0 {
				rs.xs, rs.ys = append(rs.xs, x), append(rs.ys, float64(ps.RSSBytes)/(1<<20))
			}
			if ps.Goroutines >= 0 {
				gs.xs, gs.ys = append(gs.xs, x), append(gs.ys, float64(ps.Goroutines))
			}
			if ps.Connections >= 0 {
				cs.xs, cs.ys = append(cs.xs, x), append(cs.ys, float64(ps.Connections))
			}
		}
		rss.series, gor.series, conns.series = append(rss.series, rs), append(gor.series, gs), append(conns.series, cs)
	}
	qs := chartSeries{name: "queue depth", color: chartPublishedColor}
	for _, smp := range r.Samples {
		if smp.QueueDepth >= 0 {
			qs.xs, qs.ys = append(qs.xs, smp.AtSeconds/60), append(qs.ys, float64(smp.QueueDepth))
		}
	}
	queue.series = []chartSeries{qs}
	fresh := panel(fmt.Sprintf("freshness p95 of the versions indexed in each %s-s window (axis cut at %s ms)",
		fmtNum(SoakRecoveryWindow.Seconds()), fmtNum(soakChartFreshnessCap*FreshnessP95Target)), "milliseconds")
	fresh.goal, fresh.goalLabel = FreshnessP95Target, fmt.Sprintf("target p95 ≤ %d ms", FreshnessP95Target)
	fresh.yCap = soakChartFreshnessCap * FreshnessP95Target
	fs := chartSeries{name: "p95, every backend", color: chartFreshnessColor}
	for _, w := range r.Windows {
		if w.Records > 0 {
			fs.xs, fs.ys = append(fs.xs, (w.StartSeconds+SoakRecoveryWindow.Seconds()/2)/60), append(fs.ys, w.P95Ms)
		}
	}
	fresh.series = []chartSeries{fs}
	return renderChart("OSA soak: processes, queue and freshness over time", []chartPanel{rss, gor, conns, queue, fresh})
}
