package server_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/osa-archive/osa/config"
)

// Every answer carries an X-Request-Id: the client's when valid, else a new one. The id is in
// the log lines of the request and in the metadata of the River jobs its publish enqueued, the
// fan-out and each backend's index job.
func TestRequestID(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	logs := &syncBuffer{}
	b := setupWithLogger(t, nil, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	post := func(path, body, id string) string {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.baseURL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if id != "" {
			req.Header.Set("X-Request-Id", id)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %d", path, res.StatusCode)
		}
		return res.Header.Get("X-Request-Id")
	}
	const search = "/osa.v1.SearchService/Search"
	if got := post(search, `{"query": "x"}`, ""); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(got) {
		t.Fatalf("X-Request-Id of a request without one: %q, want 32 hex digits", got)
	}
	if got := post(search, `{"query": "x"}`, "trace-search-1"); got != "trace-search-1" {
		t.Fatalf("X-Request-Id echoed: %q, want trace-search-1", got)
	}
	if got := post(search, `{"query": "x"}`, "bad id <script>"); got == "bad id <script>" || len(got) != 32 {
		t.Fatalf("X-Request-Id of an invalid id: %q, want a new one", got)
	}
	if !strings.Contains(logs.String(), "request_id=trace-search-1") {
		t.Fatalf("no log line names the request:\n%s", logs.String())
	}

	post("/osa.v1.RecordService/PublishRecord", `{"metadata": {"title": "traced zebrafish"}, "wait_indexed": true}`, "trace-publish-1")
	var kinds []string
	if err := b.srv.Pool().QueryRow(ctx, `SELECT array_agg(kind || ':' || queue ORDER BY kind, queue) FROM river_job
		WHERE metadata->>'request_id' = 'trace-publish-1'`).Scan(&kinds); err != nil {
		t.Fatal(err)
	}
	if want := "osa_fanout:fanout,osa_index_record:index_keyword,osa_index_record:index_vector"; strings.Join(kinds, ",") != want {
		t.Fatalf("jobs carrying the publish's request id: %v, want %s", kinds, want)
	}
}

// 200 connections that send their headers one byte a second neither block other clients nor
// hold the server's goroutines past http.read_header_timeout.
func TestSlowloris(t *testing.T) { // not parallel: it counts the goroutines serving connections
	b := setup(t, func(cfg *config.Config) { cfg.HTTP.ReadHeaderTimeout = time.Second })
	addr := strings.TrimPrefix(b.baseURL, "http://")
	if code, _ := get(t, b.baseURL+"/healthz"); code != http.StatusOK {
		t.Fatal("server not up")
	}
	before, _ := connGoroutines()
	const slow = 200
	var (
		wg     sync.WaitGroup
		closed = make(chan time.Duration, slow)
	)
	for range slow {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			defer conn.Close()
			start := time.Now()
			for _, c := range []byte("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("a", 60)) {
				if _, err := conn.Write([]byte{c}); err != nil {
					break
				}
				time.Sleep(time.Second)
				conn.SetReadDeadline(time.Now().Add(time.Millisecond))
				if _, err := conn.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
					break // the server closed it (or answered the timeout)
				}
			}
			closed <- time.Since(start)
		})
	}
	// Meanwhile other clients are served at once.
	for i := range 20 {
		t0 := time.Now()
		if code, _ := get(t, b.baseURL+"/healthz"); code != http.StatusOK {
			t.Fatalf("request %d during the slow connections: %d", i, code)
		}
		if d := time.Since(t0); d > 500*time.Millisecond {
			t.Fatalf("request %d during the slow connections took %v", i, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	close(closed)
	var longest time.Duration
	for d := range closed {
		longest = max(longest, d)
	}
	if longest > 10*time.Second {
		t.Fatalf("a slow connection was kept %v, want about read_header_timeout (1s)", longest)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		serving, stacks := connGoroutines()
		if serving <= before+2 { // the other clients' kept-alive connections
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines serve connections after the slow connections closed, %d before:\n%s", serving, before, stacks)
		}
		time.Sleep(100 * time.Millisecond)
	}
	after, _ := connGoroutines()
	t.Logf("%d slow connections closed within %v; goroutines serving connections %d before, %d after", slow,
		longest.Round(100*time.Millisecond), before, after)
}

// connGoroutines counts the goroutines of the process that serve an HTTP connection, and returns
// the stacks of the first of them. It counts those alone, not every goroutine: the server's
// background work (River's maintenance once it is elected leader, pool health checks) starts
// and ends goroutines of its own while a test runs.
func connGoroutines() (int, string) {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var (
		n     int
		shown []string
	)
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("net/http.(*conn).serve")) {
			n++
			if len(shown) < 5 {
				shown = append(shown, string(g))
			}
		}
	}
	return n, strings.Join(shown, "\n\n")
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
