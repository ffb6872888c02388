package search

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/search/where"
)

// Bounds of facet requests.
const (
	// FacetLimitDefault is how many values a facet lists when Request.FacetLimit is 0.
	FacetLimitDefault = 10
	// FacetLimitMax bounds Request.FacetLimit.
	FacetLimitMax = 100
	// FacetDepthDefault is how many of a query's best matches facets count by default
	// (search.facet_depth); a browse counts every record it matches.
	FacetDepthDefault = 1000
	// FacetDepthMax bounds search.facet_depth.
	FacetDepthMax = 10000
)

// Facet is the counts of one field's values over the matches of a search.
type Facet struct {
	// Field is the field's name; Type its type.
	Field string
	Type  where.Type
	// Values are the field's values with the number of matches that have each: a keyword's or
	// a boolean's values, a date's years, most matches first (ties by value), at most the
	// request's facet limit of them; a number's buckets, in order (see [NumberBuckets]), all of
	// them. A record with several values of a keyword (an array) counts once under each.
	Values []FacetValue
	// OtherValues is how many values were left out beyond the limit, and OtherCount how many
	// matches those values count.
	OtherValues int
	OtherCount  int64
	// Missing is how many matches have no value of the field's type.
	Missing int64
	// Min and Max are a number field's least and greatest values among the matches; nil for
	// the other types, or when no match has a number.
	Min, Max *float64
}

// FacetValue is one value of a facet and how many matches have it.
type FacetValue struct {
	Value string
	Count int64
	// From and To bound a number bucket: From ≤ n < To; nil for an open end and for the other
	// types.
	From, To *float64
}

// NumberBuckets describes the buckets of number facets: values below 1 are one bucket, "< 1";
// the others are counted by decade, [1, 10), [10, 100), … (a power of ten's first digit is 1).
const NumberBuckets = "< 1, then decades: [1, 10), [10, 100), …"

// facetPlan is a validated facet request: the fields, in the request's order, and the limit.
type facetPlan struct {
	fields []where.Field
	limit  int
}

// planFacets validates the facets of req against the declared fields.
func (s *Service) planFacets(req *Request) (*facetPlan, error) {
	if len(req.Facets) == 0 {
		if req.FacetLimit != 0 {
			return nil, domainerr.Invalid("facet_limit", "is set, but no facets are asked for: list fields in facets")
		}
		return nil, nil
	}
	p := &facetPlan{limit: req.FacetLimit}
	switch {
	case p.limit == 0:
		p.limit = FacetLimitDefault
	case p.limit < 1 || p.limit > FacetLimitMax:
		return nil, domainerr.Invalid("facet_limit", "must be between 1 and %d (leave it unset for %d), got %d",
			FacetLimitMax, FacetLimitDefault, p.limit)
	}
	var facetable []string
	for _, f := range s.fields.List() {
		if f.Facet {
			facetable = append(facetable, f.Name)
		}
	}
	for i, name := range req.Facets {
		key := fmt.Sprintf("facets[%d]", i)
		f, ok := s.fields.Lookup(name)
		switch {
		case !ok:
			return nil, domainerr.Invalid(key, "%q is not a declared search field; the fields with facets are %s",
				name, strings.Join(facetable, ", "))
		case !f.Facet:
			return nil, domainerr.Invalid(key, "%s is declared without facet: true (search.fields); the fields with facets are %s",
				name, strings.Join(facetable, ", "))
		case slices.Index(req.Facets, name) != i:
			return nil, domainerr.Invalid(key, "%s is asked for twice", name)
		}
		p.fields = append(p.fields, f)
	}
	return p, nil
}

// matchSet is the records facets count: the records of ids (a query's matches), or, when ids is
// nil, every live record meeting filter and cond (a browse).
type matchSet struct {
	ids    []uuid.UUID
	filter json.RawMessage
	cond   backends.Condition
}

// where returns the condition on records r of the match set and its parameters, numbered from
// $1.
func (m matchSet) where() (string, []any) {
	if m.ids != nil {
		return "r.id = ANY($1::uuid[])", []any{m.ids}
	}
	conds, args := []string{"true"}, []any{}
	if m.filter != nil {
		args = append(args, []byte(m.filter))
		conds = append(conds, "r.metadata @> $1::jsonb")
	}
	if m.cond != nil {
		sql, cargs := m.cond.SQL("r", len(args)+1)
		conds, args = append(conds, sql), append(args, cargs...)
	}
	return strings.Join(conds, " AND "), args
}

// facets counts the values of p's fields over the match set, in one statement, and returns the
// facets and the number of matches.
func (s *Service) facets(ctx context.Context, p *facetPlan, m matchSet) ([]Facet, int64, error) {
	cond, args := m.where()
	parts := []string{`SELECT -1, NULL::text, count(*), NULL::numeric, NULL::numeric FROM m`}
	for i, f := range p.fields {
		parts = append(parts, strings.NewReplacer("{i}", strconv.Itoa(i), "{value}", facetValueSQL(f)).Replace(facetPartSQL(f)))
	}
	sql := `WITH m AS MATERIALIZED (
    SELECT r.id, r.source, r.metadata FROM records r WHERE r.deleted_at IS NULL AND ` + cond + `
)
` + strings.Join(parts, "\nUNION ALL\n")
	rows, err := s.readPool(ctx).Query(ctx, sql, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("error counting facets: %w", err)
	}
	out := make([]Facet, len(p.fields))
	for i, f := range p.fields {
		out[i] = Facet{Field: f.Name, Type: f.Type, Values: []FacetValue{}}
	}
	var (
		total  int64
		idx    int
		value  *string
		count  int64
		lo, hi *float64
	)
	_, err = pgx.ForEachRow(rows, []any{&idx, &value, &count, &lo, &hi}, func() error {
		switch {
		case idx < 0:
			total = count
		case value == nil:
			out[idx].Missing += count
		default:
			fv := FacetValue{Value: *value, Count: count}
			if out[idx].Type == where.TypeNumber {
				fv = numberBucket(*value, count)
				out[idx].Min = minPtr(out[idx].Min, lo)
				out[idx].Max = maxPtr(out[idx].Max, hi)
			}
			out[idx].Values = append(out[idx].Values, fv)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("error counting facets: %w", err)
	}
	for i := range out {
		out[i].limit(p.limit)
	}
	return out, total, nil
}

// limit orders the facet's values and keeps the first n (a number's buckets are all kept, in
// order), counting the rest.
func (f *Facet) limit(n int) {
	if f.Type == where.TypeNumber {
		slices.SortFunc(f.Values, func(a, b FacetValue) int {
			if a.From == nil || b.From == nil {
				return cmp.Compare(boolInt(a.From != nil), boolInt(b.From != nil))
			}
			return cmp.Compare(*a.From, *b.From)
		})
		return
	}
	slices.SortFunc(f.Values, func(a, b FacetValue) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), strings.Compare(a.Value, b.Value))
	})
	if len(f.Values) > n {
		for _, v := range f.Values[n:] {
			f.OtherCount += v.Count
		}
		f.OtherValues = len(f.Values) - n
		f.Values = f.Values[:n]
	}
}

// facetPartSQL returns the part of the facet statement that counts field number {i} over the
// match set m: one row per value (NULL for the matches without one), with, for a number, the
// least and greatest value of its bucket.
func facetPartSQL(f where.Field) string {
	if f.Type == where.TypeNumber {
		return `SELECT {i}, b.v, count(*), min(x.n), max(x.n)
FROM m CROSS JOIN LATERAL (SELECT {value} AS n) x
CROSS JOIN LATERAL (SELECT CASE WHEN x.n IS NULL THEN NULL WHEN x.n < 1 THEN '<1' ELSE floor(log(x.n))::text END AS v) b
GROUP BY b.v`
	}
	return `SELECT {i}, x.v, count(DISTINCT m.id), NULL::numeric, NULL::numeric
FROM m LEFT JOIN LATERAL ({value}) x (v) ON true
GROUP BY x.v`
}

// facetValueSQL returns the expression (for a number) or the row source of text values (for the
// others) of field f on the match set m: a keyword's string, or each string of its array; a
// boolean as 'true' or 'false'; a date's year.
func facetValueSQL(f where.Field) string {
	v := where.ValueSQL(f, "m")
	switch {
	case f.Type == where.TypeNumber:
		return v
	case f.Column != "":
		return "SELECT " + v
	case f.Type == where.TypeKeyword:
		p := where.PathSQL(f, "m")
		return "SELECT e #>> '{}' FROM jsonb_array_elements(CASE jsonb_typeof(" + p + ") WHEN 'array' THEN " + p +
			" WHEN 'string' THEN jsonb_build_array(" + p + ") ELSE '[]'::jsonb END) AS e WHERE jsonb_typeof(e) = 'string'"
	case f.Type == where.TypeDate:
		return "SELECT left(" + v + ", 4) WHERE " + v + " IS NOT NULL"
	default:
		return "SELECT (" + v + ")::text WHERE " + v + " IS NOT NULL"
	}
}

// numberBucket returns the bucket of a number facet whose statement key is v: "<1", or the
// decade's exponent.
func numberBucket(v string, count int64) FacetValue {
	if v == "<1" {
		one := 1.0
		return FacetValue{Value: "< 1", Count: count, To: &one}
	}
	e, _ := strconv.Atoi(v)
	from, to := math.Pow10(e), math.Pow10(e+1)
	return FacetValue{Value: fmt.Sprintf("[%g, %g)", from, to), Count: count, From: &from, To: &to}
}

func minPtr(a, b *float64) *float64 {
	if a == nil || (b != nil && *b < *a) {
		return b
	}
	return a
}

func maxPtr(a, b *float64) *float64 {
	if a == nil || (b != nil && *b > *a) {
		return b
	}
	return a
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
