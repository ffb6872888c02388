package sdk

import (
	"context"
	"fmt"
	"io"

	"connectrpc.com/connect"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
)

// Export formats ([ExportOpts.Format]).
const (
	// ExportJSONL is one record a line, in the protojson form of osa.v1.ExportedRecord: the
	// record at its current version and its earlier versions. [Client.Import] reads it back.
	ExportJSONL = "jsonl"
	// ExportCSV is a header row, then one row a record: srn, id, version, source, source_id,
	// created_at, updated_at, deleted_at and the metadata as JSON.
	ExportCSV = "csv"
)

// ExportOpts selects what [Client.Export] writes. The zero value exports every live record as
// JSONL.
type ExportOpts struct {
	// Format is [ExportJSONL] ("" too) or [ExportCSV].
	Format string
	// Source, when set, exports only the records of that source.
	Source string
	// Where, when set, exports only the records meeting the filter expression.
	Where string
	// IncludeDeleted exports tombstones too, as a full copy of an archive needs.
	IncludeDeleted bool
	// Compress asks the server to gzip the stream: about a fifth of the bytes on the wire, for
	// a slow network, at the cost of CPU on both ends (on a fast one the export is slower).
	Compress bool
	// Progress, when set, is called once the export's size is known and after each chunk is
	// written, with the records written so far and the export's total.
	Progress func(done, total int64)
}

// ExportResult is the outcome of [Client.Export].
type ExportResult struct {
	// Cursor is the changefeed cursor of the export's snapshot: [Client.Events] or
	// [Client.ListEvents] after it deliver every change the export does not hold, and none
	// that it does.
	Cursor string `json:"cursor"`
	// Records is the number of records written.
	Records int64 `json:"records"`
}

// Export writes the records opts selects to w, read by the server in one consistent
// snapshot, and returns the changefeed cursor of that snapshot: export, then follow the feed
// after the cursor, and nothing is missed or doubled. The server streams the file, so memory
// stays flat on both sides whatever its size. The client's timeout does not apply; ctx bounds
// the export. An export that fails midway returns its error with what was written to w so
// far, which is not a whole file.
func (c *Client) Export(ctx context.Context, w io.Writer, opts *ExportOpts) (*ExportResult, error) {
	const procedure = osav1connect.RecordServiceExportRecordsProcedure
	if opts == nil {
		opts = &ExportOpts{}
	}
	req := &osav1.ExportRecordsRequest{Source: opts.Source, Where: opts.Where, IncludeDeleted: opts.IncludeDeleted}
	switch opts.Format {
	case "", ExportJSONL:
		req.Format = osav1.ExportFormat_EXPORT_FORMAT_JSONL
	case ExportCSV:
		req.Format = osav1.ExportFormat_EXPORT_FORMAT_CSV
	default:
		return nil, &Error{Code: CodeInvalidArgument, Field: "format", Procedure: procedure,
			Message: fmt.Sprintf("format: %q is not an export format: use %q or %q", opts.Format, ExportJSONL, ExportCSV)}
	}
	creq := connect.NewRequest(req)
	c.setHeaders(creq.Header())
	rc := c.recordsPlain
	if opts.Compress {
		rc = c.records
	}
	stream, err := rc.ExportRecords(ctx, creq)
	if err != nil {
		return nil, toError(procedure, err)
	}
	defer stream.Close()
	var (
		res   ExportResult
		total int64
	)
	for first := true; stream.Receive(); first = false {
		msg := stream.Msg()
		if first {
			res.Cursor, total = msg.Cursor, msg.Total
		}
		if len(msg.Data) > 0 {
			if _, err := w.Write(msg.Data); err != nil {
				return &res, fmt.Errorf("sdk: writing the export: %w", err)
			}
		}
		res.Records += msg.Records
		if opts.Progress != nil {
			opts.Progress(res.Records, total)
		}
	}
	if err := stream.Err(); err != nil {
		return &res, toError(procedure, err)
	}
	if res.Records != total {
		return &res, &Error{Code: CodeDataLoss, Procedure: procedure,
			Message: fmt.Sprintf("the export ended after %d of its %d records", res.Records, total)}
	}
	return &res, nil
}
