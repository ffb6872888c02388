package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/osa-archive/osa/sdk"
)

func newSimilarCmd() *cobra.Command {
	var (
		cf   clientFlags
		opts sdk.SimilarOpts
	)
	cmd := &cobra.Command{
		Use:   "similar SRN",
		Short: "Print the records most like one record (by its stored vector)",
		Long: `similar prints the records nearest to the record SRN in the vector backend, nearest first, by the
vector stored for it: no embedding call, and never the record itself. --where keeps the records
matching a filter expression, as in osa search.`,
		Example: `  osa similar urn:osa:localhost:rec:0190b2a4-7c1e-7cc0-9d2a-6d3c1f0a9e11
  osa similar "$SRN" --where 'organism = "Mus musculus"' --limit 5`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("limit") && opts.Limit < 1 {
				return fmt.Errorf("--limit must be at least 1 (leave it out for 20), got %d", opts.Limit)
			}
			client, err := cf.client()
			if err != nil {
				return err
			}
			res, err := client.Similar(cmd.Context(), args[0], &opts)
			if err != nil {
				return cf.explain(err)
			}
			w := cmd.OutOrStdout()
			if cf.json {
				return printJSON(w, res.Proto())
			}
			if len(res.Hits) == 0 {
				fmt.Fprintf(w, "no similar records (backend %s)\n", res.Backend)
				return nil
			}
			tw := newTable(w)
			fmt.Fprintln(tw, "#\tSIMILARITY\tSRN\tTITLE")
			for i, h := range res.Hits {
				fmt.Fprintf(tw, "%d\t%.4f\t%s\t%s\n", i+1, h.Score, h.SRN, hitTitle(h.Metadata))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(w, "%d similar records (backend %s)\n", len(res.Hits), res.Backend)
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().IntVar(&opts.Limit, "limit", 0, "most records to show, 1..100 (search.max_limit); left out, 20")
	cmd.Flags().StringVar(&opts.Where, "where", "", `filter expression, e.g. 'organism = "Mus musculus"'`)
	cmd.Flags().StringVar(&opts.Backend, "backend", "", "vector backend to use (default: the first)")
	return cmd
}
