package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/sdk"
)

func newHarvestCmd() *cobra.Command {
	var (
		cf          clientFlags
		opts        sdk.HarvestOpts
		progressArg string
		wait        bool
	)
	cmd := &cobra.Command{
		Use:   "harvest SOURCE",
		Short: "Start a harvest of a source on a running server, and follow it with --wait",
		Long: `harvest asks the server to harvest SOURCE (see the sources: list of its configuration): the
server fetches the source's records in chunks and publishes them as upserts, so records that did
not change get no new version. It needs a token with the sources:run scope.

harvest prints the harvest's id and returns, or, with --wait, follows the harvest until it ends:
on standard error a progress bar (fetched / total, records/s) on a terminal, a line of counts
every second otherwise. The exit status is 1 when the harvest failed. With --json, standard output
gets the harvest as the API answers it ({"harvest": {...}}, StartHarvestResponse, or with --wait
GetHarvestResponse as it ended).

A source is harvested by one harvest at a time; asking for a second one while the first runs
fails with already_exists and names the running one.`,
		Example: `  osa harvest geo --limit 1000 --wait
  osa harvest geo --since 2024-01-01 --server https://osa.example.org --token "$OSA_TOKEN"
  osa harvest geo --wait --json | jq -r '.harvest.published // 0'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mode, err := progressMode(progressArg, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			client, err := cf.client()
			if err != nil {
				return err
			}
			h, err := client.StartHarvest(cmd.Context(), args[0], &opts)
			if err != nil {
				return cf.explain(err)
			}
			w := cmd.OutOrStdout()
			if !cf.json {
				fmt.Fprintf(w, "harvest %d of %s started (%s)\n", h.ID, h.Source, describeParams(h))
			}
			if wait {
				h, err = followHarvest(cmd.Context(), client, h, newCountProgress(cmd.ErrOrStderr(), mode, 0))
				if h == nil {
					return cf.explain(err)
				}
			}
			switch {
			case cf.json:
				// GetHarvestResponse as it ended, or StartHarvestResponse; the two have one shape.
				var res proto.Message = &osav1.StartHarvestResponse{Harvest: h.Proto()}
				if wait {
					res = &osav1.GetHarvestResponse{Harvest: h.Proto()}
				}
				if perr := printJSON(w, res); perr != nil {
					return perr
				}
			case wait:
				printHarvestEnd(w, h)
			default:
				fmt.Fprintln(w, "the server harvests in the background; add --wait to follow it")
			}
			return cf.explain(err) // a *sdk.HarvestFailedError when it failed
		},
	}
	cf.add(cmd)
	cmd.Flags().Int64Var(&opts.Limit, "limit", 0, "most records to fetch; 0 means all")
	cmd.Flags().StringVar(&opts.Since, "since", "", "only records published on or after this day, YYYY-MM-DD")
	cmd.Flags().IntVar(&opts.ChunkSize, "chunk-size", 0, "records per chunk; 0 means the source's page_size")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the harvest until it ends; exit 1 if it failed")
	cmd.Flags().StringVar(&progressArg, "progress", "auto", "progress display with --wait: auto (a bar on a terminal, else plain), bar, plain or none")
	return cmd
}

// followHarvest polls h until it ends, showing its progress on prog, and returns it as it ended
// with a *sdk.HarvestFailedError when it failed. It returns a nil harvest when it stopped
// following first: ctx ended (the harvest goes on on the server) or polling failed.
func followHarvest(ctx context.Context, client *sdk.Client, h *sdk.Harvest, prog *countProgress) (*sdk.Harvest, error) {
	last := h
	end, err := client.WaitHarvest(ctx, h.ID, func(p *sdk.Harvest) {
		prog.noun, prog.total = "fetched", int(p.Total)
		if p.Total > 0 {
			prog.noun = fmt.Sprintf("of %d fetched", p.Total)
		}
		prog.update(int(p.Fetched), 0, 0)
		last = p
	})
	prog.done(int(last.Fetched), 0, 0)
	switch {
	case err == nil || errors.Is(err, sdk.ErrHarvestFailed):
		return end, err
	case ctx.Err() != nil:
		return nil, fmt.Errorf("stopped following harvest %d (%w); it goes on on the server", h.ID, ctx.Err())
	}
	return nil, fmt.Errorf("following harvest %d: %w", h.ID, err)
}

// describeParams renders a harvest's parameters: "limit 1000, since 2024-01-01, chunks of 100".
func describeParams(h *sdk.Harvest) string {
	limit := "no limit"
	if h.Limit > 0 {
		limit = fmt.Sprintf("limit %d", h.Limit)
	}
	since := "all dates"
	if h.Since != "" {
		since = "since " + h.Since
	}
	return fmt.Sprintf("%s, %s, chunks of %d", limit, since, h.ChunkSize)
}

// printHarvestEnd prints the counts of a harvest that ended.
func printHarvestEnd(w io.Writer, h *sdk.Harvest) {
	took := "-"
	if h.FinishedAt != nil {
		took = h.FinishedAt.Sub(h.StartedAt).Round(time.Millisecond).String()
	}
	fmt.Fprintf(w, "harvest %d %s: %d fetched, %d published, %d unchanged, %d skipped in %s\n",
		h.ID, h.State, h.Fetched, h.Published, h.Unchanged, h.Skipped, took)
	if h.Unfetched > 0 {
		fmt.Fprintf(w, "  %d could not be fetched from the source (ids %s)\n", h.Unfetched, strings.Join(h.UnfetchedIDs, ", "))
	}
	if h.Warnings > 0 {
		fmt.Fprintf(w, "  %d values left out of records: the source sent them in an unreadable shape\n", h.Warnings)
	}
}
