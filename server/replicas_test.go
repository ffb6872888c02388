package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/durationpb"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/internal/pgtest"
)

// replicaSetup starts a server on the primary of pg with its standby in database.replica_urls,
// with maxLag, and waits until the standby takes reads. Its logs go to logs.
func replicaSetup(t *testing.T, pg *pgtest.Replicated, maxLag time.Duration, logs *syncBuffer) *testBundle {
	t.Helper()
	b := setupWithLogger(t, func(c *config.Config) {
		c.Database.URL = pg.URL
		c.Database.ReplicaURLs = []string{pg.StandbyURL}
		c.Database.MaxReplicaLag = maxLag
		c.Database.ReplicaProbeInterval = 100 * time.Millisecond
	}, slog.New(slog.NewTextHandler(logs, nil)))
	waitRoutable(t, b, pg, true)
	return b
}

// replicaLabel is how /metrics names the standby of pg.
func replicaLabel(pg *pgtest.Replicated) string {
	return fmt.Sprintf(`replica="127.0.0.1:%d"`, pg.Standby.Port())
}

// waitRoutable waits until /metrics says whether the standby takes reads.
func waitRoutable(t *testing.T, b *testBundle, pg *pgtest.Replicated, want bool) {
	t.Helper()
	wantValue := map[bool]float64{true: 1, false: 0}[want]
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, body := get(t, b.baseURL+"/metrics")
		if metricValue(t, body, `osa_db_replica_routable\{`+replicaLabel(pg)+`\}`) == wantValue {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby's osa_db_replica_routable is not %v after 15s:\n%s", wantValue, grepLines(body, "osa_db_replica"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// routedReads returns osa_db_routed_reads_total for target and reason.
func routedReads(t *testing.T, b *testBundle, target, reason string) float64 {
	t.Helper()
	_, body := get(t, b.baseURL+"/metrics")
	return max(0, metricValue(t, body, fmt.Sprintf(`osa_db_routed_reads_total\{reason="%s",target="%s"\}`, reason, target)))
}

func grepLines(body, sub string) string {
	var out []string
	for line := range strings.SplitSeq(body, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// setReplay pauses or resumes the standby's replay of the WAL, and waits until it has.
func setReplay(t *testing.T, standby *pgxpool.Pool, paused bool) {
	t.Helper()
	ctx := t.Context()
	fn, state := "pg_wal_replay_resume", "not paused"
	if paused {
		fn, state = "pg_wal_replay_pause", "paused"
	}
	if _, err := standby.Exec(ctx, "SELECT "+fn+"()"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var got string
		if err := standby.QueryRow(ctx, "SELECT pg_get_wal_replay_pause_state()").Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got == state || time.Now().After(deadline) {
			return
		}
	}
}

// publishTitled publishes a record titled title, waiting for it to be indexed when wait is set, and
// returns the answer.
func publishTitled(t *testing.T, b *testBundle, title string, wait bool, waitTimeout time.Duration) *osav1.PublishRecordResponse {
	t.Helper()
	req := &osav1.PublishRecordRequest{Metadata: mustStruct(t, map[string]any{"title": title}), WaitIndexed: wait}
	if waitTimeout > 0 {
		req.WaitTimeout = durationpb.New(waitTimeout)
	}
	res, err := recordClient(b).PublishRecord(t.Context(), connect.NewRequest(req))
	if err != nil {
		t.Fatalf("publish %q: %v", title, err)
	}
	return res.Msg
}

// indexedOnPrimary waits until every backend holds the record srn on the primary.
func indexedOnPrimary(t *testing.T, primary *pgxpool.Pool, srn string) {
	t.Helper()
	id := srnID(srn)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var n int
		err := primary.QueryRow(t.Context(), "SELECT count(*) FROM index_state WHERE record_id = $1 AND state = 'indexed'", id).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is not indexed on the primary after 10s", srn)
		}
	}
}

// srnID returns the record id of an SRN, without its version.
func srnID(srn string) string {
	id := srn[strings.LastIndex(srn, ":")+1:]
	id, _, _ = strings.Cut(id, "@")
	return id
}

func getRecord(ctx context.Context, b *testBundle, srn string) error {
	_, err := recordClient(b).GetRecord(ctx, connect.NewRequest(&osav1.GetRecordRequest{Srn: srn}))
	return err
}

// TestReadReplicas runs a server with a real streaming standby (pg_basebackup -R, on another
// port) in database.replica_urls. With the standby's replay paused, the reads show its past:
// searches, GetRecord, ListRecords, GetIndexStatus, ListBackends, ListEvents and the web pages
// read the standby, while writes and River work on the primary. A publish with wait_indexed
// waits for the standby too. A browser that posted a form reads the primary. With a small
// max_replica_lag, a standby that lags beyond it leaves its reads to the primary, which sees the
// writes, and takes them back once it replays. A standby that stops fails no read: the reads in
// flight are asked of the primary, the next ones go there, and they come back once it restarts.
// No write ever reaches the standby (it would refuse it).
func TestReadReplicas(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	pg := pgtest.NewReplicated(t)
	primary, err := pgxpool.New(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	standby, err := pgxpool.New(ctx, pg.StandbyURL)
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Close()
	logs := &syncBuffer{}
	// max_replica_lag 1h: the routing below never depends on how fast the test runs.
	b := replicaSetup(t, pg, time.Hour, logs)
	replica := fmt.Sprintf("127.0.0.1:%d", pg.Standby.Port())
	sc := osav1connect.NewSearchServiceClient(http.DefaultClient, b.baseURL)
	rc := recordClient(b)

	t.Run("ReadsGoToTheStandby", func(t *testing.T) {
		a := publishTitled(t, b, "Axolotl limb regeneration", true, 0)
		if !a.Indexed {
			t.Fatalf("a publish with wait_indexed on a server with a replica: not indexed %v", a.NotIndexed)
		}
		// Right after the wait, the standby shows the record: the wait followed it.
		if got := searchSRNs(t, b, "axolotl", osav1.SearchMode_SEARCH_MODE_KEYWORD); len(got) != 1 || got[0] != a.Record.Srn {
			t.Fatalf("a keyword search right after a publish with wait_indexed: %v, want %s", got, a.Record.Srn)
		}
		setReplay(t, standby, true)
		defer setReplay(t, standby, false)
		before := routedReads(t, b, replica, "replica")
		z := publishTitled(t, b, "Zebrafish fin regeneration", false, 0)
		indexedOnPrimary(t, primary, z.Record.Srn)

		// Every read shows the standby's past: the record published after the pause is missing.
		if err := getRecord(ctx, b, z.Record.Srn); connect.CodeOf(err) != connect.CodeNotFound {
			t.Errorf("GetRecord of a record the standby has not replayed: %v, want NotFound", err)
		}
		if err := getRecord(ctx, b, a.Record.Srn); err != nil {
			t.Errorf("GetRecord of a record the standby holds: %v", err)
		}
		for _, mode := range []osav1.SearchMode{osav1.SearchMode_SEARCH_MODE_KEYWORD, osav1.SearchMode_SEARCH_MODE_VECTOR,
			osav1.SearchMode_SEARCH_MODE_HYBRID} {
			if got := searchSRNs(t, b, "zebrafish regeneration", mode); len(got) != 1 || got[0] != a.Record.Srn {
				t.Errorf("%s search for both records: %v, want only %s (the standby's past)", mode, got, a.Record.Srn)
			}
		}
		list, err := rc.ListRecords(ctx, connect.NewRequest(&osav1.ListRecordsRequest{}))
		if err != nil || len(list.Msg.Records) != 1 {
			t.Errorf("ListRecords: %v %v, want the one record the standby holds", list, err)
		}
		if _, err := rc.GetIndexStatus(ctx, connect.NewRequest(&osav1.GetIndexStatusRequest{Srn: z.Record.Srn})); connect.CodeOf(err) != connect.CodeNotFound {
			t.Errorf("GetIndexStatus of a record the standby has not replayed: %v, want NotFound", err)
		}
		bs, err := sc.ListBackends(ctx, connect.NewRequest(&osav1.ListBackendsRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		for _, be := range bs.Msg.Backends {
			if be.Indexed != 1 {
				t.Errorf("ListBackends: %s has %d records indexed, want 1 (the standby's count; the primary has 2)", be.Name, be.Indexed)
			}
		}
		evs, err := eventClient(b).ListEvents(ctx, connect.NewRequest(&osav1.ListEventsRequest{}))
		if err != nil || len(evs.Msg.Events) != 1 || evs.Msg.Events[0].Srn != a.Record.Srn {
			t.Errorf("ListEvents: %v %v, want the one event the standby holds", evs, err)
		}
		if code, _, _ := getPage(t, http.DefaultClient, b.baseURL, "/records/"+srnID(z.Record.Srn)); code != http.StatusNotFound {
			t.Errorf("the web page of a record the standby has not replayed: %d, want 404", code)
		}
		if code, _, body := getPage(t, http.DefaultClient, b.baseURL, "/?q=zebrafish+regeneration"); code != http.StatusOK ||
			strings.Contains(body, "Zebrafish") || !strings.Contains(body, "Axolotl") {
			t.Errorf("the web search page (%d) does not show the standby's past:\n%.2000s", code, body)
		}
		// GetRecord twice, three searches, ListRecords, GetIndexStatus, ListBackends, ListEvents
		// and two pages.
		if got := routedReads(t, b, replica, "replica") - before; got != 11 {
			t.Errorf("osa_db_routed_reads_total counts %v reads on the standby, want 11", got)
		}

		// Writes go on: a delete, and River indexing it, on the primary.
		if _, err := rc.DeleteRecord(ctx, connect.NewRequest(&osav1.DeleteRecordRequest{Srn: a.Record.Srn})); err != nil {
			t.Fatalf("a delete while the standby is paused: %v", err)
		}
		// A publish with wait_indexed also waits for the standby: paused, it shows the record
		// pending when the time runs out.
		w := publishTitled(t, b, "Planarian regeneration", true, time.Second)
		if w.Indexed || len(w.NotIndexed) != 2 || w.NotIndexed[0].State != osav1.IndexState_INDEX_STATE_PENDING {
			t.Errorf("a publish with wait_indexed while the standby does not replay: indexed %v, not indexed %v; want both backends pending",
				w.Indexed, w.NotIndexed)
		}
		indexedOnPrimary(t, primary, w.Record.Srn)
		setReplay(t, standby, false)
		for deadline := time.Now().Add(10 * time.Second); getRecord(ctx, b, z.Record.Srn) != nil; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the standby does not show the record 10s after its replay resumed")
			}
		}
	})

	t.Run("PageAfterAWrite", func(t *testing.T) {
		// A browser that posted the status page's retry reads the primary for a while.
		jar, _ := cookiejar.New(nil)
		browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		if code, _, _ := getPage(t, browser, b.baseURL, "/status"); code != http.StatusOK {
			t.Fatalf("/status: %d", code)
		}
		setReplay(t, standby, true)
		defer setReplay(t, standby, false)
		n := publishTitled(t, b, "Newt lens regeneration", false, 0)
		indexedOnPrimary(t, primary, n.Record.Srn)
		page := "/records/" + srnID(n.Record.Srn)
		if code, _, _ := getPage(t, browser, b.baseURL, page); code != http.StatusNotFound {
			t.Fatalf("a record page before any write, while the standby is paused: %d, want 404 (the standby's past)", code)
		}
		res, err := browser.PostForm(b.baseURL+"/status/retry", url.Values{"backend": {"vector"}, "csrf": {csrfCookie(jar, b.baseURL)}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther {
			t.Fatalf("the retry form: %d", res.StatusCode)
		}
		before := routedReads(t, b, "primary", "after_write")
		if code, _, body := getPage(t, browser, b.baseURL, page); code != http.StatusOK || !strings.Contains(body, "Newt lens") {
			t.Errorf("the record page after a post: %d, want the record (read on the primary)", code)
		}
		if got := routedReads(t, b, "primary", "after_write") - before; got != 1 {
			t.Errorf("reads counted after_write: %v, want 1", got)
		}
		if code, _, _ := getPage(t, http.DefaultClient, b.baseURL, page); code != http.StatusNotFound {
			t.Errorf("the record page for another browser: %d, want 404 (the standby's past)", code)
		}
	})

	t.Run("LagBeyondBound", func(t *testing.T) {
		bounded := replicaSetup(t, pg, time.Second, logs)
		setReplay(t, standby, true)
		defer setReplay(t, standby, false)
		// A publish with wait_indexed right after the pause: the standby takes reads until it
		// lags a second, and leaves the wait then.
		l := publishTitled(t, bounded, "Lizard tail regeneration", true, 10*time.Second)
		if !l.Indexed {
			t.Errorf("a publish with wait_indexed while the standby lags: not indexed %v, want indexed once the standby left the routing", l.NotIndexed)
		}
		waitRoutable(t, bounded, pg, false)
		before := routedReads(t, bounded, "primary", "no_replica")
		if err := getRecord(ctx, bounded, l.Record.Srn); err != nil {
			t.Errorf("GetRecord while the standby lags beyond max_replica_lag: %v, want the record from the primary", err)
		}
		if got := searchSRNs(t, bounded, "lizard", osav1.SearchMode_SEARCH_MODE_KEYWORD); len(got) != 1 || got[0] != l.Record.Srn {
			t.Errorf("a search while the standby lags: %v, want %s from the primary", got, l.Record.Srn)
		}
		if got := routedReads(t, bounded, "primary", "no_replica") - before; got != 2 {
			t.Errorf("reads counted no_replica while the standby lags: %v, want 2", got)
		}
		setReplay(t, standby, false)
		waitRoutable(t, bounded, pg, true)
		before = routedReads(t, bounded, replica, "replica")
		if err := getRecord(ctx, bounded, l.Record.Srn); err != nil {
			t.Errorf("GetRecord after the standby caught up: %v", err)
		}
		if got := routedReads(t, bounded, replica, "replica") - before; got != 1 {
			t.Errorf("reads counted on the standby after it caught up: %v, want 1", got)
		}
	})

	t.Run("StandbyStops", func(t *testing.T) {
		s := publishTitled(t, b, "Salamander heart regeneration", true, 0)
		if !s.Indexed {
			t.Fatalf("publish: not indexed %v", s.NotIndexed)
		}
		// Readers run throughout: none of their reads may fail.
		var failed atomic.Int64
		var firstErr atomic.Pointer[error]
		stop := make(chan struct{})
		var readers sync.WaitGroup
		for range 4 {
			readers.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					err := getRecord(ctx, b, s.Record.Srn)
					if err == nil {
						_, err = sc.Search(ctx, connect.NewRequest(&osav1.SearchRequest{Query: "salamander"}))
					}
					if err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, &err)
					}
				}
			})
		}
		time.Sleep(200 * time.Millisecond)
		if err := pg.Standby.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		waitRoutable(t, b, pg, false)
		// Writes go on without the standby.
		d := publishTitled(t, b, "Deer antler regeneration", true, 0)
		if !d.Indexed {
			t.Errorf("a publish with wait_indexed while the standby is down: not indexed %v", d.NotIndexed)
		}
		time.Sleep(300 * time.Millisecond)
		if err := pg.Standby.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitRoutable(t, b, pg, true)
		time.Sleep(200 * time.Millisecond)
		close(stop)
		readers.Wait()
		if n := failed.Load(); n > 0 {
			t.Errorf("%d reads failed while the standby stopped and started again; the first: %v", n, *firstErr.Load())
		}
		if got := routedReads(t, b, "primary", "no_replica"); got == 0 {
			t.Error("no read went to the primary while the standby was down")
		}
		t.Logf("reads in flight on the standby when it stopped, asked again of the primary: %v", routedReads(t, b, "primary", "retry"))
		before := routedReads(t, b, replica, "replica")
		if err := getRecord(ctx, b, d.Record.Srn); err != nil {
			t.Errorf("GetRecord after the standby came back: %v", err)
		}
		if got := routedReads(t, b, replica, "replica") - before; got != 1 {
			t.Errorf("reads counted on the standby after it came back: %v, want 1", got)
		}
	})

	// Nothing was ever written to the standby: it would have refused it (SQLSTATE 25006).
	if strings.Contains(logs.String(), "25006") || strings.Contains(logs.String(), "read-only transaction") {
		t.Errorf("a write reached the standby:\n%s", grepLines(logs.String(), "read-only"))
	}
	var n int
	if err := primary.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE state IN ('retryable', 'discarded', 'cancelled')").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		t.Errorf("%d River jobs failed on the primary", n)
	}
}
