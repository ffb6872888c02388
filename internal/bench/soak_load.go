package bench

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/records"
)

// soakPublishMax is the most records one PublishRecords call of the soak carries: when the
// publisher fell behind (a slow call), it catches up in calls of at most this many.
const soakPublishMax = 100

// soakHTTP is the soak's HTTP client: every request has [soakRequestTimeout].
var soakHTTP = &http.Client{Timeout: soakRequestTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 16, DisableCompression: true}}

// publish publishes opts.Rate records/s until ctx ends: every [FreshnessTick], one
// PublishRecords call with the records due by then, alternately new records and new versions
// (title changed) of records published before. A failed call is recorded and its records are
// not sent again.
func (s *soakRun) publish(ctx context.Context, corpus []map[string]any) {
	client := osav1connect.NewRecordServiceClient(soakHTTP, s.api.base)
	rng := rand.New(rand.NewPCG(CorpusSeed, 18))
	tick := time.NewTicker(FreshnessTick)
	defer tick.Stop()
	start := time.Now()
	var sent, created, revision int
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		due := int(float64(s.opts.Rate) * time.Since(start).Seconds())
		for sent < due && ctx.Err() == nil {
			n := min(due-sent, soakPublishMax)
			req := &osav1.PublishRecordsRequest{}
			updates := 0
			for k := sent; k < sent+n; k++ {
				var (
					i int
					m map[string]any
				)
				if created > 0 && float64(k%100) < 100*SoakUpdateShare {
					i = rng.IntN(created)
					revision++
					m = maps.Clone(corpus[i%len(corpus)])
					m["title"] = fmt.Sprintf("%s, revision %d", m["title"], revision)
					updates++
				} else {
					i = created
					created++
					m = corpus[i%len(corpus)]
					if i >= len(corpus) {
						m = maps.Clone(m)
						m["title"] = fmt.Sprintf("%s (series %d)", m["title"], i/len(corpus))
					}
				}
				st, err := structpb.NewStruct(m)
				if err != nil {
					s.fail("publish", err)
					return
				}
				req.Records = append(req.Records, &osav1.PublishRecordRequest{Metadata: st, Source: CorpusSource, SourceId: strconv.Itoa(i)})
			}
			sent += n
			res, err := client.PublishRecords(ctx, connect.NewRequest(req))
			if err != nil {
				if ctx.Err() == nil {
					s.fail("publish", err)
				}
				continue
			}
			answered := time.Now()
			for _, r := range res.Msg.Records {
				srn, err := records.ParseSRN(r.Srn)
				if err != nil {
					s.fail("publish", fmt.Errorf("an answer's SRN: %w", err))
					continue
				}
				s.fresh.add(srn.ID, r.Version, answered)
			}
			s.count(func(c *soakCounts) { c.published += n; c.updated += updates })
		}
	}
}

// soakSearchesInFlight bounds the searches the soak has under way at once: a search is sent
// when it is due, whatever the latency of those before it, up to this many.
const soakSearchesInFlight = 16

// search sends opts.SearchRate searches/s (the default mode, 10 hits) until ctx ends, cycling
// through queries, each on its own goroutine (at most [soakSearchesInFlight] at once) so that
// slow answers do not lower the rate; a search that finds nothing is no failure (a query can
// match nothing yet).
func (s *soakRun) search(ctx context.Context, queries []string) {
	client := osav1connect.NewSearchServiceClient(soakHTTP, s.api.base)
	every := time.Second / time.Duration(s.opts.SearchRate)
	tick := time.NewTicker(every)
	defer tick.Stop()
	var (
		wg    sync.WaitGroup
		slots = make(chan struct{}, soakSearchesInFlight)
		start = time.Now()
		sent  = 0
	)
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for due := int(time.Since(start) / every); sent < due && ctx.Err() == nil; sent++ {
			select {
			case <-ctx.Done():
				return
			case slots <- struct{}{}:
			}
			q := queries[sent%len(queries)]
			wg.Go(func() {
				defer func() { <-slots }()
				_, err := client.Search(ctx, connect.NewRequest(&osav1.SearchRequest{Query: q, Limit: ptr(int32(searchK))}))
				if err != nil {
					if ctx.Err() == nil {
						s.fail("search", err)
					}
					return
				}
				s.count(func(c *soakCounts) { c.searches++ })
			})
		}
	}
}

// reindex starts a rebuild of [soakReindexBackend] through the API and follows it in the
// background (on bg) until it ends or ctx does.
func (s *soakRun) reindex(ctx context.Context, bg *sync.WaitGroup) error {
	admin := osav1connect.NewAdminServiceClient(soakHTTP, s.api.base)
	at := s.since()
	res, err := admin.Reindex(ctx, connect.NewRequest(&osav1.ReindexRequest{Backend: soakReindexBackend}))
	if err != nil {
		s.fail("reindex", err)
		return fmt.Errorf("starting the reindex of %s: %w", soakReindexBackend, err)
	}
	id := res.Msg.Reindex.GetId()
	i := s.event(SoakEventReindex, at, fmt.Sprintf("osa reindex %s: rebuild %d started", soakReindexBackend, id))
	bg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				s.endEvent(i, s.since(), fmt.Sprintf("rebuild %d of %s still running when the load stopped", id, soakReindexBackend))
				return
			case <-time.After(time.Second):
			}
			res, err := admin.GetReindex(ctx, connect.NewRequest(&osav1.GetReindexRequest{Id: id}))
			if err != nil {
				if ctx.Err() == nil {
					s.fail("reindex", err)
				}
				continue
			}
			j := res.Msg.Reindex
			switch j.GetState() {
			case osav1.ReindexState_REINDEX_STATE_SUCCEEDED:
				s.endEvent(i, s.since(), fmt.Sprintf("rebuild %d of %s: %d records, succeeded", id, soakReindexBackend, j.GetTotal()))
				return
			case osav1.ReindexState_REINDEX_STATE_FAILED:
				s.endEvent(i, s.since(), fmt.Sprintf("rebuild %d of %s failed: %s", id, soakReindexBackend, j.GetError()))
				s.fail("reindex", fmt.Errorf("rebuild %d failed: %s", id, j.GetError()))
				return
			}
		}
	})
	return nil
}

// queueDepthSQL counts the jobs waiting or being worked: available, running and retryable.
const queueDepthSQL = `SELECT count(*) FROM river_job WHERE state IN ('available', 'running', 'retryable')`

// connectionsSQL counts the database connections of each process by their application_name.
const connectionsSQL = `SELECT application_name, count(*) FROM pg_stat_activity WHERE datname = current_database() GROUP BY 1`

// sample reads every opts.SampleEvery, until ctx ends, each process's RSS, goroutines and
// connections and the queue depth; what cannot be read (the database restarting) is -1.
func (s *soakRun) sample(ctx context.Context) {
	tick := time.NewTicker(s.opts.SampleEvery)
	defer tick.Stop()
	cpu0, minute := s.cpuRead(), 0
	// closeMinute records the CPU use and load average of the minute that ends.
	closeMinute := func() {
		cpu1 := s.cpuRead()
		s.mu.Lock()
		s.minuteCPU[minute], s.minuteLoad[minute] = cpu0.until(cpu1), loadAvg()
		s.mu.Unlock()
		cpu0 = cpu1
	}
	defer closeMinute()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if m := int(s.since() / time.Minute); m != minute {
			closeMinute()
			minute = m
		}
		smp := SoakSample{AtSeconds: s.since().Seconds(), QueueDepth: -1}
		conns := map[string]int{}
		qctx, cancel := context.WithTimeout(ctx, soakRequestTimeout)
		if err := s.pool.QueryRow(qctx, queueDepthSQL).Scan(&smp.QueueDepth); err != nil {
			smp.QueueDepth = -1
		}
		rows, err := s.pool.Query(qctx, connectionsSQL)
		if err == nil {
			var (
				name string
				n    int
			)
			_, err = pgx.ForEachRow(rows, []any{&name, &n}, func() error { conns[name] = n; return nil })
		}
		cancel()
		for _, p := range []*soakProcess{s.api, s.wrk} {
			ps := SoakProcessSample{Role: p.role, Pid: p.pid(), RSSBytes: -1, Goroutines: -1, Connections: -1}
			if rss, err := p.rssBytes(); err == nil {
				ps.RSSBytes = rss
			}
			if g, err := p.goroutines(ctx); err == nil {
				ps.Goroutines = g
			}
			if err == nil {
				ps.Connections = conns[p.appName()]
			}
			smp.Processes = append(smp.Processes, ps)
		}
		if ctx.Err() != nil {
			return // the load stopped while sampling: what failed to be read is no figure
		}
		s.mu.Lock()
		prev := -1
		if n := len(s.samples); n > 0 {
			prev = int(s.samples[n-1].AtSeconds / 60)
		}
		s.samples = append(s.samples, smp)
		s.mu.Unlock()
		if m := int(smp.AtSeconds / 60); m != prev {
			s.progressf("%.0f s: %s; queue %d; %d versions waiting to be seen indexed", smp.AtSeconds, smp.describe(), smp.QueueDepth, s.fresh.waiting())
		}
	}
}

// describe renders a sample's process figures for the progress lines.
func (smp SoakSample) describe() string {
	var parts []string
	for _, ps := range smp.Processes {
		parts = append(parts, fmt.Sprintf("%s pid %d: %.1f MiB, %d goroutines, %d connections", ps.Role, ps.Pid,
			float64(ps.RSSBytes)/(1<<20), ps.Goroutines, ps.Connections))
	}
	return strings.Join(parts, "; ")
}
