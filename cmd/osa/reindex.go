package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/sdk"
)

func newReindexCmd() *cobra.Command {
	var (
		cf          clientFlags
		progressArg string
		wait        bool
		waitTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "reindex BACKEND",
		Short: "Rebuild a search backend from the stored records",
		Long: `reindex starts a rebuild of BACKEND from the stored records and prints it; when a rebuild of the
backend is already running, it prints that one. Searches keep being answered from the current
data until the rebuilt table is swapped in; the rebuild runs at low priority, behind regular
indexing, and survives a restart. It needs a token with the admin scope.

With --wait, reindex follows the rebuild until it ends (a progress bar on a terminal, a line
of counts every second otherwise) and exits 1 when it failed.`,
		Example: `  osa reindex vector
  osa reindex keyword --wait --token "$OSA_ADMIN_TOKEN"
  osa reindex vector --json | jq -r .reindex.id`,
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
			ctx := cmd.Context()
			job, err := client.Reindex(ctx, args[0])
			if err != nil {
				return cf.explain(err)
			}
			w := cmd.OutOrStdout()
			if !cf.json {
				printReindex(w, job)
			}
			if wait && !job.Ended() {
				ctx, cancel := context.WithTimeout(ctx, waitTimeout)
				defer cancel()
				prog := newCountProgress(cmd.ErrOrStderr(), mode, 0)
				var last *sdk.ReindexJob
				job, err = client.WaitReindex(ctx, job.ID, func(j *sdk.ReindexJob) {
					prog.noun, prog.total = fmt.Sprintf("of %d records rebuilt", j.Total), int(j.Total)
					prog.update(int(j.Done), 0, 0)
					last = j
				})
				if last != nil {
					prog.done(int(last.Done), 0, 0)
				}
				if job == nil {
					return cf.explain(err)
				}
				if !cf.json {
					printReindex(w, job)
				}
			}
			if cf.json {
				// GetReindexResponse when followed, else ReindexResponse; the two have one shape.
				var res proto.Message = &osav1.ReindexResponse{Reindex: job.Proto()}
				if wait {
					res = &osav1.GetReindexResponse{Reindex: job.Proto()}
				}
				if perr := printJSON(w, res); perr != nil {
					return perr
				}
			}
			if err == nil && job.State == sdk.ReindexFailed {
				err = &sdk.ReindexFailedError{Job: job}
			}
			return cf.explain(err)
		},
	}
	cf.add(cmd)
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the rebuild until it ends")
	cmd.Flags().StringVar(&progressArg, "progress", "auto", "progress display with --wait: auto (a bar on a terminal, else plain), bar, plain or none")
	cmd.Flags().DurationVar(&waitTimeout, "wait-timeout", 24*time.Hour, "give up waiting (--wait) after this long")
	return cmd
}

// printReindex prints one line about a rebuild.
func printReindex(w io.Writer, j *sdk.ReindexJob) {
	fmt.Fprintf(w, "reindex %d of %s: %s, %d of %d records", j.ID, j.Backend, j.State, j.Done, j.Total)
	if j.FinishedAt != nil {
		fmt.Fprintf(w, " in %s", j.FinishedAt.Sub(j.StartedAt).Round(time.Millisecond))
	}
	if j.Error != "" {
		fmt.Fprintf(w, " (%s)", j.Error)
	}
	fmt.Fprintln(w)
}
