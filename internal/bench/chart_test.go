package bench

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestNiceScale(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ max, step, top float64 }{
		{0, 0.2, 1},
		{-3, 0.2, 1},
		{1, 0.2, 1},
		{5.5, 1, 6},
		{6, 1, 6},
		{95, 20, 100},
		{300, 50, 300},
		{1234, 500, 1500},
		{0.03, 0.005, 0.03},
	} {
		step, top := niceScale(c.max)
		if !approxEqual(step, c.step) || !approxEqual(top, c.top) {
			t.Errorf("niceScale(%v) = %v, %v; want %v, %v", c.max, step, top, c.step, c.top)
		}
	}
}

func TestTickLabel(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v, step float64
		want    string
	}{{0, 1, "0"}, {1500, 500, "1,500"}, {0.4, 0.2, "0.4"}, {0.015, 0.005, "0.015"}} {
		if got := tickLabel(c.v, c.step); got != c.want {
			t.Errorf("tickLabel(%v, %v) = %q, want %q", c.v, c.step, got, c.want)
		}
	}
}

// TestSVG renders the chart of a report with both timelines: a well-formed SVG document with a
// panel per scenario and measure, every series named in a legend, and the freshness target.
func TestSVG(t *testing.T) {
	t.Parallel()
	tl := func(backends ...string) *Timeline {
		out := &Timeline{WindowSeconds: 1, Backends: backends}
		for i := range 5 {
			idx := make([]int, len(backends))
			for j := range idx {
				idx[j] = 90 + 5*i + j
			}
			out.Windows = append(out.Windows, Window{Start: float64(i), Committed: 100, Indexed: idx, FreshnessP95Ms: 150 + 10*float64(i)})
		}
		return out
	}
	rep := &IngestReport{
		Scenarios: []ScenarioResult{{Name: ScenarioPipeline, Timeline: tl("keyword")}},
		Freshness: &FreshnessResult{Scenario: ScenarioResult{Name: ScenarioFreshness, Timeline: tl("vector", "keyword")}},
	}
	svg := rep.SVG()
	dec := xml.NewDecoder(strings.NewReader(svg))
	elems := map[string]int{}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok {
			elems[se.Name.Local]++
		}
	}
	if elems["svg"] != 1 || elems["g"] != 4 {
		t.Errorf("elements %v: want one svg with 4 panels", elems)
	}
	// Throughput: committed + 1 backend, committed + 2 backends; freshness: one series each.
	if got := strings.Count(svg, `stroke-linejoin="round"`); got != 7 {
		t.Errorf("%d series, want 7", got)
	}
	for _, want := range []string{
		"pipeline: records per second", "freshness: records per second", "indexed by keyword", "indexed by vector",
		"committed (published)", "p95, every backend", "target p95 ≤ 300 ms", "seconds since the first record&#39;s commit", "records/s",
	} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	if strings.Count(svg, "target p95") != 1 {
		t.Error("the freshness target belongs to the freshness scenario's panel alone")
	}
	if (&IngestReport{}).SVG() != "" {
		t.Error("a report without timelines has a chart")
	}
}

func approxEqual(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }
