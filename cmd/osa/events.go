package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/sdk"
)

func newEventsCmd() *cobra.Command {
	var (
		cf     clientFlags
		after  string
		types  []string
		limit  int
		follow bool
	)
	cmd := &cobra.Command{
		Use:   "events",
		Short: "List or follow the changefeed: every record published, deleted or restored",
		Long: `events prints the archive's changefeed: one event per change of a record (record.published,
record.deleted, record.restored), in cursor order, after --after (a cursor printed before; left
out, from the oldest event the server keeps).

Without --follow it prints one page (--limit events) and the cursor of the next page. With
--follow it prints the events already there, then every new one as it is committed, until
interrupted; a dropped connection is resumed after the last event printed. Each line ends with
the event's cursor: pass it as --after to resume. --type keeps only events of a type
(repeatable). With --json a page is the API's ListEventsResponse, and --follow prints one
Event per line (JSON Lines).`,
		Example: `  osa events
  osa events --follow
  osa events --follow --json --type record.deleted
  osa events --after CURSOR --limit 500`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return fmt.Errorf("--limit must be 0 (the server's 100) or more, got %d", limit)
			}
			client, err := cf.client()
			if err != nil {
				return err
			}
			ets := make([]sdk.EventType, len(types))
			for i, t := range types {
				ets[i] = sdk.EventType(t)
			}
			w := cmd.OutOrStdout()
			if follow {
				for e, err := range client.Events(cmd.Context(), after, ets...) {
					if err != nil {
						return cf.explain(err)
					}
					if err := printEvent(w, e, cf.json); err != nil {
						return err
					}
				}
				return nil
			}
			page, err := client.ListEvents(cmd.Context(), after, limit, ets...)
			if err != nil {
				return cf.explain(err)
			}
			if cf.json {
				res := &osav1.ListEventsResponse{NextCursor: page.NextCursor}
				for _, e := range page.Events {
					res.Events = append(res.Events, e.Proto())
				}
				return printJSON(w, res)
			}
			for _, e := range page.Events {
				if err := printEvent(w, e, false); err != nil {
					return err
				}
			}
			if len(page.Events) == 0 {
				fmt.Fprintln(w, "no events")
			}
			if page.NextCursor != "" {
				fmt.Fprintf(w, "next page: --after %s\n", page.NextCursor)
			}
			return nil
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&after, "after", "", "cursor to start after (default: the oldest event kept)")
	cmd.Flags().StringArrayVar(&types, "type", nil, "record.published, record.deleted or record.restored (repeatable; default all)")
	cmd.Flags().IntVar(&limit, "limit", 0, "most events of a page, up to events.page_limit_max; 0, the server's 100 (without --follow)")
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new events as they are committed, until interrupted")
	return cmd
}

// printEvent prints one event as a line: its commit time, type, SRN, source and cursor; with
// asJSON, the API's Event as one line of JSON.
func printEvent(w io.Writer, e sdk.Event, asJSON bool) error {
	if asJSON {
		b, err := protojson.Marshal(e.Proto())
		if err != nil {
			return fmt.Errorf("error encoding an event as JSON: %w", err)
		}
		// protojson varies its spacing on purpose: compact it, for a stable line.
		var line bytes.Buffer
		if err := json.Compact(&line, b); err != nil {
			return fmt.Errorf("error encoding an event as JSON: %w", err)
		}
		line.WriteByte('\n')
		_, err = w.Write(line.Bytes())
		return err
	}
	src := "-"
	if e.Source != "" {
		src = e.Source + "/" + e.SourceID
	}
	_, err := fmt.Fprintf(w, "%s  %-16s  %s  %s  %s\n", e.CommittedAt.UTC().Format(time.RFC3339Nano), e.Type, e.SRN, src, e.Cursor)
	return err
}
