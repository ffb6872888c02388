package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/osa-archive/osa/config"
)

// TestPublishWait checks that osa publish --wait answers once the backends hold the records, so
// that osa search right after finds them, and reports by line what is not indexed.
func TestPublishWait(t *testing.T) {
	t.Parallel()

	t.Run("SearchRightAfter", func(t *testing.T) {
		t.Parallel()
		srv := []string{"--server", startClientServer(t, nil)}
		file := writeTemp(t, "records.jsonl", `{"title": "Axolotl limb regeneration"}
{"title": "Tardigrade desiccation survival"}
{"sample_count": 12}
`)
		out, errw := mustRunCLI(t, "", append([]string{"publish", file, "--wait"}, srv...)...)
		if !strings.Contains(out, "2 of 3 records indexed on every backend, 0 not indexed yet, 0 failed to index, 1 without text to index") ||
			!strings.Contains(errw, "line 3: no text for backend vector to index in urn:osa:localhost:rec:") {
			t.Fatalf("publish --wait printed:\n%s\nstderr:\n%s", out, errw)
		}
		for _, mode := range []string{"vector", "keyword"} {
			for _, word := range []string{"axolotl", "tardigrade"} {
				out, _ := mustRunCLI(t, "", append([]string{"search", word, "--mode", mode}, srv...)...)
				if !strings.Contains(out, "1 hits (mode "+mode) {
					t.Fatalf("osa search %s --mode %s right after publish --wait:\n%s", word, mode, out)
				}
			}
		}
	})

	t.Run("TimeoutReportsBackends", func(t *testing.T) {
		t.Parallel()
		srv := []string{"--server", startClientServer(t, func(c *config.Config) { c.Node.Role = config.RoleAPI })}
		input := `{"title": "Okapi"}` + "\n" + `{"title": "Quokka"}` + "\n"
		start := time.Now()
		out, errw, err := runCLI(t, input, append([]string{"publish", "-", "--wait", "--wait-timeout", "300ms", "--json"}, srv...)...)
		if el := time.Since(start); err == nil || !strings.Contains(err.Error(), "2 of 2 records not indexed on every backend (2 not yet") ||
			el < 300*time.Millisecond || el > 10*time.Second {
			t.Fatalf("publish --wait on a server without workers, after %s: %v", el, err)
		}
		for _, want := range []string{"line 1: not indexed yet by backend vector when the wait ran out",
			"line 2: not indexed yet by backend keyword when the wait ran out",
			"0 of 2 records indexed on every backend, 2 not indexed yet"} {
			if !strings.Contains(errw, want) {
				t.Fatalf("stderr lacks %q:\n%s", want, errw)
			}
		}
		var line struct {
			Indexed    *bool `json:"indexed"`
			NotIndexed []struct {
				Backend string `json:"backend"`
				State   string `json:"state"`
			} `json:"not_indexed"`
		}
		first, _, _ := strings.Cut(out, "\n")
		if err := json.Unmarshal([]byte(first), &line); err != nil || line.Indexed == nil || *line.Indexed ||
			len(line.NotIndexed) != 2 || line.NotIndexed[0].State != "pending" {
			t.Fatalf("publish --wait --json printed %s (%v)", out, err)
		}
	})

	t.Run("BadTimeout", func(t *testing.T) {
		t.Parallel()
		base := startClientServer(t, func(c *config.Config) { c.Node.Role = config.RoleAPI })
		for args, want := range map[string]string{
			"--wait --wait-timeout -1s": "--wait-timeout: -1s is negative",
			"--wait-timeout 1s":         "--wait-timeout: only with --wait",
			"--wait --wait-timeout 2m":  "wait_timeout: 2m0s is longer than records.wait_timeout_max (1m0s)",
		} {
			_, _, err := runCLI(t, `{"title": "Wombat"}`, append(append([]string{"publish", "-"}, strings.Fields(args)...), "--server", base)...)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("publish %s: %v, want %q", args, err, want)
			}
		}
		if n := countRecords(t, base); n != 0 {
			t.Fatalf("refused publishes stored %d records", n)
		}
	})
}
