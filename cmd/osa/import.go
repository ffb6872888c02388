package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/osa-archive/osa/sdk"
)

func newImportCmd() *cobra.Command {
	var (
		cf          clientFlags
		onConflict  string
		wait        bool
		progressArg string
	)
	cmd := &cobra.Command{
		Use:   "import FILE|-",
		Short: "Restore a JSONL export into the archive, keeping ids, versions, sources and timestamps",
		Long: `import restores a file written by osa export (JSONL) into the archive, exactly: every record
keeps its id, its versions (earlier ones too), its source and source id and its timestamps, so
every SRN of the export resolves as it did. Records are written in transactions of
import.batch_size; then every backend is rebuilt (the bulk path of osa reindex) to index them.
With --wait, import waits for those rebuilds.

A bad line is reported with its number and the field at fault, and nothing from it is written.
A record whose id, or source and source id, the archive has already, differently, is left as it
is and reported by line: as failed (--on-conflict refuse, the default) or skipped (skip). A
record the archive has exactly as the line does is counted unchanged, so an import can be run
again. The exit status is 1 when any line failed. It needs a token with the admin scope.

Exporting, importing into an empty archive and exporting again gives the same bytes.`,
		Example: `  osa export --include-deleted > archive.jsonl
  osa import archive.jsonl --wait                      # on the new archive
  osa import archive.jsonl --on-conflict skip --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			mode, err := progressMode(progressArg, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if onConflict != sdk.ConflictRefuse && onConflict != sdk.ConflictSkip {
				return fmt.Errorf("--on-conflict: want refuse or skip, got %q", onConflict)
			}
			var (
				in   io.Reader = cmd.InOrStdin()
				size int64
			)
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				if st, err := f.Stat(); err == nil {
					size = st.Size()
				}
				in = f
			}
			client, err := cf.client()
			if err != nil {
				return err
			}
			prog := newCountProgress(cmd.ErrOrStderr(), mode, size)
			prog.noun = "bytes sent"
			res, err := client.Import(cmd.Context(), in, &sdk.ImportOpts{OnConflict: onConflict,
				Progress: func(sent int64) { prog.update(int(sent), 0, sent) }})
			if err != nil {
				return cf.explain(err)
			}
			prog.done(int(size), 0, size)
			errw := cmd.ErrOrStderr()
			for _, p := range res.Problems {
				what := "failed"
				if p.Skipped {
					what = "skipped"
				}
				field := ""
				if p.Field != "" {
					field = p.Field + ": "
				}
				fmt.Fprintf(errw, "line %d %s: %s%s\n", p.Line, what, field, p.Message)
			}
			if n := res.Failed + res.Skipped - int64(len(res.Problems)); n > 0 {
				fmt.Fprintf(errw, "… and %d more lines not written (import.max_problems lists the first)\n", n)
			}
			w := cmd.OutOrStdout()
			if cf.json {
				if err := printJSON(w, res.Proto()); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(w, "%d lines: %d records imported, %d unchanged, %d skipped, %d failed\n",
					res.Lines, res.Imported, res.Unchanged, res.Skipped, res.Failed)
				for _, j := range res.Reindexes {
					fmt.Fprintf(w, "rebuilding %s to index them: reindex %d\n", j.Backend, j.ID)
				}
			}
			if wait {
				for _, j := range res.Reindexes {
					done, err := client.WaitReindex(cmd.Context(), j.ID, nil)
					if err != nil {
						return cf.explain(err)
					}
					if !cf.json {
						printReindex(w, done)
					}
				}
			}
			if res.Failed > 0 {
				return fmt.Errorf("%d of %d lines not imported", res.Failed, res.Lines)
			}
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&onConflict, "on-conflict", sdk.ConflictRefuse, "a record the archive has, differently: refuse (a failed line) or skip")
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until every backend has indexed the imported records")
	cmd.Flags().StringVar(&progressArg, "progress", "auto", "progress display on standard error: auto (a bar on a terminal, else plain), bar, plain or none")
	return cmd
}
