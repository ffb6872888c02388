package main

import (
	"strings"
	"testing"
)

// --limit 0 is refused with the API's rule instead of meaning 20 (leaving the flag out does).
func TestSearchLimitZero(t *testing.T) {
	t.Parallel()
	_, _, err := runCLI(t, "", "search", "heart", "--limit", "0", "--server", "http://127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "--limit must be at least 1 (leave it out for 20)") {
		t.Fatalf("osa search --limit 0: %v", err)
	}
}
