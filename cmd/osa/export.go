package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/osa-archive/osa/sdk"
)

func newExportCmd() *cobra.Command {
	var (
		cf             clientFlags
		opts           sdk.ExportOpts
		output         string
		cursorFile     string
		progressArg    string
		includeDeleted bool
	)
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write every record, read in one consistent snapshot, and the changefeed cursor of that snapshot",
		Long: `export writes the archive's records to standard output (or --output): JSONL, one record a line
with its earlier versions (the format osa import reads back), or CSV (--format csv: srn, id,
version, source, source_id, created_at, updated_at, deleted_at, metadata as JSON). The server
reads them in one snapshot and streams them, so memory stays flat whatever the size.

Standard error shows progress, then the changefeed cursor of the snapshot: follow the feed after
it (osa events --follow --after CURSOR) and every change the export does not hold arrives once,
and none that it does. --cursor-file writes the cursor to a file too; --json prints the summary
({"cursor": …, "records": …}) on standard error as JSON.

--include-deleted adds tombstones (deleted records), as a full copy for osa import needs;
--source and --where select records as ListRecords does.`,
		Example: `  osa export > records.jsonl
  osa export --format csv --where 'organism = "Danio rerio"' > zebrafish.csv
  osa export --include-deleted --cursor-file cursor.txt --output archive.jsonl
  osa events --follow --after "$(cat cursor.txt)"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mode, err := progressMode(progressArg, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			client, err := cf.client()
			if err != nil {
				return err
			}
			var out io.Writer = cmd.OutOrStdout()
			if output != "" && output != "-" {
				f, err := os.Create(output)
				if err != nil {
					return err
				}
				defer f.Close()
				out = f
			}
			bw := bufio.NewWriterSize(out, 1<<20)
			prog := newCountProgress(cmd.ErrOrStderr(), mode, 0)
			opts.IncludeDeleted = includeDeleted
			opts.Progress = func(done, total int64) {
				prog.total = int(total)
				prog.update(int(done), 0, 0)
			}
			res, err := client.Export(cmd.Context(), bw, &opts)
			if ferr := bw.Flush(); err == nil && ferr != nil {
				err = fmt.Errorf("writing the export: %w", ferr)
			}
			if err != nil {
				if res != nil {
					prog.printf("the export stopped after %d records: what was written is not a whole export\n", res.Records)
				}
				return cf.explain(err)
			}
			prog.done(int(res.Records), 0, 0)
			if f, ok := out.(*os.File); ok && output != "" {
				if err := f.Close(); err != nil {
					return err
				}
			}
			if cursorFile != "" {
				if err := os.WriteFile(cursorFile, []byte(res.Cursor+"\n"), 0o644); err != nil {
					return err
				}
			}
			if cf.json {
				b, err := json.Marshal(res)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "%s\n", b)
				return nil
			}
			if mode != "none" {
				fmt.Fprintf(cmd.ErrOrStderr(), "exported %d records; follow the changes since: osa events --follow --after %s\n",
					res.Records, res.Cursor)
			}
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&opts.Format, "format", sdk.ExportJSONL, "jsonl or csv")
	cmd.Flags().StringVar(&opts.Where, "where", "", "only records matching this filter expression (as search --where)")
	cmd.Flags().StringVar(&opts.Source, "source", "", "only records of this source")
	cmd.Flags().BoolVar(&includeDeleted, "include-deleted", false, "export tombstones (deleted records) too")
	cmd.Flags().BoolVar(&opts.Compress, "compress", false, "ask the server to gzip the stream (fewer bytes on a slow network, more CPU on both ends)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the export to this file (default standard output)")
	cmd.Flags().StringVar(&cursorFile, "cursor-file", "", "also write the snapshot's changefeed cursor to this file")
	cmd.Flags().StringVar(&progressArg, "progress", "auto", "progress display on standard error: auto (a bar on a terminal, else plain), bar, plain or none")
	return cmd
}
