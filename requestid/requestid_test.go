package requestid

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestRequestID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		"abc-123": true, "a.b:c_d": true, strings.Repeat("a", 128): true,
		"": false, strings.Repeat("a", 129): false, "with space": false, "<script>": false, "é": false,
	} {
		if got := Valid(id); got != want {
			t.Errorf("Valid(%q) = %v, want %v", id, got, want)
		}
	}
	if id := New(); len(id) != 32 || !Valid(id) || id == New() {
		t.Errorf("New() = %q: want 32 hex digits, a new one each call", id)
	}
	if got := FromMetadata(Metadata("r-1")); got != "r-1" {
		t.Errorf("FromMetadata(Metadata(r-1)) = %q", got)
	}
	if Metadata("") != nil || FromMetadata([]byte(`{"other": 1}`)) != "" || FromMetadata([]byte(`not json`)) != "" {
		t.Error("no id: want no metadata and no id")
	}
	var buf bytes.Buffer
	logger := slog.New(Handler(slog.NewTextHandler(&buf, nil))).With("k", "v")
	logger.InfoContext(With(context.Background(), "r-2"), "hello")
	logger.InfoContext(context.Background(), "bare")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "request_id=r-2") || !strings.Contains(lines[0], "k=v") ||
		strings.Contains(lines[1], "request_id") {
		t.Errorf("log lines:\n%s", buf.String())
	}
}
