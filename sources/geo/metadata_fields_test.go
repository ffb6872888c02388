package geo_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/osa-archive/osa/sources"
	"github.com/osa-archive/osa/sources/geo"
	"github.com/osa-archive/osa/sources/geo/geotest"
)

func TestMetadataFieldsResearchersSearch(t *testing.T) {
	t.Parallel()
	t.Run("Series", func(t *testing.T) {
		t.Parallel()
		b := setup(t, []geotest.Doc{geotest.RecordedGSE()}, nil)
		page, _ := b.pull(t, sources.Cursor{})
		got := metadata(t, page.Records[0])
		want := map[string]any{
			"accession":           "GSE40726",
			"title":               "Transcriptional profiling of IRF4 -/- vs IRF4 +/- T-cells under Th17 polarizing conditions",
			"summary":             geotest.RecordedGSE().Summary,
			"organism":            "Mus musculus",
			"platform":            "GPL7202",
			"sample_count":        6.0,
			"samples":             []any{"GSM999794", "GSM999797", "GSM999796", "GSM999799", "GSM999795", "GSM999798"},
			"pub_date":            "2012-09-13",
			"entry_type":          "GSE",
			"gds_type":            "Expression profiling by array",
			"pubmed_ids":          []any{"22983707"}, // a number in this recording, a string in newer ones
			"supplementary_types": []any{"TXT"},
			"ftp_link":            "ftp://ftp.ncbi.nlm.nih.gov/geo/series/GSE40nnn/GSE40726/",
			"source_url":          "https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi?acc=GSE40726",
		}
		assertMetadata(t, got, want)
		if page.Warnings != 0 {
			t.Fatalf("%d warnings, want 0", page.Warnings)
		}
	})
	t.Run("DataSetLinksItsSeries", func(t *testing.T) {
		t.Parallel()
		b := setup(t, []geotest.Doc{geotest.RecordedGDS()}, func(c *geo.Config) { c.RecordType = geo.RecordTypeGDS })
		page, _ := b.pull(t, sources.Cursor{})
		got := metadata(t, page.Records[0])
		want := map[string]any{
			"accession":    "GDS5435",
			"title":        "Dietary palatinose effect on liver",
			"summary":      geotest.RecordedGDS().Summary,
			"organism":     "Mus musculus",
			"platform":     "GPL6885",
			"sample_count": 14.0,
			"samples":      []any{"GSM1322809", "GSM1322810"},
			"pub_date":     "2014-12-05",
			"entry_type":   "GDS",
			"gds_type":     "Expression profiling by array",
			"pubmed_ids":   []any{"25348610"},
			"bioproject":   "PRJNA237500",
			"series":       []any{"GSE54723"},
			"ftp_link":     "ftp://ftp.ncbi.nlm.nih.gov/geo/datasets/GDS5nnn/GDS5435/",
			"source_url":   "https://www.ncbi.nlm.nih.gov/sites/GDSbrowser?acc=GDS5435",
		}
		assertMetadata(t, got, want)
	})
	t.Run("SamplesCapped", func(t *testing.T) {
		t.Parallel()
		doc := geotest.Series(1)[0]
		doc.NSamples = 250
		for i := range 250 {
			doc.Samples = append(doc.Samples, fmt.Sprintf("GSM%d", 5000+i))
		}
		for _, tc := range []struct {
			name string
			max  int
			want int
		}{
			{"Default", 0, geo.MaxSamplesDefault},
			{"Three", 3, 3},
			{"None", -1, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				b := setup(t, []geotest.Doc{doc}, func(c *geo.Config) { c.MaxSamples = tc.max })
				page, _ := b.pull(t, sources.Cursor{})
				got := metadata(t, page.Records[0])
				samples, _ := got["samples"].([]any)
				if len(samples) != tc.want || got["sample_count"] != 250.0 {
					t.Fatalf("%d samples kept and sample_count %v, want %d and 250", len(samples), got["sample_count"], tc.want)
				}
				if tc.want > 0 && samples[0] != doc.Samples[0] {
					t.Fatalf("first sample %v, want NCBI's first, %s", samples[0], doc.Samples[0])
				}
			})
		}
		if _, err := geo.New(geo.Config{Name: "geo", MaxSamples: geo.MaxSamplesMax + 1}); err == nil || !strings.Contains(err.Error(), "MaxSamples") {
			t.Fatalf("New with MaxSamples over the maximum: %v, want an error naming MaxSamples", err)
		}
	})
}

func assertMetadata(t *testing.T, got, want map[string]any) {
	t.Helper()
	for k, v := range want {
		g, _ := json.Marshal(got[k])
		w, _ := json.Marshal(v)
		if string(g) != string(w) {
			t.Errorf("metadata[%q] = %s, want %s", k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("metadata has %q (%v), not expected", k, got[k])
		}
	}
}
