package main

import (
	"encoding/json"
	"testing"
)

// FuzzParseLine feeds arbitrary lines to the JSON Lines reader of osa publish: it never panics;
// a line it accepts has object metadata that encodes back to JSON; a line it rejects says why.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		`{"title": "x"}`,
		`{"metadata": {"title": "x"}, "source": "geo", "source_id": "GSE1"}`,
		`{"metadata": {"title": "x"}, "source": 1}`,
		`{"metadata": "x"}`,
		`[1, 2]`, `"str"`, `null`, ``, `   `, `{`, "{\"t\": \"\xff\"}", `{"a": {"b": [1, {"c": null}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, ok := parseLine(7, b)
		if !ok {
			return // blank
		}
		if e.line != 7 {
			t.Fatalf("line %d, want 7", e.line)
		}
		if e.err != nil {
			if e.err.Error() == "" {
				t.Fatal("an empty error message")
			}
			return
		}
		if e.params.Metadata == nil {
			t.Fatalf("accepted %q without metadata", b)
		}
		if _, err := json.Marshal(e.params.Metadata); err != nil {
			t.Fatalf("accepted %q but its metadata does not encode: %v", b, err)
		}
	})
}
