package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/osa-archive/osa/internal/pgtest"
)

// TestBenchRelevanceWritesThroughCommand: osa bench relevance writes its report to the
// command's output and its progress to the command's error output, not to the process's, so
// the command can be tested like the client commands.
func TestBenchRelevanceWritesThroughCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var corpus, queries strings.Builder
	qrels := "query-id\tcorpus-id\tscore\n"
	for i := range 12 {
		doc, _ := json.Marshal(map[string]string{"_id": fmt.Sprint(i), "title": fmt.Sprintf("record %d about word%d", i, i), "text": "a test abstract"})
		corpus.Write(append(doc, '\n'))
	}
	for i := range 3 {
		q, _ := json.Marshal(map[string]string{"_id": fmt.Sprintf("q%d", i), "text": fmt.Sprintf("word%d", i)})
		queries.Write(append(q, '\n'))
		qrels += fmt.Sprintf("q%d\t%d\t1\n", i, i)
	}
	for name, body := range map[string]string{"corpus.jsonl": corpus.String(), "queries_train.jsonl": queries.String(), "qrels_train.tsv": qrels} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, errw := mustRunCLI(t, "", "bench", "relevance", "--dataset", dir, "--set", "database.url="+pgtest.AdminURL(t))
	if !strings.Contains(out, "# Relevance benchmark") || !strings.Contains(out, "| default | keyword |") {
		t.Fatalf("stdout has no report:\n%s", out)
	}
	if !strings.Contains(errw, "relevance: default keyword: nDCG@10 1.000") {
		t.Fatalf("stderr has no progress (or the keyword search missed a unique word):\n%s", errw)
	}
}

// TestBenchSoakRefuses: osa bench soak restarts its database, so it refuses database.url with a
// message that says what to do instead, and a bad flag before it starts any cluster.
func TestBenchSoakRefuses(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"database.url": {[]string{"--set", "database.url=postgres://osa@127.0.0.1:1/osa"}, "cannot run on database.url: unset database.url"},
		"duration":     {[]string{"--duration", "10s"}, "--duration 10s is too short: send at least 30s"},
		"rate":         {[]string{"--rate", "1"}, "--rate 1 records/s is too low: send at least 2"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, errw, err := runCLI(t, "", append([]string{"bench", "soak"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if strings.Contains(errw, "starting PostgreSQL") {
				t.Fatalf("a cluster was started before the refusal:\n%s", errw)
			}
		})
	}
}

// TestBenchScaleRefuses: osa bench scale refuses too few records before it starts any cluster,
// naming the flag.
func TestBenchScaleRefuses(t *testing.T) {
	t.Parallel()
	_, errw, err := runCLI(t, "", "bench", "scale", "--records", "10")
	if err == nil || !strings.Contains(err.Error(), "--records 10 is too few: send at least 1000") {
		t.Fatalf("error %v, want one naming --records", err)
	}
	if strings.Contains(errw, "starting PostgreSQL") {
		t.Fatalf("a cluster was started before the refusal:\n%s", errw)
	}
}
