package geo_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/osa-archive/osa/sources"
	"github.com/osa-archive/osa/sources/geo/geotest"
)

// metadata decodes a record's metadata.
func metadata(t *testing.T, rec sources.Record) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Metadata, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTolerantNumbers(t *testing.T) {
	t.Parallel()
	docs := geotest.Series(4)
	docs[0].Raw = map[string]any{"n_samples": geotest.NoSampleCount}            // NCBI's empty numeric string
	docs[1].Raw = map[string]any{"n_samples": "twelve", "pubmedids": []any{""}} // text, and an empty id
	docs[2].Raw = map[string]any{"n_samples": "7"}                              // a number as a string is a number
	docs[3].Raw = map[string]any{"n_samples": nil, "pubmedids": []any{"123", 456, "x"}}
	b := setup(t, docs, nil)
	page, _ := b.pull(t, sources.Cursor{})
	if got := ids(page); page.Fetched != 4 || page.Skipped != 0 || !slices.Equal(got, []string{"GSE1001", "GSE1002", "GSE1003", "GSE1004"}) {
		t.Fatalf("fetched %d, skipped %d, records %v: every document must be kept", page.Fetched, page.Skipped, got)
	}
	// "", "twelve", the empty id and "x" are warnings; a null is no value, not a bad one.
	if page.Warnings != 4 {
		t.Fatalf("%d warnings, want 4", page.Warnings)
	}
	for i, want := range []any{nil, nil, 7.0, nil} {
		m := metadata(t, page.Records[i])
		if m["sample_count"] != want {
			t.Errorf("record %d: sample_count %v, want %v", i, m["sample_count"], want)
		}
		if m["title"] == nil {
			t.Errorf("record %d lost its title", i)
		}
	}
	if m := metadata(t, page.Records[3]); !slices.Equal(toStrings(m["pubmed_ids"]), []string{"123", "456"}) {
		t.Fatalf("pubmed_ids %v, want the readable ones", m["pubmed_ids"])
	}
	if m := metadata(t, page.Records[1]); m["pubmed_ids"] != nil {
		t.Fatalf("pubmed_ids %v, want none", m["pubmed_ids"])
	}
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, s := range list {
		out = append(out, s.(string))
	}
	return out
}
