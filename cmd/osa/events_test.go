package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncWriter is an output safe to read while a command writes it.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// osa events prints pages with the next page's cursor; osa events --follow --json prints each
// event as a line of JSON as it is committed, until interrupted.
func TestEventsCommand(t *testing.T) {
	t.Parallel()
	base := startClientServer(t, nil)
	srv := []string{"--server", base}
	file := writeTemp(t, "records.jsonl", `{"title": "Zebrafish heart regeneration"}
{"title": "Mouse liver atlas"}
`)
	mustRunCLI(t, "", append([]string{"publish", file}, srv...)...)

	// The feed shows an event once every transaction begun before it has ended (other tests'
	// too): page until both are there.
	var lines []string
	after := ""
	deadline := time.Now().Add(30 * time.Second)
	for len(lines) < 2 && time.Now().Before(deadline) {
		args := append([]string{"events", "--limit", "1"}, srv...)
		if after != "" {
			args = append(args, "--after", after)
		}
		out, _ := mustRunCLI(t, "", args...)
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if strings.Contains(l, "record.published") {
				lines = append(lines, l)
			}
		}
		_, next, ok := strings.Cut(out, "next page: --after ")
		if !ok {
			t.Fatalf("osa events printed no next cursor:\n%s", out)
		}
		after = strings.TrimSpace(next)
		if !strings.Contains(out, "record.published") {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if len(lines) != 2 || !strings.Contains(lines[0], "urn:osa:localhost:rec:") {
		t.Fatalf("osa events pages: %q", lines)
	}

	// --follow --json, from the cursor after both: a new record's event arrives as a line.
	cmd := newRootCmd()
	out := &syncWriter{}
	cmd.SetOut(out)
	cmd.SetErr(io.Discard)
	cmd.SetArgs(append([]string{"events", "--follow", "--json", "--after", after, "--type", "record.published"}, srv...))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	mustRunCLI(t, "", append([]string{"publish", writeTemp(t, "one.jsonl", `{"title": "Axolotl limb regrowth"}`+"\n")}, srv...)...)
	var ev struct {
		Cursor, Type, Srn string
		Version           int
		CommittedAt       time.Time
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		if sc.Scan() {
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("osa events --follow --json printed %q: %v", sc.Text(), err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("osa events --follow printed nothing for 30s after a publish")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("osa events --follow ended with %v when interrupted", err)
	}
	if ev.Type != "record.published" || ev.Version != 1 || ev.Cursor == "" || ev.CommittedAt.IsZero() ||
		!strings.HasPrefix(ev.Srn, "urn:osa:localhost:rec:") || strings.Count(out.String(), "\n") != 1 {
		t.Fatalf("osa events --follow --json printed:\n%s", out.String())
	}

	if _, _, err := runCLI(t, "", append([]string{"events", "--type", "record.moved"}, srv...)...); err == nil ||
		!strings.Contains(err.Error(), "types[0]") {
		t.Fatalf("osa events --type record.moved: %v, want an error naming types[0]", err)
	}
}
