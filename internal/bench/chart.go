package bench

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Geometry of the chart, in SVG user units (pixels).
const (
	chartWidth    = 820
	chartTitleH   = 40  // the chart's title above the first panel
	panelHeight   = 250 // one panel, its title and axis labels included
	plotLeft      = 78  // room for the y tick labels and the y axis label
	plotRight     = 24
	plotTop       = 44 // below the panel's title and legend
	plotBottom    = 48 // room for the x tick labels and the x axis label
	chartMaxDots  = 40 // series with at most this many points also get a dot per point
	chartFontSize = 12
)

// chartColors are the colors of the backends' series, in order; other series have their own.
var chartColors = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b"}

const (
	chartPublishedColor = "#7f7f7f"
	chartFreshnessColor = "#ff7f0e"
	chartGoalColor      = "#555555"
)

// chartSeries is one line of a panel.
type chartSeries struct {
	name   string
	color  string
	xs, ys []float64
}

// chartPanel is one plot: its series over a shared x axis from 0.
type chartPanel struct {
	title, xLabel, yLabel string
	series                []chartSeries
	// xMax is the right end of the x axis at least (a timeline's last window's end).
	xMax float64
	// goal, when above 0, is drawn as a dashed horizontal line labelled goalLabel.
	goal      float64
	goalLabel string
	// yCap, when above 0, is the top of the y axis at most: higher points are drawn at it.
	yCap float64
	// marks are drawn as labelled vertical lines: moments such as a soak's faults.
	marks []chartMark
}

// chartMark is a labelled moment on a panel's x axis.
type chartMark struct {
	x     float64
	label string
}

// SVG renders the timelines of the pipeline and freshness scenarios as one SVG image: for each,
// a panel of the records indexed per second by every backend (with the records committed per
// second) and a panel of the freshness p95 per window. It returns "" when no scenario has a
// timeline.
func (r *IngestReport) SVG() string {
	var panels []chartPanel
	add := func(s *ScenarioResult, goal bool) {
		if s == nil || s.Timeline == nil || len(s.Timeline.Windows) == 0 {
			return
		}
		thr, fresh := timelinePanels(s.Name, s.Timeline)
		if goal {
			fresh.goal, fresh.goalLabel = FreshnessP95Target, fmt.Sprintf("target p95 ≤ %s ms", fmtNum(FreshnessP95Target))
		}
		panels = append(panels, thr, fresh)
	}
	add(r.Scenario(ScenarioPipeline), false)
	if r.Freshness != nil {
		add(&r.Freshness.Scenario, true)
	}
	if len(panels) == 0 {
		return ""
	}
	return renderChart("OSA ingest benchmark: throughput and freshness over time", panels)
}

// timelinePanels turns one scenario's timeline into its throughput and freshness panels.
func timelinePanels(name string, tl *Timeline) (throughput, freshness chartPanel) {
	w := tl.WindowSeconds
	if w <= 0 {
		w = 1
	}
	xLabel := "seconds since the first record's commit"
	end := float64(len(tl.Windows)) * w
	throughput = chartPanel{title: name + ": records per second", xLabel: xLabel, yLabel: "records/s", xMax: end}
	published := chartSeries{name: "committed (published)", color: chartPublishedColor}
	per := make([]chartSeries, len(tl.Backends))
	for i, b := range tl.Backends {
		per[i] = chartSeries{name: "indexed by " + b, color: chartColors[i%len(chartColors)]}
	}
	fs := chartSeries{name: "p95, every backend", color: chartFreshnessColor}
	for _, win := range tl.Windows {
		x := win.Start + w/2
		published.xs, published.ys = append(published.xs, x), append(published.ys, float64(win.Committed)/w)
		for i := range per {
			n := 0
			if i < len(win.Indexed) {
				n = win.Indexed[i]
			}
			per[i].xs, per[i].ys = append(per[i].xs, x), append(per[i].ys, float64(n)/w)
		}
		if win.Committed > 0 {
			fs.xs, fs.ys = append(fs.xs, x), append(fs.ys, win.FreshnessP95Ms)
		}
	}
	throughput.series = append([]chartSeries{published}, per...)
	freshness = chartPanel{title: fmt.Sprintf("%s: p95 of commit → indexed, over the records committed in each %s-s window", name, fmtNum(w)),
		xLabel: xLabel, yLabel: "milliseconds", series: []chartSeries{fs}, xMax: end}
	return throughput, freshness
}

// renderChart renders panels one below the other, under title, as a standalone SVG document.
func renderChart(title string, panels []chartPanel) string {
	height := chartTitleH + len(panels)*panelHeight
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="%d">`+"\n",
		chartWidth, height, chartWidth, height, chartFontSize)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", chartWidth, height)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", plotLeft, esc(title))
	for i, p := range panels {
		renderPanel(&b, p, chartTitleH+i*panelHeight)
	}
	b.WriteString("</svg>\n")
	return b.String()
}

// renderPanel writes one panel whose top is at y top.
func renderPanel(b *strings.Builder, p chartPanel, top int) {
	x0, x1 := float64(plotLeft), float64(chartWidth-plotRight)
	y0, y1 := float64(top+panelHeight-plotBottom), float64(top+plotTop) // y0 is the bottom
	xMax, yMax := p.xMax, p.goal
	for _, s := range p.series {
		for i := range s.xs {
			xMax, yMax = max(xMax, s.xs[i]), max(yMax, s.ys[i])
		}
	}
	if p.yCap > 0 {
		yMax = min(yMax, p.yCap/1.05)
	}
	xStep, xTop := niceScale(xMax)
	yStep, yTop := niceScale(yMax * 1.05) // a little headroom above the highest point
	px := func(x float64) float64 { return x0 + (x1-x0)*x/xTop }
	py := func(y float64) float64 { return y0 - (y0-y1)*min(y, yTop)/yTop }

	fmt.Fprintf(b, `<g class="panel">`+"\n")
	fmt.Fprintf(b, `<text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", plotLeft, top+16, esc(p.title))
	// Legend: below the title, left to right.
	lx := x0
	for _, s := range p.series {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="2.5"/>`, lx, top+26, lx+18, top+26, s.color)
		fmt.Fprintf(b, `<text x="%.1f" y="%d">%s</text>`+"\n", lx+22, top+30, esc(s.name))
		lx += 22 + float64(len([]rune(s.name)))*6.6 + 20
	}
	// Grid, ticks and their labels.
	for v := 0.0; v <= yTop+yStep/1e6; v += yStep {
		y := py(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e6e6e6"/>`, x0, y, x1, y)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, y+4, tickLabel(v, yStep))
	}
	for v := 0.0; v <= xTop+xStep/1e6; v += xStep {
		x := px(v)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#333"/>`, x, y0, x, y0+5)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", x, y0+18, tickLabel(v, xStep))
	}
	// Axes and their labels.
	fmt.Fprintf(b, `<polyline points="%.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="none" stroke="#333"/>`+"\n", x0, y1, x0, y0, x1, y0)
	fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", (x0+x1)/2, y0+36, esc(p.xLabel))
	fmt.Fprintf(b, `<text transform="translate(%.1f %.1f) rotate(-90)" text-anchor="middle">%s</text>`+"\n", x0-56, (y0+y1)/2, esc(p.yLabel))
	if p.goal > 0 {
		y := py(p.goal)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="6 4"/>`, x0, y, x1, y, chartGoalColor)
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="end" fill="%s">%s</text>`+"\n", x1-4, y-5, chartGoalColor, esc(p.goalLabel))
	}
	for i, mk := range p.marks {
		x := px(mk.x)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-dasharray="3 3"/>`, x, y0, x, y1, chartGoalColor)
		// Labels alternate between two heights so that close marks stay legible.
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f" fill="%s" font-size="10">%s</text>`+"\n", x+3, y1+10+float64(i%2)*12, chartGoalColor, esc(mk.label))
	}
	// The series.
	for _, s := range p.series {
		if len(s.xs) == 0 {
			continue
		}
		pts := make([]string, len(s.xs))
		for i := range s.xs {
			pts[i] = fmt.Sprintf("%.1f,%.1f", px(s.xs[i]), py(s.ys[i]))
		}
		fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="1.8" stroke-linejoin="round"><title>%s</title></polyline>`+"\n",
			strings.Join(pts, " "), s.color, esc(s.name))
		if len(s.xs) <= chartMaxDots {
			for i := range s.xs {
				fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>`, px(s.xs[i]), py(s.ys[i]), s.color)
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("</g>\n")
}

// niceScale returns a tick step of 1, 2 or 5 times a power of ten that divides [0, max] into
// at most 6 intervals, and the axis top: the first multiple of step at or above max. A max of 0
// or less gives the scale of [0, 1].
func niceScale(max float64) (step, top float64) {
	if !(max > 0) || math.IsInf(max, 0) {
		return 0.2, 1
	}
	raw := max / 6
	pow := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if step = m * pow; step >= raw {
			break
		}
	}
	top = math.Ceil(max/step-1e-9) * step
	return step, top
}

// tickLabel formats a tick value with as many decimals as step needs, thousands separated.
func tickLabel(v, step float64) string {
	if step >= 1 {
		return fmtNum(math.Round(v))
	}
	decimals := int(math.Ceil(-math.Log10(step) - 1e-9))
	return strconv.FormatFloat(v, 'f', decimals, 64)
}

// esc escapes text for SVG (XML) content and attributes.
func esc(s string) string { return html.EscapeString(s) }
