package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// osa export writes the file to standard output and the cursor to standard error (and
// --cursor-file); osa events after that cursor prints only what came later.
func TestExportCommand(t *testing.T) {
	t.Parallel()
	base := startClientServer(t, nil)
	srv := []string{"--server", base}
	file := writeTemp(t, "records.jsonl", `{"title": "Zebrafish heart regeneration", "organism": "Danio rerio"}
{"title": "Mouse liver atlas", "organism": "Mus musculus"}
`)
	mustRunCLI(t, "", append([]string{"publish", file}, srv...)...)

	cursorFile := filepath.Join(t.TempDir(), "cursor.txt")
	out, errOut := mustRunCLI(t, "", append([]string{"export", "--progress", "plain", "--cursor-file", cursorFile}, srv...)...)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], `{"record":{"srn":"urn:osa:localhost:rec:`) {
		t.Fatalf("osa export:\n%s", out)
	}
	raw, err := os.ReadFile(cursorFile)
	cursor := strings.TrimSpace(string(raw))
	if err != nil || cursor == "" || !strings.Contains(errOut, "exported 2 records") || !strings.Contains(errOut, cursor) {
		t.Fatalf("osa export: cursor file %q (%v), standard error:\n%s", raw, err, errOut)
	}

	csvOut, _ := mustRunCLI(t, "", append([]string{"export", "--format", "csv", "--where", `organism = "Mus musculus"`, "--progress", "none"}, srv...)...)
	rows := strings.Split(strings.TrimSuffix(csvOut, "\n"), "\n")
	if len(rows) != 2 || !strings.HasPrefix(rows[0], "srn,id,version,") || !strings.Contains(rows[1], "Mouse liver atlas") {
		t.Fatalf("osa export --format csv --where:\n%s", csvOut)
	}

	_, summary := mustRunCLI(t, "", append([]string{"export", "--json", "--progress", "none", "--output", filepath.Join(t.TempDir(), "x.jsonl")}, srv...)...)
	var res struct {
		Cursor  string `json:"cursor"`
		Records int64  `json:"records"`
	}
	if err := json.Unmarshal([]byte(summary), &res); err != nil || res.Records != 2 || res.Cursor == "" {
		t.Fatalf("osa export --json: standard error %q: %v", summary, err)
	}

	// A record published after the export is the only event after its cursor.
	later := writeTemp(t, "later.jsonl", `{"title": "Yeast stress"}`+"\n")
	mustRunCLI(t, "", append([]string{"publish", later}, srv...)...)
	waitEvents(t, srv, cursor, 1)
}

// waitEvents runs osa events after cursor until it prints n events, and fails when it prints
// more or none come within 30 s (the feed shows an event once every older transaction ended).
func waitEvents(t *testing.T, srv []string, cursor string, n int) {
	t.Helper()
	var got []string
	for range 600 {
		out, _ := mustRunCLI(t, "", append([]string{"events", "--after", cursor, "--json"}, srv...)...)
		var page struct {
			Events []struct {
				Srn string `json:"srn"`
			} `json:"events"`
		}
		if err := json.Unmarshal([]byte(out), &page); err != nil {
			t.Fatalf("osa events --json: %v\n%s", err, out)
		}
		got = got[:0]
		for _, e := range page.Events {
			got = append(got, e.Srn)
		}
		if len(got) >= n {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(got) != n {
		t.Fatalf("after the export's cursor: %d events %v, want %d", len(got), got, n)
	}
}
