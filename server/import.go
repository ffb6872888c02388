package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/dump"
	"github.com/osa-archive/osa/jobs/reindex"
)

// importRunner runs imports: the importer, then the rebuild of every backend that indexes
// what it wrote through the bulk path.
type importRunner struct {
	importer *dump.Importer
	logger   *slog.Logger
	pool     *pgxpool.Pool
	river    *river.Client[pgx.Tx]
	view     *backendView
}

// ImportRecords reads the stream as a JSONL export, imports it, then starts a rebuild of every
// backend.
func (s *recordService) ImportRecords(ctx context.Context, stream *connect.ClientStream[osav1.ImportRecordsRequest]) (*connect.Response[osav1.ImportRecordsResponse], error) {
	out := &osav1.ImportRecordsResponse{}
	if !stream.Receive() {
		return connect.NewResponse(out), stream.Err() // nothing sent: nothing to import
	}
	p := dump.ImportParams{OnConflict: dump.ConflictRefuse}
	switch c := stream.Msg().OnConflict; c {
	case osav1.ImportConflict_IMPORT_CONFLICT_UNSPECIFIED, osav1.ImportConflict_IMPORT_CONFLICT_REFUSE:
	case osav1.ImportConflict_IMPORT_CONFLICT_SKIP:
		p.OnConflict = dump.ConflictSkip
	default:
		return nil, domainerr.Invalid("on_conflict", "%d is not a conflict policy: send IMPORT_CONFLICT_REFUSE or IMPORT_CONFLICT_SKIP", c)
	}
	// No rebuild may start while the import writes (reindex.LockImport says why); the lock is
	// taken before the check, so a rebuild that started just before is seen running.
	lock, err := reindex.LockImport(ctx, s.imports.pool)
	if err != nil {
		return nil, err
	}
	defer lock.Release(ctx) // at once below, in the usual case
	if err := s.imports.checkNoRebuild(ctx); err != nil {
		return nil, err
	}
	res, err := s.imports.importer.Import(ctx, &streamReader{stream: stream, buf: stream.Msg().Data}, p)
	// Every write has committed or rolled back: a rebuild that starts from now on reads them all.
	lock.Release(ctx)
	if err != nil {
		if res.Imported > 0 {
			s.imports.logger.WarnContext(ctx, "server: import failed after writing records; rebuilding the backends",
				"imported", res.Imported, "error", err)
			if _, rerr := s.imports.rebuild(context.WithoutCancel(ctx)); rerr != nil {
				s.imports.logger.ErrorContext(ctx, "server: rebuilding the backends after an import", "error", rerr)
			}
		}
		return nil, fmt.Errorf("the import stopped after %d records were written (run it again to finish: the records "+
			"written are counted unchanged): %w", res.Imported, err)
	}
	out.Lines, out.Imported, out.Unchanged, out.Skipped, out.Failed = res.Lines, res.Imported, res.Unchanged, res.Skipped, res.Failed
	for _, pr := range res.Problems {
		out.Problems = append(out.Problems, &osav1.ImportProblem{Line: pr.Line, Field: pr.Field, Message: pr.Message, Skipped: pr.Skipped})
	}
	if res.Imported > 0 {
		rs, err := s.imports.rebuild(ctx)
		if err != nil {
			return nil, fmt.Errorf("%d records were imported, but starting the rebuild of the backends failed (run osa reindex "+
				"on each): %w", res.Imported, err)
		}
		for _, r := range rs {
			out.Reindexes = append(out.Reindexes, reindexToProto(r))
		}
	}
	return connect.NewResponse(out), nil
}

// checkNoRebuild refuses an import while a backend is being rebuilt: the rebuild's scan may
// already have passed the ids of the records the import writes, and the rebuild the import
// asks for at its end could not start beside it. A rebuild asked for later is refused while the
// import holds its lock (reindex.LockImport).
func (ir *importRunner) checkNoRebuild(ctx context.Context) error {
	for _, name := range ir.view.names() {
		r, running, err := reindex.RunningFor(ctx, ir.pool, name)
		if err != nil {
			return err
		}
		if running {
			return domainerr.New(domainerr.ErrFailedPrecondition, "backend %q is being rebuilt (reindex %d, %d of %d records): "+
				"wait for it to end (osa reindex %s --wait, or AdminService.GetReindex), then import", name, r.ID, r.Done, r.Total, name)
		}
	}
	return nil
}

// rebuild starts a rebuild of every backend of the catalog (its generation being built, when
// it has one), so that each indexes the imported records through the bulk path.
func (ir *importRunner) rebuild(ctx context.Context) ([]reindex.Reindex, error) {
	var out []reindex.Reindex
	for _, name := range ir.view.names() {
		b, next := ir.view.lookup(name)
		if next != nil {
			b = next
		}
		if b == nil {
			continue
		}
		r, err := reindex.Start(ctx, ir.river, ir.pool, b.bc.Backend, b.entry.Generation)
		if err != nil {
			return out, fmt.Errorf("backend %s: %w", name, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// streamReader reads the data of an import's messages as one stream of bytes.
type streamReader struct {
	stream *connect.ClientStream[osav1.ImportRecordsRequest]
	buf    []byte
}

func (r *streamReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if !r.stream.Receive() {
			if err := r.stream.Err(); err != nil && !errors.Is(err, io.EOF) {
				return 0, err
			}
			return 0, io.EOF
		}
		r.buf = r.stream.Msg().Data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}
