package main

import (
	"strings"
	"testing"
	"time"
)

// osa backends apply prints the plan (a dry run changes nothing), applies it, and osa backends
// list shows the new backend building, then live.
func TestBackendsCommands(t *testing.T) {
	t.Parallel()
	base := startClientServer(t, nil)
	file := writeTemp(t, "backends.yaml", "backends:\n  - {name: vector, kind: pgvector, weight: 2}\n"+
		"  - {name: keyword, kind: keyword}\n  - {name: kw2, kind: keyword, max_attempts: 3}\n")
	out, _ := mustRunCLI(t, "", "backends", "apply", file, "--dry-run", "--server", base)
	for _, want := range []string{"added     kw2", "unchanged keyword", "unchanged vector", "dry run: nothing changed"} {
		if !strings.Contains(out, want) {
			t.Fatalf("apply --dry-run lacks %q:\n%s", want, out)
		}
	}
	if out, _ := mustRunCLI(t, "", "backends", "list", "--server", base); strings.Contains(out, "kw2") {
		t.Fatalf("a dry run added kw2:\n%s", out)
	}
	out, _ = mustRunCLI(t, "", "backends", "apply", file, "--server", base)
	if !strings.Contains(out, "added     kw2 (backfill: reindex 1)") || !strings.Contains(out, "applied") {
		t.Fatalf("apply:\n%s", out)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		out, _ = mustRunCLI(t, "", "backends", "list", "--server", base)
		if strings.Contains(out, "kw2") && strings.Contains(out, "live") && !strings.Contains(out, "building") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kw2 is not live after a minute:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.HasPrefix(out, "NAME") || strings.Count(out, "\n") != 4 {
		t.Fatalf("list: want a header and three backends:\n%s", out)
	}
	// Removing needs the flag, and the error says which.
	only := writeTemp(t, "only.yaml", "backends:\n  - {name: keyword, kind: keyword}\n")
	if _, _, err := runCLI(t, "", "backends", "apply", only, "--server", base); err == nil || !strings.Contains(err.Error(), "allow_remove") {
		t.Fatalf("apply without --allow-remove: %v", err)
	}
}
