package bench

import (
	"fmt"
	"strings"
	"time"
)

// Markdown renders the report with its targets.
func (r *ScaleReport) Markdown() string {
	var b strings.Builder
	p := r.Machine.Postgres
	r.Machine.writeHeader(&b, "Scale benchmark", r.Command, r.Date, "maintenance_work_mem "+p.MaintenanceWorkMem,
		"max_parallel_maintenance_workers "+p.MaxParallelMaintenanceWorkers)
	fmt.Fprintf(&b, "The whole run took %s.\n\n", time.Duration(r.Seconds*float64(time.Second)).Round(time.Second))
	fmt.Fprintf(&b, "Corpus: %d generated records (fixed seed; clustered topics), `hash` embedder, 384 dims, HNSW m %d, "+
		"ef_construction %d, in two vector backends built from the same records and the same vectors (embedded once): "+
		"`vector` (4-byte floats) and `%s` (`hnsw.type: halfvec`, 2-byte floats), beside `keyword`, in one database: "+
		"the cheaper of the fair ways, since the records, the keyword backend and the embedding are shared, and each "+
		"side's series run alone, after a warm-up round, with everything in the page cache. %d queries of 2–4 content "+
		"words drawn from the first %d records; every series runs them 3 times at 1 client after a warm-up round; "+
		"limit %d; hnsw.ef_search %d (search.ef_search).\n\n",
		r.Records, r.HNSWM, r.HNSWEfConstruction, ScaleHalfvecBackend, r.Queries, min(r.Records, scaleQuerySample), searchK, r.EfSearch)

	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "no"
	}
	b.WriteString("## Targets\n\n| target | measured | goal | met |\n|---|---:|---:|:-:|\n")
	for _, v := range r.Vectors {
		fmt.Fprintf(&b, "| %s (%s): recall@10 against full-precision exact search, ef_search %d (ids alone %.3f) | %.3f | ≥ %.2f | %s |\n",
			v.Name, v.Type, r.EfSearch, v.RecallStrict, v.RecallAt10, TargetRecall, yes(v.RecallAt10 >= TargetRecall))
	}
	for _, v := range r.Vectors {
		fmt.Fprintf(&b, "| %s (%s): vector search p99, 1 client | %.1f ms | ≤ %d ms | %s |\n", v.Name, v.Type, v.Vector.P99Ms,
			TargetScaleVectorP99.Milliseconds(), yes(v.Vector.P99Ms <= float64(TargetScaleVectorP99.Milliseconds())))
		fmt.Fprintf(&b, "| %s (%s): hybrid search p99, 1 client | %.1f ms | ≤ %d ms | %s |\n", v.Name, v.Type, v.Hybrid.P99Ms,
			TargetScaleHybridP99.Milliseconds(), yes(v.Hybrid.P99Ms <= float64(TargetScaleHybridP99.Milliseconds())))
	}
	fmt.Fprintf(&b, "| osa's peak resident memory (VmHWM of this process: the in-process server and the harness) | %s | ≤ %s | %s |\n",
		bytesText(r.PeakRSSBytes), bytesText(TargetScaleRSS), yes(r.PeakRSSBytes > 0 && r.PeakRSSBytes <= TargetScaleRSS))

	b.WriteString("\n## The load, through the bulk path\n\n")
	fmt.Fprintf(&b, "The records drawn and loaded %d at a time (memory stays flat), the way a rebuild loads: every record "+
		"published through the record store (its row and its event, one transaction per chunk, no fan-out), then each "+
		"backend's shadow table written without its search index, then one index build per backend and a swap. "+
		"%.0f s in all, %.0f records/s.\n\n", searchLoadBatch, r.LoadSeconds, float64(r.Records)/r.LoadSeconds)
	b.WriteString("| phase | seconds | records/s |\n|---|---:|---:|\n")
	phase := func(name string, s float64) {
		rate := "–"
		if s > 0 {
			rate = fmt.Sprintf("%.0f", float64(r.Records)/s)
		}
		fmt.Fprintf(&b, "| %s | %.1f | %s |\n", name, s, rate)
	}
	if l := r.Load; l != nil {
		phase("drawing the records (harness only)", l.Generate)
		phase("records: rows and events (records.Store.Publish)", l.Records)
		for _, bl := range l.Backends {
			prepare := "prepare (nothing to embed)"
			if bl.Kind == "pgvector" {
				prepare = fmt.Sprintf("embedding (%d texts sent to the embedder)", bl.Embedded)
			}
			phase(fmt.Sprintf("%s: %s", bl.Name, prepare), bl.Prepare)
			phase(fmt.Sprintf("%s: shadow table writes, no index (one statement per chunk)", bl.Name), bl.Write)
			index := "HNSW build"
			if bl.Kind != "pgvector" {
				index = "index build (GIN)"
			}
			phase(fmt.Sprintf("%s: %s, CREATE INDEX CONCURRENTLY, and ANALYZE", bl.Name, index), bl.Index)
			phase(fmt.Sprintf("%s: swap", bl.Name), bl.Swap)
		}
		phase("ANALYZE records", l.Analyze)
	}
	phase("index_state rows of every record and backend (after the load)", r.IndexStateSeconds)
	if len(r.Notices) == 0 {
		fmt.Fprintf(&b, "\nPostgreSQL gave no notice during the load: every HNSW graph fit in maintenance_work_mem (%s).\n",
			p.MaintenanceWorkMem)
	} else {
		fmt.Fprintf(&b, "\nPostgreSQL's notices during the load (maintenance_work_mem %s; an HNSW build whose graph outgrows it "+
			"goes on many times slower):\n\n", p.MaintenanceWorkMem)
		for _, n := range r.Notices {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}

	b.WriteString("\nAn HNSW build holds its whole graph in maintenance_work_mem, and the graph in memory is somewhat larger " +
		"than the finished index (each element's neighbour lists and header)")
	for _, v := range r.Vectors {
		fmt.Fprintf(&b, "; %s's index: %s per record, %s at %d records", v.Name, bytesText(v.IndexBytes/int64(r.Records)),
			bytesText(v.IndexBytes/int64(r.Records)*ScaleRecordsDefault), ScaleRecordsDefault)
	}
	b.WriteString(".\n")

	b.WriteString("\n## vector and halfvec side by side\n\n| | ")
	for _, v := range r.Vectors {
		fmt.Fprintf(&b, "%s (%s) | ", v.Name, v.Type)
	}
	b.WriteString("\n|---|" + strings.Repeat("---:|", len(r.Vectors)) + "\n")
	row := func(label string, cell func(v ScaleVector) string) {
		b.WriteString("| " + label + " | ")
		for _, v := range r.Vectors {
			b.WriteString(cell(v) + " | ")
		}
		b.WriteString("\n")
	}
	row("HNSW build, seconds", func(v ScaleVector) string {
		if bl := r.backendLoad(v.Name); bl != nil {
			return fmt.Sprintf("%.1f", bl.Index)
		}
		return "–"
	})
	row("table per record", func(v ScaleVector) string { return bytesText(v.TableBytes / int64(r.Records)) })
	row("HNSW index per record", func(v ScaleVector) string { return bytesText(v.IndexBytes / int64(r.Records)) })
	row("table + index", func(v ScaleVector) string { return bytesText(v.TableBytes + v.IndexBytes) })
	row(fmt.Sprintf("recall@10 at ef_search %d", r.EfSearch), func(v ScaleVector) string { return fmt.Sprintf("%.3f", v.RecallAt10) })
	for i := range recallEfSearches {
		row(fmt.Sprintf("recall@10 at ef_search %d, the backend alone", recallEfSearches[i]), func(v ScaleVector) string {
			if i < len(v.RecallByEf) {
				return fmt.Sprintf("%.3f", v.RecallByEf[i].Recall)
			}
			return "–"
		})
	}
	for _, s := range []struct {
		label string
		l     func(ScaleVector) Latency
	}{{"vector search", func(v ScaleVector) Latency { return v.Vector }}, {"hybrid search", func(v ScaleVector) Latency { return v.Hybrid }},
		{"similar records", func(v ScaleVector) Latency { return v.Similar }}} {
		row(s.label+": p50 / p99 ms", func(v ScaleVector) string { l := s.l(v); return fmt.Sprintf("%.2f / %.2f", l.P50Ms, l.P99Ms) })
	}
	fmt.Fprintf(&b, "\nRecall counts a hit when its similarity in full precision (read from the vector table for halfvec's "+
		"hits) is as near as the exact 10th's (hash embeddings tie often). The exact top 10 of every query took %.0f s "+
		"to find: one pass over the vector table kept each query's %d nearest records, which the vector backend's own "+
		"exact search (no index) then ranked, with its relevance floor and shared-word rule.\n", r.ExactSeconds, exactCandidates)

	b.WriteString("\n## Latency at 1 client\n\n")
	b.WriteString("Through the API (Connect, binary protobuf, HTTP/1.1 on loopback). The search features: `keyword_where_facets` " +
		"(a where of 3 conditions, facets organism and platform), `keyword_highlight`, `browse_page1` and `browse_page50` " +
		"(sorted by pub_date, keyset), `web_search_page` (the web interface's search page: hybrid, facets, highlights).\n\n")
	b.WriteString("| series | requests | p50 ms | p95 ms | p99 ms | queries/s | errors | empty |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	line := func(name string, s Latency) {
		fmt.Fprintf(&b, "| %s | %d | %.2f | %.2f | %.2f | %.0f | %d | %d |\n", name, s.Requests, s.P50Ms, s.P95Ms, s.P99Ms, s.QPS, s.Errors, s.EmptyCount)
	}
	for _, v := range r.Vectors {
		line("vector on "+v.Name, v.Vector)
		line("hybrid on "+v.Name, v.Hybrid)
		line("similar on "+v.Name, v.Similar)
	}
	for _, s := range r.Series {
		line(s.Mode, s)
	}

	b.WriteString("\n## Size per record\n\nTables of more than 64 KiB after the load; rows are the planner's estimates after ANALYZE; " +
		"table is heap and TOAST (pg_table_size).\n\n")
	b.WriteString("| table | rows | table | per record | indexes (per record) | total | per record |\n|---|---:|---:|---:|---|---:|---:|\n")
	var total int64
	for _, rel := range r.Relations {
		var ix []string
		for _, i := range rel.Indexes {
			ix = append(ix, fmt.Sprintf("%s %s (%s)", i.Name, bytesText(i.Bytes), bytesText(i.Bytes/int64(r.Records))))
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s |\n", rel.Table, rel.Rows, bytesText(rel.TableBytes),
			bytesText(rel.TableBytes/int64(r.Records)), orDash(strings.Join(ix, ", ")), bytesText(rel.TotalBytes),
			bytesText(rel.TotalBytes/int64(r.Records)))
		total += rel.TotalBytes
	}
	fmt.Fprintf(&b, "| all of them | | | | | %s | %s |\n", bytesText(total), bytesText(total/int64(r.Records)))

	fmt.Fprintf(&b, "\nResident memory of this process at the end: %s (peak %s).\n", bytesText(r.RSSBytes), bytesText(r.PeakRSSBytes))
	fmt.Fprintf(&b, "\nAfter the run: %s.\n", r.Machine.CPUAfter)
	return b.String()
}

// backendLoad returns the load phases of backend name, or nil.
func (r *ScaleReport) backendLoad(name string) *BackendLoad {
	if r.Load == nil {
		return nil
	}
	for i := range r.Load.Backends {
		if r.Load.Backends[i].Name == name {
			return &r.Load.Backends[i]
		}
	}
	return nil
}

// bytesText writes n bytes for people: 812 B, 1.6 KiB, 1.42 GiB.
func bytesText(n int64) string {
	switch f := float64(n); {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", f/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", f/(1<<20))
	default:
		return fmt.Sprintf("%.2f GiB", f/(1<<30))
	}
}
