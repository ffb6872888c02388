package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/sdk"
)

func newStatusCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the search backends and the job queues of a server",
		Long: `status shows every search backend (kind, model, how many records it holds, has pending or gave up
on, health) and every job queue (jobs by state, age of the oldest waiting job, throughput).

The queues need a token with the admin scope. Without one, status shows the backends and says
on standard error that the queues were left out; it still exits 0.

--json prints ListBackendsResponse's backends and GetQueueStatsResponse's queues in one object,
as the API spells them (no queues key when they were left out).`,
		Example: `  osa status
  osa status --server https://osa.example.org --token "$OSA_ADMIN_TOKEN"
  osa status --json | jq -r '.backends[] | select(.failed) | .name'   # failed is left out when 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := cf.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			backends, err := client.Backends(ctx)
			if err != nil {
				return cf.explain(err)
			}
			queues, qerr := client.QueueStats(ctx)
			if qerr != nil && !errors.Is(qerr, sdk.ErrPermissionDenied) && !errors.Is(qerr, sdk.ErrUnauthenticated) {
				return cf.explain(qerr)
			}
			w := cmd.OutOrStdout()
			if cf.json {
				msgs := []proto.Message{listBackendsResponse(backends)}
				if qerr == nil {
					msgs = append(msgs, queueStatsResponse(queues))
				} else {
					fmt.Fprintf(cmd.ErrOrStderr(), "queues left out: %v (they need a token with the admin scope)\n", qerr)
				}
				return printJSON(w, msgs...)
			}
			tw := newTable(w)
			fmt.Fprintln(tw, "BACKEND\tKIND\tMODEL\tDIMS\tINDEXED\tPENDING\tFAILED\tHEALTHY\tQUEUE")
			for _, b := range backends {
				dims := "-"
				if b.Dims > 0 {
					dims = fmt.Sprint(b.Dims)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", b.Name, b.Kind, dashIfEmpty(b.Model), dims,
					b.Indexed, b.Pending, b.Failed, yesNo(b.Healthy), b.Queue)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if qerr != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "queues left out: %v (they need a token with the admin scope)\n", qerr)
				return nil
			}
			fmt.Fprintln(w)
			tw = newTable(w)
			fmt.Fprintln(tw, "QUEUE\tAVAILABLE\tRUNNING\tSCHEDULED\tRETRYABLE\tPENDING\tCOMPLETED\tDISCARDED\tCANCELLED\tOLDEST WAITING\tDONE/S")
			for _, q := range queues {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%.1f\n", q.Name, q.Available, q.Running, q.Scheduled,
					q.Retryable, q.Pending, q.Completed, q.Discarded, q.Cancelled, age(q.OldestAvailableAge), q.CompletedPerSecond)
			}
			return tw.Flush()
		},
	}
	cf.add(cmd)
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// age formats a waiting time for a table: "-" for none, else rounded to what matters.
func age(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// listBackendsResponse returns the API's answer that bs were read from.
func listBackendsResponse(bs []sdk.Backend) *osav1.ListBackendsResponse {
	res := &osav1.ListBackendsResponse{Backends: make([]*osav1.Backend, len(bs))}
	for i := range bs {
		res.Backends[i] = bs[i].Proto()
	}
	return res
}

// queueStatsResponse returns the API's answer that qs were read from.
func queueStatsResponse(qs []sdk.QueueStats) *osav1.GetQueueStatsResponse {
	res := &osav1.GetQueueStatsResponse{Queues: make([]*osav1.QueueStats, len(qs))}
	for i := range qs {
		res.Queues[i] = qs[i].Proto()
	}
	return res
}
