package main

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/osa-archive/osa/sdk"
)

// searchTitleMax is how many characters of a hit's title (or metadata) a table shows.
const searchTitleMax = 80

func newSearchCmd() *cobra.Command {
	var (
		cf       clientFlags
		opts     sdk.SearchOpts
		mode     string
		filters  []string
		minScore float64
	)
	cmd := &cobra.Command{
		Use:   "search [QUERY...]",
		Short: "Search the records (hybrid, vector or keyword), or browse them",
		Long: `search prints the records that best match QUERY (the arguments joined by spaces), best first.
Without a QUERY, with --where, --filter, --sort or --facet, it browses: the records meeting the
filters in --sort order (then by SRN), a page at a time; the next page's --page-token is printed.

--mode is hybrid (vector and keyword results fused by rank; the default when both kinds of
backend exist), vector (semantic similarity) or keyword (full text: "quoted phrases", OR and
-word work). --filter KEY=VALUE keeps records whose metadata has KEY equal to VALUE; repeat it
to require several. VALUE is read as JSON when it is valid JSON (2020, true, null, "2020",
["a"]), else as a string, so --filter year=2020 matches the number and --filter 'year="2020"'
the string. A dotted KEY reaches into nested objects: --filter sample.tissue=heart.

--where EXPR keeps the records matching a filter expression over the server's declared fields
(search.fields), e.g. 'organism = "Mus musculus" AND sample_count >= 10 AND pub_date >=
2022-01-01': comparisons = != > >= < <=, IN [..], EXISTS, NOT, AND, OR and parentheses.

--facet FIELD (repeatable) counts the values of a declared field with facets over the matches
(every record of a browse, a query's best 1000 hits) and prints them as a table after the hits.
--sort FIELD[:asc|:desc] (repeatable) orders by declared fields. --highlight prints each hit's
title with the query's words between [ and ].`,
		Example: `  osa search zebrafish heart regeneration
  osa search "heart regeneration" --mode keyword --limit 5
  osa search liver --filter organism="Homo sapiens" --filter year=2021
  osa search heart --where 'organism = "Mus musculus" AND pub_date >= 2022-01-01'
  osa search heart --facet organism --facet pub_date --sort pub_date:desc
  osa search --where 'sample_count >= 10' --sort pub_date:desc --limit 50
  osa search atlas --json | jq -r '.hits[].srn'`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("limit") && opts.Limit < 1 {
				// The API's rule: a limit is 1..search.max_limit; leaving it out gives 20.
				return fmt.Errorf("--limit must be at least 1 (leave it out for 20), got %d", opts.Limit)
			}
			switch m := sdk.SearchMode(mode); m {
			case sdk.SearchVector, sdk.SearchKeyword, sdk.SearchHybrid, sdk.SearchBrowse, sdk.SearchDefault:
				opts.Mode = m
			default:
				return fmt.Errorf("--mode: want hybrid, vector, keyword or browse, got %q", mode)
			}
			if len(args) == 0 && opts.Where == "" && len(filters) == 0 && len(opts.Sort) == 0 && len(opts.Facets) == 0 {
				return fmt.Errorf("give a QUERY, or browse with --where, --filter, --sort or --facet")
			}
			if opts.Highlight {
				opts.HighlightPreTag, opts.HighlightPostTag = "[", "]"
			}
			filter, err := parseFilters(filters)
			if err != nil {
				return err
			}
			opts.Filter, opts.MinScore = filter, minScore
			client, err := cf.client()
			if err != nil {
				return err
			}
			res, err := client.Search(cmd.Context(), strings.Join(args, " "), &opts)
			if err != nil {
				return cf.explain(err)
			}
			w := cmd.OutOrStdout()
			if cf.json {
				return printJSON(w, res.Proto())
			}
			return printSearch(w, res, opts)
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&mode, "mode", "", "hybrid, vector, keyword or browse (default: the server's choice, hybrid when it can; browse without a query)")
	cmd.Flags().IntVar(&opts.Limit, "limit", 0, "most hits to show, 1..100 (search.max_limit); left out, 20")
	cmd.Flags().IntVar(&opts.Offset, "offset", 0, "skip this many best hits, to page")
	cmd.Flags().StringVar(&opts.Backend, "backend", "", "backend to query (default: the first of the mode's kind)")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "KEY=VALUE the metadata must contain (repeatable)")
	cmd.Flags().StringVar(&opts.Where, "where", "", `filter expression, e.g. 'sample_count >= 10 AND organism = "Mus musculus"'`)
	cmd.Flags().Float64Var(&minScore, "min-score", 0, "drop hits scoring below this (on the mode's scale)")
	cmd.Flags().StringArrayVar(&opts.Facets, "facet", nil, "FIELD whose values to count over the matches (repeatable)")
	cmd.Flags().IntVar(&opts.FacetLimit, "facet-limit", 0, "values listed per facet, 1..100; left out, 10")
	cmd.Flags().StringArrayVar(&opts.Sort, "sort", nil, "FIELD, FIELD:asc or FIELD:desc to order by (repeatable)")
	cmd.Flags().StringVar(&opts.PageToken, "page-token", "", "continue a browse at the page this token (printed by the last page) names")
	cmd.Flags().BoolVar(&opts.Highlight, "highlight", false, "show titles with the query's words between [ and ]")
	return cmd
}

// printSearch prints a search's hits as a table (with --highlight, the highlighted titles), then
// its facets, then where the next page of a browse starts.
func printSearch(w io.Writer, res *sdk.SearchResult, opts sdk.SearchOpts) error {
	where := fmt.Sprintf("mode %s, backends %s", res.Mode, strings.Join(res.Backends, ", "))
	if res.Mode == sdk.SearchBrowse {
		where = "mode browse"
	}
	if len(res.Hits) == 0 {
		fmt.Fprintf(w, "no hits (%s)\n", where)
	} else {
		tw := newTable(w)
		fmt.Fprintln(tw, "#\tSCORE\tSRN\tTITLE")
		for i, h := range res.Hits {
			title := hitTitle(h.Metadata)
			if t, ok := h.Highlights["title"]; ok {
				title = html.UnescapeString(t)
			}
			score := fmt.Sprintf("%.4f", h.Score)
			if res.Mode == sdk.SearchBrowse {
				score = "-"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", opts.Offset+i+1, score, h.SRN, title)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "%d hits (%s)\n", len(res.Hits), where)
	}
	if len(res.Facets) > 0 {
		fmt.Fprintf(w, "\nfacets over %d matches:\n", res.FacetMatches)
		tw := newTable(w)
		fmt.Fprintln(tw, "FIELD\tVALUE\tCOUNT")
		for _, f := range res.Facets {
			for _, v := range f.Values {
				fmt.Fprintf(tw, "%s\t%s\t%d\n", f.Field, v.Value, v.Count)
			}
			if f.OtherValues > 0 {
				fmt.Fprintf(tw, "%s\t(%d other values)\t%d\n", f.Field, f.OtherValues, f.OtherCount)
			}
			if f.Missing > 0 {
				fmt.Fprintf(tw, "%s\t(none)\t%d\n", f.Field, f.Missing)
			}
			if f.Min != nil && f.Max != nil {
				fmt.Fprintf(tw, "%s\t(min %g, max %g)\t\n", f.Field, *f.Min, *f.Max)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if res.NextPageToken != "" {
		fmt.Fprintf(w, "next page: --page-token %s\n", res.NextPageToken)
	}
	return nil
}

// parseFilters turns KEY=VALUE flags into one JSON object; dotted keys nest.
func parseFilters(flags []string) (map[string]any, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	out := map[string]any{}
	for _, f := range flags {
		k, raw, ok := strings.Cut(f, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--filter %q: want KEY=VALUE", f)
		}
		var v any
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			v = raw
		}
		obj := out
		path := strings.Split(k, ".")
		for _, p := range path[:len(path)-1] {
			next, ok := obj[p].(map[string]any)
			if !ok {
				if _, taken := obj[p]; taken {
					return nil, fmt.Errorf("--filter %q: %s is already set to a value", f, p)
				}
				next = map[string]any{}
				obj[p] = next
			}
			obj = next
		}
		obj[path[len(path)-1]] = v
	}
	return out, nil
}

// hitTitle returns the metadata's title, else its JSON, shortened for a table.
func hitTitle(m map[string]any) string {
	s, ok := m["title"].(string)
	if !ok {
		b, _ := json.Marshal(m)
		s = string(b)
	}
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > searchTitleMax {
		s = string(r[:searchTitleMax-1]) + "…"
	}
	return s
}
