package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/internal/servertest"
	"github.com/osa-archive/osa/sdk"
)

// startClientServer runs a server for t (servertest.Start) and returns its base URL.
func startClientServer(t *testing.T, edit func(*config.Config)) string {
	t.Helper()
	return servertest.Start(t, edit)
}

// runCLI executes the osa command line in-process with stdin and returns its standard output,
// standard error and error.
func runCLI(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errw bytes.Buffer
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errw)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), errw.String(), err
}

// mustRunCLI is runCLI that fails t on an error.
func mustRunCLI(t *testing.T, stdin string, args ...string) (string, string) {
	t.Helper()
	out, errw, err := runCLI(t, stdin, args...)
	if err != nil {
		t.Fatalf("osa %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errw)
	}
	return out, errw
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// countRecords returns how many live records the server holds.
func countRecords(t *testing.T, base string) int {
	t.Helper()
	c, err := sdk.New(base)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, err := range c.Records(context.Background(), &sdk.RecordsParams{PageSize: 1000}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

var srnPattern = regexp.MustCompile(`urn:osa:localhost:rec:[0-9a-f-]{36}@\d+`)

// TestClientCommands runs every client command against a real server.
func TestClientCommands(t *testing.T) {
	t.Parallel()
	base := startClientServer(t, nil)
	srv := []string{"--server", base}

	// publish: a bare metadata object, an envelope, a blank line; then the same upsert again.
	file := writeTemp(t, "records.jsonl", `{"title": "Zebrafish heart regeneration", "organism": "Danio rerio", "year": 2021}
{"metadata": {"title": "Mouse heart development", "organism": "Mus musculus"}, "source": "lab", "source_id": "MH-1"}

{"title": "Human liver proteome", "organism": "Homo sapiens", "metadata": "not an envelope: other keys"}
`)
	out, errw := mustRunCLI(t, "", append([]string{"publish", file, "--wait"}, srv...)...)
	if !strings.Contains(out, "3 records: 3 published, 0 unchanged, 0 failed") || !strings.Contains(out, "3 of 3 records indexed on every backend") {
		t.Fatalf("publish printed:\n%s\nstderr:\n%s", out, errw)
	}
	out, _ = mustRunCLI(t, `{"metadata": {"title": "Mouse heart development", "organism": "Mus musculus"}, "source": "lab", "source_id": "MH-1"}`,
		append([]string{"publish", "-", "--json"}, srv...)...)
	var line struct {
		Line      int    `json:"line"`
		SRN       string `json:"srn"`
		Version   int    `json:"version"`
		Unchanged bool   `json:"unchanged"`
	}
	if err := json.Unmarshal([]byte(out), &line); err != nil || line.Line != 1 || !line.Unchanged || line.Version != 1 ||
		!srnPattern.MatchString(line.SRN) {
		t.Fatalf("publish - --json printed %q (%v)", out, err)
	}
	mouse := line.SRN

	// get: table, --status, --json.
	out, _ = mustRunCLI(t, "", append([]string{"get", mouse, "--status"}, srv...)...)
	for _, want := range []string{"SRN        " + mouse, "Source ID  MH-1", `"organism": "Mus musculus"`, "BACKEND", "vector", "keyword", "indexed"} {
		if !strings.Contains(out, want) {
			t.Fatalf("get --status lacks %q:\n%s", want, out)
		}
	}
	out, _ = mustRunCLI(t, "", append([]string{"get", mouse, "--json"}, srv...)...)
	var rec osav1.GetRecordResponse
	if err := protojson.Unmarshal([]byte(out), &rec); err != nil || rec.Record.GetSrn() != mouse || rec.Record.GetSource() != "lab" ||
		rec.Record.GetMetadata().AsMap()["title"] != "Mouse heart development" {
		t.Fatalf("get --json printed %s (%v)", out, err)
	}
	if _, _, err := runCLI(t, "", append([]string{"get", "urn:osa:localhost:rec:0190b2a4-7c1e-7cc0-9d2a-6d3c1f0a9e11"}, srv...)...); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("get of a missing record: %v", err)
	}

	// search: table, filter, mode, --json.
	out, _ = mustRunCLI(t, "", append([]string{"search", "heart", "--mode", "keyword", "--filter", "organism=Danio rerio", "--filter", "year=2021"}, srv...)...)
	if !strings.Contains(out, "Zebrafish heart regeneration") || strings.Contains(out, "Mouse") || !strings.Contains(out, "1 hits (mode keyword, backends keyword)") {
		t.Fatalf("search --filter printed:\n%s", out)
	}
	out, _ = mustRunCLI(t, "", append([]string{"search", "heart", "development", "--limit", "1", "--json"}, srv...)...)
	var res osav1.SearchResponse
	if err := protojson.Unmarshal([]byte(out), &res); err != nil || res.Mode != osav1.SearchMode_SEARCH_MODE_HYBRID || len(res.Hits) != 1 ||
		res.Hits[0].Srn != mouse {
		t.Fatalf("search --json printed %s (%v)", out, err)
	}
	if _, _, err := runCLI(t, "", append([]string{"search", "x", "--mode", "fuzzy"}, srv...)...); err == nil || !strings.Contains(err.Error(), "--mode") {
		t.Fatalf("search --mode fuzzy: %v", err)
	}
	if _, _, err := runCLI(t, "", append([]string{"search", "x", "--limit", "500"}, srv...)...); !errors.Is(err, sdk.ErrInvalidArgument) || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("search --limit 500: %v", err)
	}

	// status: tables, --json.
	out, _ = mustRunCLI(t, "", append([]string{"status"}, srv...)...)
	for _, want := range []string{"BACKEND", "vector", "pgvector", "384", "keyword", "QUEUE", "AVAILABLE", "index_vector"} {
		if !strings.Contains(out, want) {
			t.Fatalf("status lacks %q:\n%s", want, out)
		}
	}
	out, _ = mustRunCLI(t, "", append([]string{"status", "--json"}, srv...)...)
	var st struct {
		Backends []json.RawMessage `json:"backends"`
		Queues   []json.RawMessage `json:"queues"`
	}
	var kw osav1.Backend
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Backends) != 2 || len(st.Queues) < 3 {
		t.Fatalf("status --json printed %s (%v)", out, err)
	}
	if err := protojson.Unmarshal(st.Backends[1], &kw); err != nil || kw.Indexed != 3 {
		t.Fatalf("status --json printed %s (%v)", out, err)
	}

	// reindex --wait follows the rebuild to its end.
	out, _ = mustRunCLI(t, "", append([]string{"reindex", "keyword", "--wait"}, srv...)...)
	if !regexp.MustCompile(`reindex \d+ of keyword: succeeded, 3 of 3 records in `).MatchString(out) {
		t.Fatalf("reindex --wait printed:\n%s", out)
	}
	if _, _, err := runCLI(t, "", append([]string{"reindex", "nope"}, srv...)...); err == nil {
		t.Fatal("reindex of a missing backend succeeded")
	}
}

// TestClientFlags checks the environment defaults and the errors of the client flags.
func TestClientFlags(t *testing.T) {
	t.Parallel()
	base := startClientServer(t, func(c *config.Config) {
		sum := sha256.Sum256([]byte("osa_writer"))
		c.Auth.Tokens = []config.Token{{Name: "writer", SHA256: hex.EncodeToString(sum[:]), Scopes: []string{config.ScopeRecordsWrite}}}
	})
	srv := []string{"--server", strings.TrimPrefix(base, "http://")} // host:port means http

	// Without the admin scope, status shows the backends and leaves the queues out.
	out, errw := mustRunCLI(t, "", append([]string{"status"}, srv...)...)
	if !strings.Contains(out, "keyword") || strings.Contains(out, "AVAILABLE") || !strings.Contains(errw, "queues left out") {
		t.Fatalf("status without admin:\nstdout:\n%s\nstderr:\n%s", out, errw)
	}
	_, _, err := runCLI(t, `{"a": 1}`, append([]string{"publish", "-"}, srv...)...)
	if !errors.Is(err, sdk.ErrUnauthenticated) || !strings.Contains(err.Error(), "--token") {
		t.Fatalf("publish without a token: %v", err)
	}
	if _, errw := mustRunCLI(t, `{"a": 1}`, append([]string{"publish", "-", "--token", "osa_writer"}, srv...)...); errw != "" {
		t.Fatalf("publish with --token wrote to stderr: %s", errw)
	}
	if _, _, err := runCLI(t, "", "status", "--server", "http://127.0.0.1:1"); !errors.Is(err, sdk.ErrUnavailable) ||
		!strings.Contains(err.Error(), "is the server running at http://127.0.0.1:1") {
		t.Fatalf("status of no server: %v", err)
	}
	for _, args := range [][]string{
		{"publish", "-", "--on-error", "ignore"},
		{"publish", "-", "--progress", "fancy"},
		{"search", "x", "--filter", "novalue"},
		{"get"},
	} {
		if _, _, err := runCLI(t, "", append(args, srv...)...); err == nil {
			t.Errorf("osa %v succeeded", args)
		}
	}
	out, _ = mustRunCLI(t, "", "publish", "--help")
	if !strings.Contains(out, "Examples:") || !strings.Contains(out, "--on-error") || !strings.Contains(out, `"source_id"`) {
		t.Fatalf("publish --help:\n%s", out)
	}
}

func TestParseFilters(t *testing.T) {
	t.Parallel()
	got, err := parseFilters([]string{"organism=Homo sapiens", "year=2021", `id="2021"`, "sample.tissue=heart", "sample.n=3", "ok=true"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(got)
	if want := `{"id":"2021","ok":true,"organism":"Homo sapiens","sample":{"n":3,"tissue":"heart"},"year":2021}`; string(b) != want {
		t.Fatalf("parseFilters = %s, want %s", b, want)
	}
	if _, err := parseFilters([]string{"a=1", "a.b=2"}); err == nil {
		t.Fatal("a=1 then a.b=2 was accepted")
	}
}

// TestPublish10000 publishes a 10,000-line file and checks the progress output and the count.
func TestPublish10000(t *testing.T) {
	t.Parallel()
	base := startClientServer(t, nil)
	var b strings.Builder
	for i := range 10000 {
		fmt.Fprintf(&b, `{"title": "GEO series %d: expression profiling of tissue %d", "organism": "Homo sapiens", "samples": %d}`+"\n", i, i%13, i%40)
	}
	file := writeTemp(t, "10000.jsonl", b.String())
	start := time.Now()
	out, errw := mustRunCLI(t, "", "publish", file, "--progress", "bar", "--server", base)
	el := time.Since(start)
	t.Logf("osa publish of 10,000 lines took %s (%.0f records/s)", el, 10000/el.Seconds())
	if !strings.Contains(out, "10000 records: 10000 published, 0 unchanged, 0 failed") {
		t.Fatalf("publish printed:\n%s\nstderr:\n%q", out, errw)
	}
	if !strings.Contains(errw, "\r\033[K[") || !strings.Contains(errw, "] 100%  10000 records") || !strings.Contains(errw, "records/s") {
		t.Fatalf("progress bar output:\n%q", errw)
	}
	if n := countRecords(t, base); n != 10000 {
		t.Fatalf("the server holds %d records, want 10000", n)
	}
}

// TestPublishBadLines checks that malformed lines are reported by line number, skipped or
// aborting as --on-error says.
func TestPublishBadLines(t *testing.T) {
	t.Parallel()
	base := startClientServer(t, nil)
	const input = `{"title": "one"}
{"title": "two"}
{"title": "three"}
{"title": "four", oops}
{"title": "five"}
{"title": "six"}
["seven"]
{"title": "eight"}
{"metadata": {"title": "nine"}, "source": "lab"}
{"title": "ten"}
`
	file := writeTemp(t, "bad.jsonl", input)

	t.Run("Skip", func(t *testing.T) {
		t.Parallel()
		out, errw, err := runCLI(t, "", "publish", file, "--server", base)
		if err == nil || !strings.Contains(err.Error(), "3 of 10 records not published") {
			t.Fatalf("publish of 3 bad lines: %v", err)
		}
		lines := regexp.MustCompile(`(?m)^line (\d+): `).FindAllStringSubmatch(errw, -1)
		var got []string
		for _, l := range lines {
			got = append(got, l[1])
		}
		if strings.Join(got, ",") != "4,7,9" || !strings.Contains(errw, "line 7: want a JSON object, got an array") ||
			!strings.Contains(errw, "line 9: source_id: source and source_id must be set together") ||
			!strings.Contains(out, "10 records: 7 published, 0 unchanged, 3 failed") {
			t.Fatalf("publish reported lines %v:\nstdout:\n%s\nstderr:\n%s", got, out, errw)
		}
	})
	t.Run("Abort", func(t *testing.T) {
		t.Parallel()
		out, errw, err := runCLI(t, input, "publish", "-", "--on-error", "abort", "--json", "--server", base)
		if err == nil || !strings.Contains(err.Error(), "aborted at line 4") {
			t.Fatalf("publish --on-error abort: %v", err)
		}
		if !strings.HasPrefix(errw, "line 4: not valid JSON") || strings.Contains(errw, "line 7") {
			t.Fatalf("publish --on-error abort stderr:\n%s", errw)
		}
		// --json: one object per line read, the bad one with its error.
		var objs []map[string]any
		dec := json.NewDecoder(strings.NewReader(out))
		for dec.More() {
			var o map[string]any
			if err := dec.Decode(&o); err != nil {
				t.Fatal(err)
			}
			objs = append(objs, o)
		}
		if len(objs) != 4 || objs[0]["srn"] == nil || objs[3]["line"] != float64(4) || objs[3]["error"] == nil {
			t.Fatalf("publish --json printed:\n%s", out)
		}
	})
}
