package sdk

import (
	"context"
	"fmt"
	"io"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
)

// Conflict policies of an import ([ImportOpts.OnConflict]).
const (
	// ConflictRefuse reports a record that conflicts with one of the archive's as a failed
	// line; the archive's record is left as it is.
	ConflictRefuse = "refuse"
	// ConflictSkip reports it as skipped, not failed.
	ConflictSkip = "skip"
)

// ImportChunkBytes is how many bytes of the file one message of an import carries.
const ImportChunkBytes = 1 << 20

// ImportOpts configures [Client.Import]. The zero value refuses conflicts.
type ImportOpts struct {
	// OnConflict is [ConflictRefuse] ("" too) or [ConflictSkip].
	OnConflict string
	// Progress, when set, is called after each chunk is sent, with the bytes sent so far.
	Progress func(sent int64)
}

// ImportProblem is a line an import did not write.
type ImportProblem struct {
	// Line is the line's number, from 1.
	Line int64 `json:"line"`
	// Field names the field at fault as the line writes it, "" for the line as a whole.
	Field string `json:"field,omitempty"`
	// Message says what is wrong and what to send instead.
	Message string `json:"message"`
	// Skipped is set for a conflict skipped as asked: not an error.
	Skipped bool `json:"skipped,omitempty"`
}

// ImportResult is the outcome of [Client.Import].
type ImportResult struct {
	Lines     int64 `json:"lines"`
	Imported  int64 `json:"imported"`
	Unchanged int64 `json:"unchanged"`
	Skipped   int64 `json:"skipped"`
	Failed    int64 `json:"failed"`
	// Problems are the lines skipped or failed (the first import.max_problems), in line order.
	Problems []ImportProblem `json:"problems,omitempty"`
	// Reindexes are the rebuilds that index the imported records; [Client.WaitReindex] waits
	// for each.
	Reindexes []*ReindexJob `json:"reindexes,omitempty"`

	pb *osav1.ImportRecordsResponse
}

// Proto returns the API message r was read from.
func (r *ImportResult) Proto() *osav1.ImportRecordsResponse { return r.pb }

// Import restores a JSONL export read from r into the archive, exactly: ids, versions (every
// earlier one too), sources and timestamps are kept, so SRNs stay valid. It streams the file in
// chunks of [ImportChunkBytes], so memory stays flat; the server answers when the stream ends,
// after writing the records and starting a rebuild of every backend (the bulk path), which
// then indexes them. Bad lines and conflicts are not errors: the result reports them by line.
// It needs a token with the admin scope. The client's timeout does not apply; ctx bounds the
// import.
func (c *Client) Import(ctx context.Context, r io.Reader, opts *ImportOpts) (*ImportResult, error) {
	const procedure = osav1connect.RecordServiceImportRecordsProcedure
	if opts == nil {
		opts = &ImportOpts{}
	}
	first := &osav1.ImportRecordsRequest{}
	switch opts.OnConflict {
	case "", ConflictRefuse:
		first.OnConflict = osav1.ImportConflict_IMPORT_CONFLICT_REFUSE
	case ConflictSkip:
		first.OnConflict = osav1.ImportConflict_IMPORT_CONFLICT_SKIP
	default:
		return nil, &Error{Code: CodeInvalidArgument, Field: "on_conflict", Procedure: procedure,
			Message: fmt.Sprintf("on_conflict: %q is not a conflict policy: use %q or %q", opts.OnConflict, ConflictRefuse, ConflictSkip)}
	}
	stream := c.records.ImportRecords(ctx)
	c.setHeaders(stream.RequestHeader())
	buf := make([]byte, ImportChunkBytes)
	var sent int64
	msg := first
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 || msg == first {
			msg.Data = buf[:n]
			if err := stream.Send(msg); err != nil {
				break // the server's answer says why
			}
			sent += int64(n)
			if opts.Progress != nil {
				opts.Progress(sent)
			}
			msg = &osav1.ImportRecordsRequest{}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			_, _ = stream.CloseAndReceive()
			return nil, fmt.Errorf("sdk: reading the import: %w", rerr)
		}
	}
	res, err := stream.CloseAndReceive()
	if err != nil {
		return nil, toError(procedure, err)
	}
	m := res.Msg
	out := &ImportResult{Lines: m.Lines, Imported: m.Imported, Unchanged: m.Unchanged, Skipped: m.Skipped, Failed: m.Failed, pb: m}
	for _, p := range m.Problems {
		out.Problems = append(out.Problems, ImportProblem{Line: p.Line, Field: p.Field, Message: p.Message, Skipped: p.Skipped})
	}
	for _, rj := range m.Reindexes {
		j, err := fromReindex(procedure, rj)
		if err != nil {
			return nil, err
		}
		out.Reindexes = append(out.Reindexes, j)
	}
	return out, nil
}
