package bench

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/osa-archive/osa/jobs/heartbeat"
)

// SoakReport is the outcome of [Soak]. It is JSON-serialisable; [SoakReport.Markdown] renders
// it for people and [SoakReport.SVG] charts it.
type SoakReport struct {
	Command string    `json:"command,omitempty"`
	Date    time.Time `json:"date"`
	Machine Machine   `json:"machine"`
	// DurationSeconds ... ReindexBackend are the options the soak ran with.
	DurationSeconds float64 `json:"duration_seconds"`
	WarmUpSeconds   float64 `json:"warm_up_seconds"`
	Rate            int     `json:"rate"`
	SearchRate      int     `json:"search_rate"`
	SampleSeconds   float64 `json:"sample_seconds"`
	UpdateShare     float64 `json:"update_share"`
	ReindexBackend  string  `json:"reindex_backend"`
	// Published, Updated and Searches are the requests that succeeded (Updated is the share
	// of Published that were new versions).
	Published int `json:"published"`
	Updated   int `json:"updated"`
	Searches  int `json:"searches"`
	// Events are the faults and anything unexpected, in order, in seconds from the start.
	Events []SoakEvent `json:"events"`
	// Minutes are the figures per minute of the run.
	Minutes []SoakMinute `json:"minutes"`
	// Samples are the raw samples, every SampleSeconds.
	Samples []SoakSample `json:"samples"`
	// Freshness is over every record version measured, the whole run.
	Freshness FreshnessStats `json:"freshness"`
	// Superseded versions were replaced by a newer one before they were seen indexed;
	// IndexFailed ones failed to index; Unmeasured were still pending when the soak ended.
	Superseded  int `json:"superseded"`
	IndexFailed int `json:"index_failed"`
	Unmeasured  int `json:"unmeasured"`
	// Windows are the freshness p95 per [SoakRecoveryWindow] of indexing time, from which the
	// recoveries are read.
	Windows []SoakWindow `json:"windows"`
	// Recoveries are how long each event kept freshness p95 above target.
	Recoveries []SoakRecovery `json:"recoveries"`
	// Failures are the requests that failed.
	Failures SoakFailures `json:"failures"`
	// Growth compares each process's RSS and goroutines after the warm-up with the end.
	Growth []SoakGrowth `json:"growth"`
	// Verdicts compare the figures with the targets.
	Verdicts []SoakVerdict `json:"verdicts"`
	// Chart is the file name of the chart the Markdown links to; "" links none.
	Chart string `json:"chart,omitempty"`
	// Smoke says the run was a smoke run: its figures check that it works.
	Smoke bool `json:"smoke,omitempty"`
}

// SoakEvent is one fault of the soak, or a process that exited by itself.
type SoakEvent struct {
	// Kind is SoakEventReindex, SoakEventKill, SoakEventDBRestart or SoakEventExit.
	Kind string `json:"kind"`
	// AtSeconds and EndSeconds are when it started and was over (the rebuild swapped in, the
	// new worker ready, the database accepting connections), from the start of the load.
	AtSeconds  float64 `json:"at_seconds"`
	EndSeconds float64 `json:"end_seconds"`
	Detail     string  `json:"detail"`
}

// SoakSample is one sample of the processes and the queue.
type SoakSample struct {
	AtSeconds float64 `json:"at_seconds"`
	// QueueDepth is River's jobs available, running and retryable; -1 when unreadable.
	QueueDepth int                 `json:"queue_depth"`
	Processes  []SoakProcessSample `json:"processes"`
}

// SoakProcessSample is one process's figures in a [SoakSample]; -1 is a figure that could not
// be read.
type SoakProcessSample struct {
	Role string `json:"role"`
	Pid  int    `json:"pid"`
	// RSSBytes is VmRSS of /proc/PID/status.
	RSSBytes int64 `json:"rss_bytes"`
	// Goroutines is go_goroutines of its /metrics.
	Goroutines int `json:"goroutines"`
	// Connections are its sessions in pg_stat_activity (by application_name).
	Connections int `json:"connections"`
}

// SoakMinute is one minute of the soak. Process figures are the means of the minute's samples
// (Max: the highest), per role in the order of Roles.
type SoakMinute struct {
	Minute         int       `json:"minute"`
	Roles          []string  `json:"roles"`
	RSSMiB         []float64 `json:"rss_mib"`
	Goroutines     []float64 `json:"goroutines"`
	Connections    []float64 `json:"connections"`
	QueueDepthMax  int       `json:"queue_depth_max"`
	Published      int       `json:"published"`
	Searches       int       `json:"searches"`
	Failures       int       `json:"failures"`
	FreshnessCount int       `json:"freshness_records"`
	FreshnessP50Ms float64   `json:"freshness_p50_ms"`
	FreshnessP95Ms float64   `json:"freshness_p95_ms"`
	// NotIndexed are the versions published in the minute never seen indexed in every backend
	// (the freshness figures leave them out: they are later than any of them).
	NotIndexed int `json:"not_indexed"`
	// CPU is the machine's CPU use over the minute, the soak's own (the osa processes,
	// PostgreSQL, the harness) apart from the others'; LoadAvg the load averages at its end.
	CPU     CPUUse `json:"cpu"`
	LoadAvg string `json:"load_avg,omitempty"`
	// Events are the kinds of the events that started in the minute.
	Events []string `json:"events,omitempty"`
}

// SoakWindow is the freshness of the record versions indexed in one window.
type SoakWindow struct {
	StartSeconds float64 `json:"start_seconds"`
	Records      int     `json:"records"`
	P95Ms        float64 `json:"p95_ms"`
}

// SoakRecovery is how long one event kept freshness p95 above [FreshnessP95Target]: from the
// event's start to the end of the last window (by indexing time) over target within
// [SoakRecoveryHorizon] or before the next event.
type SoakRecovery struct {
	Kind       string  `json:"kind"`
	AtSeconds  float64 `json:"at_seconds"`
	Seconds    float64 `json:"seconds"`
	WorstP95Ms float64 `json:"worst_p95_ms"`
	// Recovered is false when the last window looked at was still over target: Seconds is
	// then a lower bound.
	Recovered bool `json:"recovered"`
}

// SoakFailures are the failed requests.
type SoakFailures struct {
	Total int `json:"total"`
	// DuringRestart failed between the database's stop and [SoakRestartGrace] after it
	// accepted connections again; Outside at any other time.
	DuringRestart int `json:"during_restart"`
	Outside       int `json:"outside"`
	// LastAfterRestartSeconds is the time of the restart's last failure after the database
	// accepted connections again (negative: before).
	LastAfterRestartSeconds float64 `json:"last_after_restart_seconds"`
	// Examples are the first failures outside the restart (up to 10), "at s op: error".
	Examples []string `json:"examples,omitempty"`
}

// SoakGrowth is one figure of one process from the first minute after the warm-up (or after
// the process's restart and another warm-up) to the last minute.
type SoakGrowth struct {
	Role      string  `json:"role"`
	Figure    string  `json:"figure"`
	FromMin   int     `json:"from_minute"`
	From      float64 `json:"from"`
	To        float64 `json:"to"`
	Growth    float64 `json:"growth"`
	Evaluated bool    `json:"evaluated"`
}

// SoakVerdict is one target: met or missed, with the figures.
type SoakVerdict struct {
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
	// Evaluated is false when the run had too little data for the target: Met means nothing.
	Evaluated bool `json:"evaluated"`
}

// fill turns what the run saw into rep's figures.
func (s *soakRun) fill(rep *SoakReport) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rep.Smoke = s.opts.Smoke
	rep.Events, rep.Samples = slices.Clone(s.events), slices.Clone(s.samples)
	for _, c := range s.counts {
		rep.Published += c.published
		rep.Updated += c.updated
		rep.Searches += c.searches
	}
	done, superseded, failed, pending := s.fresh.results()
	rep.Superseded, rep.IndexFailed, rep.Unmeasured = superseded, failed, len(pending)
	rep.Freshness, _ = freshnessOf(done, s.fresh.backends, s.fresh.method, time.Minute)
	start := s.start

	// Per minute. Freshness by commit time, as everywhere else: freshnessOf over each minute's
	// versions.
	minutes := int(s.opts.Duration / time.Minute)
	if s.opts.Duration%time.Minute != 0 {
		minutes++
	}
	byMinute := make([][]recordTime, minutes)
	for _, r := range done {
		if m := int(r.committed.Sub(start) / time.Minute); m >= 0 && m < minutes {
			byMinute[m] = append(byMinute[m], r)
		}
	}
	roles := []string{s.api.role, s.wrk.role}
	for m := range minutes {
		row := SoakMinute{Minute: m, Roles: roles, RSSMiB: make([]float64, 2), Goroutines: make([]float64, 2), Connections: make([]float64, 2)}
		if c := s.counts[m]; c != nil {
			row.Published, row.Searches = c.published, c.searches
		}
		for _, f := range s.failures {
			if int(f.at/time.Minute) == m {
				row.Failures++
			}
		}
		for _, e := range s.events {
			if int(e.AtSeconds/60) == m {
				row.Events = append(row.Events, e.Kind)
			}
		}
		n := make([][3]int, 2)
		for _, smp := range s.samples {
			if int(smp.AtSeconds/60) != m {
				continue
			}
			row.QueueDepthMax = max(row.QueueDepthMax, smp.QueueDepth)
			for i, ps := range smp.Processes {
				if ps.RSSBytes >= 0 {
					row.RSSMiB[i] += float64(ps.RSSBytes) / (1 << 20)
					n[i][0]++
				}
				if ps.Goroutines >= 0 {
					row.Goroutines[i] += float64(ps.Goroutines)
					n[i][1]++
				}
				if ps.Connections >= 0 {
					row.Connections[i] += float64(ps.Connections)
					n[i][2]++
				}
			}
		}
		for i := range 2 {
			row.RSSMiB[i] /= float64(max(n[i][0], 1))
			row.Goroutines[i] /= float64(max(n[i][1], 1))
			row.Connections[i] /= float64(max(n[i][2], 1))
		}
		for _, at := range pending {
			if int(at.Sub(start)/time.Minute) == m {
				row.NotIndexed++
			}
		}
		row.CPU, row.LoadAvg = s.minuteCPU[m], s.minuteLoad[m]
		st, _ := freshnessOf(byMinute[m], s.fresh.backends, s.fresh.method, time.Minute)
		row.FreshnessCount, row.FreshnessP50Ms, row.FreshnessP95Ms = st.Records, st.P50Ms, st.P95Ms
		rep.Minutes = append(rep.Minutes, row)
	}

	// Freshness windows by indexing time: when a fault's delayed versions are finally indexed,
	// their window shows it.
	byWindow := map[int][]float64{}
	last := 0
	for _, r := range done {
		at := slices.MaxFunc(r.indexed, func(a, b time.Time) int { return a.Compare(b) })
		w := max(int(at.Sub(start)/SoakRecoveryWindow), 0)
		byWindow[w] = append(byWindow[w], max(durationMillis(at.Sub(r.committed)), 0))
		last = max(last, w)
	}
	for w := 0; w <= last && len(done) > 0; w++ {
		fs := byWindow[w]
		slices.Sort(fs)
		rep.Windows = append(rep.Windows, SoakWindow{StartSeconds: float64(w) * SoakRecoveryWindow.Seconds(), Records: len(fs), P95Ms: percentile(fs, 0.95)})
	}

	// Failures, split around the database restart.
	var restart *SoakEvent
	for i := range s.events {
		if s.events[i].Kind == SoakEventDBRestart {
			restart = &s.events[i]
		}
	}
	rep.Failures.Total = len(s.failures)
	for _, f := range s.failures {
		at := f.at.Seconds()
		if restart != nil && at >= restart.AtSeconds && at <= restart.EndSeconds+SoakRestartGrace.Seconds() {
			rep.Failures.DuringRestart++
			rep.Failures.LastAfterRestartSeconds = at - restart.EndSeconds
			continue
		}
		rep.Failures.Outside++
		if len(rep.Failures.Examples) < 10 {
			rep.Failures.Examples = append(rep.Failures.Examples, fmt.Sprintf("%.1f s %s: %s", at, f.op, f.err))
		}
	}
}

// evaluate computes the recoveries, the growth and the verdicts.
func (r *SoakReport) evaluate() {
	r.Recoveries, r.Growth, r.Verdicts = nil, nil, nil
	for i, e := range r.Events {
		horizon := e.AtSeconds + SoakRecoveryHorizon.Seconds()
		if i+1 < len(r.Events) {
			horizon = min(horizon, r.Events[i+1].AtSeconds)
		}
		rec := SoakRecovery{Kind: e.Kind, AtSeconds: e.AtSeconds, Recovered: true}
		for _, w := range r.Windows {
			end := w.StartSeconds + SoakRecoveryWindow.Seconds()
			if end <= e.AtSeconds || w.StartSeconds >= horizon || w.Records == 0 {
				continue
			}
			rec.WorstP95Ms = max(rec.WorstP95Ms, w.P95Ms)
			// Recovered as long as a window under target follows the last one over it.
			rec.Recovered = w.P95Ms <= FreshnessP95Target
			if !rec.Recovered {
				rec.Seconds = end - e.AtSeconds
			}
		}
		r.Recoveries = append(r.Recoveries, rec)
	}

	// Growth: each role's figure in the first whole minute after the warm-up of the process
	// running at the end (its restart, if any, plus the warm-up) against the last whole minute.
	lastMin := int(r.DurationSeconds/60) - 1
	for i, role := range r.roles() {
		born := 0.0
		for _, e := range r.Events {
			if (e.Kind == SoakEventKill && role == "worker") || (e.Kind == SoakEventExit && strings.Contains(e.Detail, "the "+role+" ")) {
				born = e.EndSeconds
			}
		}
		from := int((born + r.WarmUpSeconds + 59.999) / 60)
		for _, fig := range []string{"rss", "goroutines"} {
			g := SoakGrowth{Role: role, Figure: fig, FromMin: from}
			if from < lastMin && lastMin < len(r.Minutes) {
				pick := func(m SoakMinute) float64 {
					if fig == "rss" {
						return m.RSSMiB[i]
					}
					return m.Goroutines[i]
				}
				g.From, g.To = pick(r.Minutes[from]), pick(r.Minutes[lastMin])
				if g.From > 0 {
					g.Growth, g.Evaluated = g.To/g.From-1, true
				}
			}
			r.Growth = append(r.Growth, g)
		}
	}

	for _, g := range r.Growth {
		name := map[string]string{"rss": "RSS", "goroutines": "goroutines"}[g.Figure]
		v := SoakVerdict{Target: fmt.Sprintf("%s process: %s grow less than %.0f %% after the warm-up", g.Role, name, 100*TargetSoakGrowth)}
		if !g.Evaluated {
			v.Measured = "not evaluated: the run has no whole minute after the warm-up before the last one"
		} else {
			unit := func(x float64) string {
				if g.Figure == "rss" {
					return fmt.Sprintf("%.1f MiB", x)
				}
				return fmt.Sprintf("%.0f", x)
			}
			v.Measured = fmt.Sprintf("%+.1f %% (minute %d %s → minute %d %s)", 100*g.Growth, g.FromMin, unit(g.From), lastMin, unit(g.To))
			v.Met, v.Evaluated = g.Growth < TargetSoakGrowth, true
		}
		r.Verdicts = append(r.Verdicts, v)
	}
	fv := SoakVerdict{Target: "no request fails except during the database restart",
		Measured: fmt.Sprintf("%d failed outside it, %d during it (of %d publishes and %d searches that succeeded)",
			r.Failures.Outside, r.Failures.DuringRestart, r.Published, r.Searches), Met: r.Failures.Outside == 0, Evaluated: true}
	r.Verdicts = append(r.Verdicts, fv)
	for _, rec := range r.Recoveries {
		if rec.Kind == SoakEventReindex {
			continue // load, not a fault: its figures are in the recoveries table
		}
		v := SoakVerdict{Target: fmt.Sprintf("freshness p95 back under %d ms within %s of the %s", FreshnessP95Target, TargetSoakRecovery, soakEventName(rec.Kind)),
			Measured: fmt.Sprintf("%s (worst %s-s window p95 %s ms)", rec.format(), fmtNum(SoakRecoveryWindow.Seconds()), fmtNum(rec.WorstP95Ms)),
			Met:      rec.Recovered && rec.Seconds <= TargetSoakRecovery.Seconds(), Evaluated: true}
		r.Verdicts = append(r.Verdicts, v)
	}
	for _, e := range r.Events {
		if e.Kind == SoakEventExit {
			r.Verdicts = append(r.Verdicts, SoakVerdict{Target: "no process exits by itself",
				Measured: fmt.Sprintf("%.0f s: %s", e.AtSeconds, e.Detail), Evaluated: true})
		}
	}
}

// format renders the time over target: "12 s", or "not back after 45 s" when it never was.
func (rec SoakRecovery) format() string {
	if !rec.Recovered {
		return fmt.Sprintf("not back under target after %.0f s", rec.Seconds)
	}
	return fmt.Sprintf("%.0f s", rec.Seconds)
}

// roles returns the roles of the processes, in the order of the minutes' figures.
func (r *SoakReport) roles() []string {
	if len(r.Minutes) > 0 {
		return r.Minutes[0].Roles
	}
	return nil
}

// soakEventName names an event kind in prose.
func soakEventName(kind string) string {
	switch kind {
	case SoakEventReindex:
		return "reindex"
	case SoakEventKill:
		return "worker SIGKILL"
	case SoakEventDBRestart:
		return "database restart"
	case SoakEventExit:
		return "unexpected exit"
	}
	return kind
}

// Markdown renders the report: the verdicts, the events, the minutes and the machine.
func (r *SoakReport) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := r.Machine
	p := m.Postgres
	m.writeHeader(&b, "Soak benchmark", r.Command, r.Date)
	w("An API process and a worker process (`osa serve --role api|worker`, the built-in configuration: both backends, hash embedder, "+
		"worker.dead_after %s, the default) on a scratch database, for %s: %d records/s published (%.0f %% of them new versions of earlier records, "+
		"title changed; one PublishRecords call every %s ms) and %d searches/s (default mode, 10 hits). Warm-up %s. "+
		"Faults: a rebuild of the %s backend (`osa reindex`), a SIGKILL of the worker with an immediate restart, a fast restart of PostgreSQL.\n\n",
		heartbeat.DeadAfterDefault, time.Duration(r.DurationSeconds*float64(time.Second)), r.Rate, 100*r.UpdateShare, fmtNum(FreshnessTick.Seconds()*1000), r.SearchRate,
		time.Duration(r.WarmUpSeconds*float64(time.Second)), r.ReindexBackend)
	if r.Smoke {
		w("**Smoke run**: every part ran, too briefly for the figures to mean much; targets are not enforced.\n\n")
	}

	w("## Targets\n\n| target | measured | met |\n|---|---|:-:|\n")
	for _, v := range r.Verdicts {
		met := "–"
		if v.Evaluated {
			met = yesNo(v.Met)
		}
		w("| %s | %s | %s |\n", v.Target, strings.ReplaceAll(v.Measured, "\n", " "), met)
	}
	w("\n")
	if len(r.Failures.Examples) > 0 {
		w("Failures outside the database restart (first %d):\n\n", len(r.Failures.Examples))
		for _, e := range r.Failures.Examples {
			w("- %s\n", strings.ReplaceAll(e, "\n", " "))
		}
		w("\n")
	}

	w("## Events\n\n| event | from | to | detail | freshness p95 over target for | worst %s-s p95 |\n|---|---:|---:|---|---:|---:|\n",
		fmtNum(SoakRecoveryWindow.Seconds()))
	for i, e := range r.Events {
		rec := "–"
		worst := "–"
		if i < len(r.Recoveries) {
			rec = r.Recoveries[i].format()
			worst = fmtNum(r.Recoveries[i].WorstP95Ms) + " ms"
		}
		w("| %s | %s | %s | %s | %s | %s |\n", soakEventName(e.Kind), fmtClock(e.AtSeconds), fmtClock(e.EndSeconds),
			strings.ReplaceAll(e.Detail, "\n", " "), rec, worst)
	}
	w("\nA fault's time over target runs from its start to the end of the last %s-s window, by indexing time, whose "+
		"p95 of commit → indexed in every backend exceeds %d ms, within %s or before the next event. Failed requests: %d "+
		"(%d between the database's stop and %s after it accepted connections again; the last of them %.1f s after it did).\n\n",
		fmtNum(SoakRecoveryWindow.Seconds()), FreshnessP95Target, SoakRecoveryHorizon, r.Failures.Total, r.Failures.DuringRestart,
		SoakRestartGrace, r.Failures.LastAfterRestartSeconds)

	if r.Chart != "" {
		w("## Over time\n\n![RSS, goroutines, connections, queue depth and freshness over time](%s)\n\n", r.Chart)
	}

	w("## Per minute\n\n")
	w("Process figures are the means of the minute's samples (every %s s); queue depth is River's available + running + retryable "+
		"jobs, the minute's highest; freshness is commit → indexed in every backend over the versions committed in the minute and seen "+
		"indexed (never indexed: those still waiting when the soak ended, %s after the load stopped); CPU is the whole machine's, in "+
		"brackets the share of everything but the soak (its osa processes, PostgreSQL and the harness): other work on a shared machine.\n\n",
		fmtNum(r.SampleSeconds), SoakDrainTimeout)
	roles := r.roles()
	w("| min |")
	for _, role := range roles {
		w(" %s RSS MiB | %s goroutines | %s conns |", role, role, role)
	}
	w(" queue | published | searches | failures | freshness p50 / p95 ms | never indexed | CPU busy (others) | load avg | events |\n|---:|")
	for range roles {
		w("---:|---:|---:|")
	}
	w("---:|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, mn := range r.Minutes {
		w("| %d |", mn.Minute)
		for i := range roles {
			w(" %.1f | %.0f | %.1f |", mn.RSSMiB[i], mn.Goroutines[i], mn.Connections[i])
		}
		var ev []string
		for _, e := range mn.Events {
			ev = append(ev, soakEventName(e))
		}
		cpu := fmt.Sprintf("%.0f %%", mn.CPU.Busy)
		if mn.CPU.Attributed {
			cpu += fmt.Sprintf(" (%.0f %%)", mn.CPU.Others)
		}
		fresh := "–"
		if mn.FreshnessCount > 0 {
			fresh = fmtNum(mn.FreshnessP50Ms) + " / " + fmtNum(mn.FreshnessP95Ms)
		}
		w(" %s | %s | %s | %d | %s | %s | %s | %s | %s |\n", fmtNum(float64(mn.QueueDepthMax)), fmtNum(float64(mn.Published)), fmtNum(float64(mn.Searches)),
			mn.Failures, fresh, fmtNum(float64(mn.NotIndexed)), cpu, orDash(mn.LoadAvg), strings.Join(ev, ", "))
	}
	f := r.Freshness
	w("\nFreshness over the whole run (%s): %s versions measured, p50 %s ms, p95 %s ms, p99 %s ms, max %s ms; "+
		"%d versions replaced by a newer one before they were seen indexed, %d failed to index, %d not indexed at the end.\n\n",
		f.Method, fmtNum(float64(f.Records)), fmtNum(f.P50Ms), fmtNum(f.P95Ms), fmtNum(f.P99Ms), fmtNum(f.MaxMs),
		r.Superseded, r.IndexFailed, r.Unmeasured)
	w("## Machine\n\n%s, %s, GOMAXPROCS %d, %s/%s, revision %s; PostgreSQL: work_mem %s, maintenance_work_mem %s, max_connections %s, "+
		"track_commit_timestamp %s. CPU after the run: %s.\n", orDash(m.CPUModel), orDash(m.MemTotal), m.GOMAXPROCS, m.OS, m.Arch,
		orDash(m.Revision), p.WorkMem, p.MaintenanceWorkMem, p.MaxConnections, p.TrackCommitTimestamp, m.CPUAfter)
	return b.String()
}

// fmtClock formats seconds as m:ss.
func fmtClock(sec float64) string {
	s := int(sec + 0.5)
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
