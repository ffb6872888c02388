package main

import (
	"encoding/json"
	"fmt"
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
		Use:   "search QUERY...",
		Short: "Search the records (hybrid, vector or keyword)",
		Long: `search prints the records that best match QUERY (the arguments joined by spaces), best first.

--mode is hybrid (vector and keyword results fused by rank; the default when both kinds of
backend exist), vector (semantic similarity) or keyword (full text: "quoted phrases", OR and
-word work). --filter KEY=VALUE keeps records whose metadata has KEY equal to VALUE; repeat it
to require several. VALUE is read as JSON when it is valid JSON (2020, true, null, "2020",
["a"]), else as a string, so --filter year=2020 matches the number and --filter 'year="2020"'
the string. A dotted KEY reaches into nested objects: --filter sample.tissue=heart.

--where EXPR keeps the records matching a filter expression over the server's declared fields
(search.fields), e.g. 'organism = "Mus musculus" AND sample_count >= 10 AND pub_date >=
2022-01-01': comparisons = != > >= < <=, IN [..], EXISTS, NOT, AND, OR and parentheses.`,
		Example: `  osa search zebrafish heart regeneration
  osa search "heart regeneration" --mode keyword --limit 5
  osa search liver --filter organism="Homo sapiens" --filter year=2021
  osa search heart --where 'organism = "Mus musculus" AND pub_date >= 2022-01-01'
  osa search atlas --json | jq -r '.hits[].srn'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("limit") && opts.Limit < 1 {
				// The API's rule: a limit is 1..search.max_limit; leaving it out gives 20.
				return fmt.Errorf("--limit must be at least 1 (leave it out for 20), got %d", opts.Limit)
			}
			switch m := sdk.SearchMode(mode); m {
			case sdk.SearchVector, sdk.SearchKeyword, sdk.SearchHybrid, sdk.SearchDefault:
				opts.Mode = m
			default:
				return fmt.Errorf("--mode: want hybrid, vector or keyword, got %q", mode)
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
			if len(res.Hits) == 0 {
				fmt.Fprintf(w, "no hits (mode %s, backends %s)\n", res.Mode, strings.Join(res.Backends, ", "))
				return nil
			}
			tw := newTable(w)
			fmt.Fprintln(tw, "#\tSCORE\tSRN\tTITLE")
			for i, h := range res.Hits {
				fmt.Fprintf(tw, "%d\t%.4f\t%s\t%s\n", opts.Offset+i+1, h.Score, h.SRN, hitTitle(h.Metadata))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(w, "%d hits (mode %s, backends %s)\n", len(res.Hits), res.Mode, strings.Join(res.Backends, ", "))
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&mode, "mode", "", "hybrid, vector or keyword (default: the server's choice, hybrid when it can)")
	cmd.Flags().IntVar(&opts.Limit, "limit", 0, "most hits to show, 1..100 (search.max_limit); left out, 20")
	cmd.Flags().IntVar(&opts.Offset, "offset", 0, "skip this many best hits, to page")
	cmd.Flags().StringVar(&opts.Backend, "backend", "", "backend to query (default: the first of the mode's kind)")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "KEY=VALUE the metadata must contain (repeatable)")
	cmd.Flags().StringVar(&opts.Where, "where", "", `filter expression, e.g. 'sample_count >= 10 AND organism = "Mus musculus"'`)
	cmd.Flags().Float64Var(&minScore, "min-score", 0, "drop hits scoring below this (on the mode's scale)")
	return cmd
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
