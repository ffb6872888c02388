package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/search"
	"github.com/osa-archive/osa/search/where"
)

// Search page settings.
const (
	pageSize = 20
	// pagesMax is the last page a search can reach (search.max_offset's default ÷ pageSize).
	pagesMax = search.OffsetMaxDefault / pageSize
	// facetValues is how many values a facet of the sidebar lists.
	facetValues = 8
)

// filterFields are the fields the sidebar filters by, in order, with their labels, when they are
// declared with facets; "year" filters pub_date by its year.
var filterFields = []struct{ param, field, label string }{
	{"organism", "organism", "Organism"},
	{"platform", "platform", "Platform"},
	{"entry_type", "entry_type", "Entry type"},
	{"year", "pub_date", "Publication year"},
}

// Highlight markers the search page asks for: control characters the search service strips from
// texts, so only its marks carry them; the page splits on them and lets html/template escape
// every piece.
const (
	markOpen  = "\x01"
	markClose = "\x02"
)

// searchView is the search page's data.
type searchView struct {
	Query, Mode, Sort string
	Modes             []string
	Filters           []activeFilter
	Facets            []facetView
	Hits              []hitView
	Page, Pages       int
	Prev, Next        string
	Matches           int64
	Error             string
	Suggestions       []link
}

type activeFilter struct{ Param, Label, Value, Remove string }

type facetView struct {
	Label  string
	Values []facetValueView
}

type facetValueView struct {
	Value    string
	Count    int64
	URL      string
	Selected bool
}

type link struct{ Text, URL string }

// hitView is one result, as shown.
type hitView struct {
	URL            string
	Title, Snippet []segment
	Source         string
	Accession      string
	AccessionURL   string
	PubDate        string
	SampleCount    string
}

// segment is a piece of highlighted text: Mark says it matched the query.
type segment struct {
	Text string
	Mark bool
}

// searchPage renders / from its URL's parameters: q, mode, sort (relevance or newest), page, and
// a filter per sidebar field.
func (u *UI) searchPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	v := searchView{Query: strings.TrimSpace(q.Get("q")), Mode: q.Get("mode"), Sort: q.Get("sort"),
		Modes: []string{"hybrid", "vector", "keyword"}}
	if !slices.Contains(v.Modes, v.Mode) {
		v.Mode = "hybrid"
	}
	if v.Sort != "newest" {
		v.Sort = "relevance"
	}
	v.Page, _ = strconv.Atoi(q.Get("page"))
	v.Page = min(max(v.Page, 1), pagesMax)

	fields := map[string]where.Field{}
	for _, f := range u.deps.Search.Fields() {
		fields[f.Name] = f
	}
	req := search.Request{Query: v.Query, Limit: pageSize, Offset: (v.Page - 1) * pageSize, FacetLimit: facetValues,
		Mode: map[string]search.Mode{"hybrid": search.ModeHybrid, "vector": search.ModeVector, "keyword": search.ModeKeyword}[v.Mode]}
	var conds []string
	for _, ff := range filterFields {
		f, ok := fields[ff.field]
		if !ok || !f.Facet {
			continue
		}
		req.Facets = append(req.Facets, ff.field)
		val := q.Get(ff.param)
		if val == "" {
			continue
		}
		if ff.param == "year" {
			year, err := strconv.Atoi(val)
			if err != nil || year < 1 || year > 9999 {
				continue
			}
			conds = append(conds, fmt.Sprintf("pub_date >= %04d-01-01 AND pub_date <= %04d-12-31", year, year))
		} else {
			conds = append(conds, ff.field+" = "+quote(val))
		}
		v.Filters = append(v.Filters, activeFilter{Param: ff.param, Label: ff.label, Value: val, Remove: withParam(r.URL, ff.param, "")})
	}
	req.Where = strings.Join(conds, " AND ")
	if v.Sort == "newest" {
		if _, ok := fields["pub_date"]; ok {
			req.Sort = []string{"pub_date:desc"}
		}
	}
	if v.Query != "" {
		req.Highlight, req.HighlightPreTag, req.HighlightPostTag = true, markOpen, markClose
	} else if len(req.Facets) == 0 && req.Where == "" && len(req.Sort) == 0 {
		req.Sort = []string{"pub_date:desc"} // the front page: the newest records
		if _, ok := fields["pub_date"]; !ok {
			req.Query = "*" // nothing to browse by: the page stays empty until a query
		}
	}

	res, err := u.deps.Search.Search(r.Context(), req)
	code := http.StatusOK
	var invalid *domainerr.ValidationError
	switch {
	case errors.As(err, &invalid):
		code, v.Error = http.StatusBadRequest, invalid.Error()
	case err != nil:
		u.deps.Logger.ErrorContext(r.Context(), "web: search failed", "error", err)
		code, v.Error = http.StatusServiceUnavailable, "The search could not be answered just now. Try again in a moment."
	default:
		v.fill(r.URL, res, q)
	}
	u.render(w, r, code, "search", v)
}

// fill sets the view's hits, facets, paging and suggestions from res.
func (v *searchView) fill(page *url.URL, res *search.Result, q url.Values) {
	v.Matches = res.Matches
	for _, h := range res.Hits {
		v.Hits = append(v.Hits, newHitView(h))
	}
	for _, f := range res.Facets {
		param, label := f.Field, f.Field
		for _, ff := range filterFields {
			if ff.field == f.Field {
				param, label = ff.param, ff.label
			}
		}
		fv := facetView{Label: label}
		for _, val := range f.Values {
			selected := q.Get(param) == val.Value
			target := val.Value
			if selected {
				target = ""
			}
			fv.Values = append(fv.Values, facetValueView{Value: val.Value, Count: val.Count, Selected: selected,
				URL: withParam(page, param, target)})
		}
		if len(fv.Values) > 0 {
			v.Facets = append(v.Facets, fv)
		}
	}
	if v.Page > 1 {
		v.Prev = withParam(page, "page", strconv.Itoa(v.Page-1))
	}
	if len(res.Hits) == pageSize && v.Page < pagesMax && (res.Matches == 0 || int64(v.Page*pageSize) < res.Matches) {
		v.Next = withParam(page, "page", strconv.Itoa(v.Page+1))
	}
	if res.Matches > 0 {
		v.Pages = int(min((res.Matches+pageSize-1)/pageSize, pagesMax))
	}
	if len(res.Hits) == 0 {
		for _, f := range v.Filters {
			v.Suggestions = append(v.Suggestions, link{Text: "without " + f.Label + " " + f.Value, URL: f.Remove})
		}
		for _, m := range v.Modes {
			if m != v.Mode && v.Query != "" {
				v.Suggestions = append(v.Suggestions, link{Text: m + " search", URL: withParam(page, "mode", m)})
			}
		}
	}
}

// newHitView shows h: its highlighted title and summary (or plain ones), and its known fields.
func newHitView(h search.Hit) hitView {
	var m map[string]any
	_ = json.Unmarshal(h.Metadata, &m)
	id := h.SRN.ID.String()
	hv := hitView{URL: "/records/" + id, Source: clip(h.Source, displayMax), PubDate: str(m["pub_date"]), SampleCount: number(m["sample_count"])}
	hv.Title = segments(h.Highlights["title"], str(m["title"]))
	if hv.Title == nil {
		hv.Title = []segment{{Text: "(untitled record " + id + ")"}}
	}
	hv.Snippet = segments(h.Highlights["summary"], clip(str(m["summary"]), 300))
	hv.Accession, hv.AccessionURL = accession(m)
	return hv
}

// segments splits a highlight (HTML-escaped text with the page's markers) into pieces of plain
// text; without a highlight, plain is the one piece.
func segments(highlight, plain string) []segment {
	if highlight == "" {
		if plain == "" {
			return nil
		}
		return []segment{{Text: plain}}
	}
	var (
		out  []segment
		left = displayMax // characters shown in all, as clip shows a plain text
	)
	add := func(text string, mark bool) {
		if left <= 0 || text == "" {
			return
		}
		text = clip(text, left)
		left -= utf8.RuneCountInString(text)
		out = append(out, segment{Text: text, Mark: mark})
	}
	for i, part := range strings.Split(html.UnescapeString(highlight), markOpen) {
		text, rest, marked := strings.Cut(part, markClose)
		if i > 0 && marked {
			add(text, true)
			add(rest, false)
		} else {
			add(part, false)
		}
	}
	return out
}

// quote writes s as a string of the filter language.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// withParam returns page's URL (path and query) with param set to value, or removed when value
// is "", and back on page 1 unless param is page itself.
func withParam(page *url.URL, param, value string) string {
	q := page.Query()
	if value == "" {
		q.Del(param)
	} else {
		q.Set(param, value)
	}
	if param != "page" {
		q.Del("page")
	}
	if enc := q.Encode(); enc != "" {
		return page.Path + "?" + enc
	}
	return page.Path
}
