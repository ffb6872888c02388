package search_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/internal/pgtest"
	"github.com/osa-archive/osa/records"
	"github.com/osa-archive/osa/search"
	"github.com/osa-archive/osa/search/where"
)

// facetBundle is a corpus of GEO-like records with every shape a field can take: organism as a
// string, an array (with a repeat) or missing; pub_date in either format, or not a date;
// sample_count a number below 1, a large one, a string or missing.
type facetBundle struct {
	*testBundle
	meta map[uuid.UUID]map[string]any
}

func facetSetup(t *testing.T, cfg search.Config) *facetBundle {
	t.Helper()
	b := &facetBundle{testBundle: newBundle(t), meta: map[uuid.UUID]map[string]any{}}
	words := []string{"liver", "heart", "brain", "kidney"}
	var params []records.PublishParams
	for i := range 150 {
		m := map[string]any{
			"title":   fmt.Sprintf("Expression of the %s in group %d", words[i%4], i),
			"summary": fmt.Sprintf("RNA sequencing of %s tissue, series %d.", words[(i/4)%4], i%7),
		}
		switch i % 5 {
		case 0, 1:
			m["organism"] = organisms[i%3]
		case 2:
			m["organism"] = []any{organisms[i%3], organisms[(i+1)%3], organisms[i%3]}
		case 3:
			m["organism"] = 42 // not a keyword: missing for the facet
		}
		switch i % 4 {
		case 0:
			m["pub_date"] = fmt.Sprintf("%d/03/%02d", 2015+i%9, 1+i%28)
		case 1:
			m["pub_date"] = fmt.Sprintf("%d-11-%02d", 2015+i%7, 1+i%28)
		case 2:
			m["pub_date"] = "soon"
		}
		switch i % 6 {
		case 0:
			m["sample_count"] = 0.5
		case 1, 2:
			m["sample_count"] = float64(i * 37 % 2000)
		case 3:
			m["sample_count"] = "ten"
		case 4:
			m["sample_count"] = 10
		}
		raw, _ := json.Marshal(m)
		src := "geo"
		if i%3 == 0 {
			src = "lab"
		}
		params = append(params, records.PublishParams{Metadata: raw, Source: src, SourceID: fmt.Sprintf("s%d", i)})
	}
	for i, id := range b.publish(t, params) {
		var m map[string]any
		_ = json.Unmarshal(params[i].Metadata, &m) // as stored: numbers are float64
		m["source"] = params[i].Source
		b.meta[id] = m
	}
	cfg.Fields = where.GEOFields()
	b.svc = search.New(b.pool, []backends.Searcher{b.vec, b.kw}, cfg)
	return b
}

// wantFacet counts field over the records ids in Go, from the metadata as published: the
// independent reckoning the service's counts must equal.
func (b *facetBundle) wantFacet(field string, ids []uuid.UUID) map[string]int64 {
	out := map[string]int64{}
	for _, id := range ids {
		m := b.meta[id]
		var vals []string
		switch v := m[field].(type) {
		case string:
			if field != "sample_count" {
				vals = []string{v}
			}
		case []any:
			for _, x := range v {
				if s, ok := x.(string); ok && !slices.Contains(vals, s) {
					vals = append(vals, s)
				}
			}
		case float64:
			switch {
			case field != "sample_count":
			case v < 1:
				vals = []string{"< 1"}
			default:
				e := math.Floor(math.Log10(v))
				vals = []string{fmt.Sprintf("[%g, %g)", math.Pow10(int(e)), math.Pow10(int(e)+1))}
			}
		}
		if field == "pub_date" {
			if len(vals) == 1 && len(vals[0]) >= 10 && (vals[0][4] == '-' || vals[0][4] == '/') {
				vals = []string{vals[0][:4]}
			} else {
				vals = nil
			}
		}
		if len(vals) == 0 {
			out[""]++ // missing
		}
		for _, v := range vals {
			out[v]++
		}
	}
	return out
}

// gotFacet is a facet as the same map: every value listed (the limit is high enough), "" for
// the missing.
func gotFacet(t *testing.T, f search.Facet) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	if f.Missing > 0 {
		out[""] = f.Missing
	}
	for _, v := range f.Values {
		out[v.Value] = v.Count
	}
	if f.OtherValues != 0 {
		t.Fatalf("facet %s left %d values out", f.Field, f.OtherValues)
	}
	return out
}

// Facet counts are exact, in every mode: they equal counts made in Go from the published
// metadata over the same match set, which the same request without facets returns (a browse:
// every record meeting the where; a query: its best facet_depth hits, asked for as its page;
// hybrid: its candidates, the page's end deep from each side, all on the page).
func TestFacetsAreExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := facetSetup(t, search.Config{FacetDepth: 60, HybridDepth: 40, MaxLimit: 200})
	facets := []string{"organism", "pub_date", "sample_count", "source"}
	for _, c := range []struct {
		name  string
		req   search.Request
		limit int // of the request with facets
	}{
		{"browse everything", search.Request{}, 5},
		{"browse a where", search.Request{Where: `sample_count >= 1 OR organism = "Mus musculus"`}, 5},
		{"keyword", search.Request{Query: "liver heart", Mode: search.ModeKeyword}, 60},
		{"keyword and where", search.Request{Query: "liver", Mode: search.ModeKeyword, Where: `pub_date >= 2018-01-01`}, 60},
		{"vector", search.Request{Query: "brain tissue", Mode: search.ModeVector}, 60},
		{"hybrid", search.Request{Query: "kidney expression", Mode: search.ModeHybrid}, 200},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The match set: the same request without facets, every hit on one page.
			all := c.req
			all.Limit = max(c.limit, 60)
			if c.req.Query == "" {
				all.Limit = 200
				all.Sort = []string{"pub_date"} // a browse needs a reason to have no query
			}
			match := b.search(t, all)
			ids := make([]uuid.UUID, len(match.Hits))
			for i, h := range match.Hits {
				ids[i] = h.SRN.ID
			}
			if c.req.Query != "" && len(ids) == 0 {
				t.Fatal("the query matches nothing: the test proves nothing")
			}

			req := c.req
			req.Facets, req.FacetLimit, req.Limit = facets, 100, c.limit
			res, err := b.svc.Search(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Matches != int64(len(ids)) || len(res.Facets) != len(facets) {
				t.Fatalf("%d matches and %d facets; want %d and %d", res.Matches, len(res.Facets), len(ids), len(facets))
			}
			for i, f := range res.Facets {
				if f.Field != facets[i] {
					t.Fatalf("facet %d is %s, want %s", i, f.Field, facets[i])
				}
				want, got := b.wantFacet(f.Field, ids), gotFacet(t, f)
				if fmt.Sprint(want) != fmt.Sprint(got) {
					t.Fatalf("facet %s: got %v, want %v", f.Field, got, want)
				}
			}
			if n := res.Facets[2]; len(ids) > 0 && (n.Min == nil || n.Max == nil || *n.Min > *n.Max) {
				t.Fatalf("sample_count min %v max %v", n.Min, n.Max)
			}
		})
	}
}

// facet_limit keeps the most frequent values, ties by value, and counts the rest.
func TestFacetLimit(t *testing.T) {
	t.Parallel()
	b := facetSetup(t, search.Config{})
	res := b.search(t, search.Request{Facets: []string{"organism"}, FacetLimit: 2})
	f := res.Facets[0]
	if len(f.Values) != 2 || f.OtherValues != 1 || f.Values[0].Count < f.Values[1].Count || f.Values[1].Count < f.OtherCount {
		t.Fatalf("facet %+v: want the 2 most frequent of 3 values, then 1 value left out", f)
	}
	if res.Matches != 150 {
		t.Fatalf("a browse without a where matched %d of 150 records", res.Matches)
	}
}

// Facets, sorts and page tokens that cannot be served are validation errors naming the field,
// with what to send.
func TestFacetAndSortErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	vec, kw := newBackends(t)
	fields := append(where.GEOFields(), where.Field{Name: "tissue", Type: where.TypeKeyword})
	svc := search.New(pool, []backends.Searcher{vec, kw}, search.Config{Fields: fields})
	token := func(sort string) string {
		data, _ := json.Marshal(map[string]any{"s": sort, "v": []any{nil}, "id": uuid.New()})
		return base64.RawURLEncoding.EncodeToString(data)
	}
	dateToken, otherSort := token("pub_date:asc"), token("organism:asc")
	for _, c := range []struct {
		name, field, says string
		req               search.Request
	}{
		{"undeclared facet", "facets[1]", "the fields with facets are", search.Request{Facets: []string{"organism", "species"}}},
		{"facet not allowed", "facets[0]", "without facet: true", search.Request{Facets: []string{"tissue"}}},
		{"facet twice", "facets[1]", "twice", search.Request{Facets: []string{"organism", "organism"}}},
		{"facet limit", "facet_limit", "between 1 and 100", search.Request{Facets: []string{"organism"}, FacetLimit: 101}},
		{"facet limit alone", "facet_limit", "no facets", search.Request{Query: "x", FacetLimit: 5}},
		{"undeclared sort", "sort[0]", "field:desc", search.Request{Sort: []string{"title"}}},
		{"bad direction", "sort[0]", "asc or desc", search.Request{Sort: []string{"pub_date:newest"}}},
		{"sort twice", "sort[1]", "twice", search.Request{Sort: []string{"pub_date", "pub_date:desc"}}},
		{"garbage token", "page_token", "not a token", search.Request{Sort: []string{"pub_date"}, PageToken: "%%%"}},
		{"another sort's token", "page_token", "made for the sort", search.Request{Sort: []string{"pub_date"}, PageToken: otherSort}},
		{"token with offset", "offset", "one or the other", search.Request{Sort: []string{"pub_date"}, PageToken: dateToken, Offset: 3}},
		{"token on a query", "page_token", "page a query with offset", search.Request{Query: "x", Sort: []string{"pub_date"}, PageToken: dateToken}},
		{"browse with a query", "mode", "browse takes no query", search.Request{Query: "x", Mode: search.ModeBrowse}},
		{"nothing at all", "query", "where, filter, sort or facets", search.Request{}},
	} {
		_, err := svc.Search(ctx, c.req)
		var invalid *domainerr.ValidationError
		if !errors.As(err, &invalid) || invalid.Field != c.field || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: %v; want a validation error on %s saying %q", c.name, err, c.field, c.says)
		}
	}
}
