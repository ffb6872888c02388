package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/sdk"
)

func newBackendsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backends",
		Short: "Show or change the backend catalog every process follows",
		Long: `The backend catalog, in the database, is the one list of search backends: every process indexes
and searches what it says, whatever its config file holds. An empty catalog is seeded from the
config of the first process to start; after that only osa backends apply changes it.`,
	}
	cmd.AddCommand(newBackendsApplyCmd(), newBackendsListCmd())
	return cmd
}

func newBackendsApplyCmd() *cobra.Command {
	var (
		cf          clientFlags
		allowRemove bool
		dryRun      bool
	)
	cmd := &cobra.Command{
		Use:   "apply FILE",
		Short: "Make the catalog the backends of a file, and print the plan",
		Long: `apply sends FILE, a YAML document whose one key is backends (a list of the config file's shape, the
whole desired set; "-" reads standard input), and prints the plan: each backend added, changed
(with what changes) or removed. Every process follows the change within catalog.poll_interval,
with no restart.

An added backend is backfilled from the stored records by a rebuild (follow it with osa
reindex's id, or osa backends list); records published meanwhile are indexed too, and searches
use the backend once it holds every record. Weight, batch and max_attempts change in place. A
change of the embedder, text, language or hnsw builds the backend's next generation the same
way, beside the live one, which answers searches until the new one swaps in (needs_rebuild in
the plan). Removing a backend needs --allow-remove. --dry-run prints the plan and changes nothing. It needs
a token with the admin scope.`,
		Example: `  osa backends apply backends.yaml --dry-run
  osa backends apply backends.yaml --token "$OSA_ADMIN_TOKEN"
  osa backends apply backends.yaml --allow-remove`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var (
				data []byte
				err  error
			)
			if args[0] == "-" {
				data, err = io.ReadAll(cmd.InOrStdin())
			} else {
				data, err = os.ReadFile(args[0])
			}
			if err != nil {
				return fmt.Errorf("error reading the backends file: %w", err)
			}
			client, err := cf.client()
			if err != nil {
				return err
			}
			changes, applied, err := client.ApplyBackends(cmd.Context(), string(data), sdk.ApplyOpts{AllowRemove: allowRemove, DryRun: dryRun})
			if err != nil {
				return cf.explain(err)
			}
			w := cmd.OutOrStdout()
			if cf.json {
				res := &osav1.ApplyBackendsResponse{Changes: make([]*osav1.BackendChange, len(changes)), Applied: applied}
				for i := range changes {
					res.Changes[i] = changes[i].Proto()
				}
				return printJSON(w, res)
			}
			for _, c := range changes {
				fmt.Fprintf(w, "%-9s %s", c.Action, c.Name)
				if c.ReindexID != 0 {
					fmt.Fprintf(w, " (backfill: reindex %d)", c.ReindexID)
				}
				fmt.Fprintln(w)
				for _, ch := range c.Changes {
					fmt.Fprintf(w, "          %s\n", ch)
				}
			}
			switch {
			case applied:
				fmt.Fprintln(w, "applied: every process follows within catalog.poll_interval")
			case dryRun:
				fmt.Fprintln(w, "dry run: nothing changed")
			default:
				fmt.Fprintln(w, "nothing to change")
			}
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().BoolVar(&allowRemove, "allow-remove", false, "remove the backends the file leaves out")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the plan and change nothing")
	return cmd
}

func newBackendsListCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the backends of the catalog with their state, generation and counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			client, err := cf.client()
			if err != nil {
				return err
			}
			bs, err := client.Backends(cmd.Context())
			if err != nil {
				return cf.explain(err)
			}
			w := cmd.OutOrStdout()
			if cf.json {
				return printJSON(w, listBackendsResponse(bs))
			}
			fmt.Fprintf(w, "%-16s %-9s %-9s %4s %10s %10s %8s  %s\n", "NAME", "KIND", "STATE", "GEN", "INDEXED", "PENDING", "FAILED", "BUILD")
			for _, b := range bs {
				build := ""
				if b.State == "building" {
					build = fmt.Sprintf("%d of %d records", b.BuildDone, b.BuildTotal)
				}
				fmt.Fprintf(w, "%-16s %-9s %-9s %4d %10d %10d %8d  %s\n", b.Name, b.Kind, b.State, b.Generation, b.Indexed, b.Pending,
					b.Failed, build)
			}
			return nil
		},
	}
	cf.add(cmd)
	return cmd
}
