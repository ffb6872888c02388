package main

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/sdk"
)

func newGetCmd() *cobra.Command {
	var (
		cf     clientFlags
		status bool
	)
	cmd := &cobra.Command{
		Use:   "get SRN",
		Short: "Show a record, and with --status how far each backend has indexed it",
		Long: `get shows one record: the version the SRN names when it ends in @{version}, else the latest. A
deleted record is shown with its deletion time. With --status it also shows, per backend, the
version the backend holds and whether work is pending or failed.

--json prints the API's GetRecordResponse ({"record": {...}}), with --status beside the
srn and statuses of GetIndexStatusResponse, named as the API names them.`,
		Example: `  osa get urn:osa:localhost:rec:0190b2a4-7c1e-7cc0-9d2a-6d3c1f0a9e11
  osa get urn:osa:localhost:rec:0190b2a4-7c1e-7cc0-9d2a-6d3c1f0a9e11@2 --json | jq .record.metadata
  osa get "$SRN" --status`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			client, err := cf.client()
			if err != nil {
				return err
			}
			rec, err := client.Get(cmd.Context(), args[0])
			if err != nil {
				return cf.explain(err)
			}
			var st *sdk.IndexStatus
			if status {
				if st, err = client.IndexStatus(cmd.Context(), args[0]); err != nil {
					return cf.explain(err)
				}
			}
			w := cmd.OutOrStdout()
			if cf.json {
				res := &osav1.GetRecordResponse{Record: rec.Proto()}
				if st == nil {
					return printJSON(w, res)
				}
				return printJSON(w, res, st.Proto())
			}
			tw := newTable(w)
			fmt.Fprintf(tw, "SRN\t%s\n", rec.SRN)
			fmt.Fprintf(tw, "Version\t%d\n", rec.Version)
			if rec.Source != "" {
				fmt.Fprintf(tw, "Source\t%s\n", rec.Source)
				fmt.Fprintf(tw, "Source ID\t%s\n", rec.SourceID)
			}
			fmt.Fprintf(tw, "Created\t%s\n", formatTime(&rec.CreatedAt))
			fmt.Fprintf(tw, "Updated\t%s\n", formatTime(&rec.UpdatedAt))
			if rec.DeletedAt != nil {
				fmt.Fprintf(tw, "Deleted\t%s\n", formatTime(rec.DeletedAt))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			meta, err := json.MarshalIndent(rec.Metadata, "", "  ")
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "Metadata:\n%s\n", meta)
			if st != nil {
				fmt.Fprintln(w)
				tw := newTable(w)
				fmt.Fprintln(tw, "BACKEND\tSTATE\tINDEXED\tPENDING\tATTEMPTS\tINDEXED AT\tLAST ERROR")
				for _, b := range st.Backends {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", b.Backend, b.State, versionOrDash(b.IndexedVersion),
						versionOrDash(b.PendingVersion), b.Attempts, formatTime(b.IndexedAt), dashIfEmpty(b.LastError))
				}
				return tw.Flush()
			}
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().BoolVar(&status, "status", false, "also show the record's index status on every backend")
	return cmd
}

func versionOrDash(v int) string {
	if v == 0 {
		return "-"
	}
	return strconv.Itoa(v)
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
