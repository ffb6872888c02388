package dump

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/events"
	"github.com/osa-archive/osa/records"
)

// Defaults and bounds of exports.
const (
	ChunkBytesDefault = 256 << 10
	MaxRunningDefault = 4
)

// ExportConfig configures an [Exporter].
type ExportConfig struct {
	// ChunkBytes is about how many bytes of the file an export hands on at once: one message
	// of ExportRecords, one write of a download (export.chunk_bytes). A chunk ends after the
	// record that reaches it. Defaults to 256 KiB.
	ChunkBytes int
	// MaxRunning is how many exports a process runs at once (export.max_running); each holds
	// a database connection and a snapshot for as long as it runs. Defaults to 4.
	MaxRunning int
}

// WithDefaults returns c with every zero setting replaced by its default.
func (c ExportConfig) WithDefaults() ExportConfig {
	if c.ChunkBytes == 0 {
		c.ChunkBytes = ChunkBytesDefault
	}
	if c.MaxRunning == 0 {
		c.MaxRunning = MaxRunningDefault
	}
	return c
}

// Exporter reads exports of the records in its pool's database. It is safe for concurrent use.
type Exporter struct {
	cfg     ExportConfig
	domain  string
	pool    *pgxpool.Pool
	running chan struct{} // a slot per running export
}

// NewExporter returns an exporter of the records of pool's database, whose SRNs have domain;
// cfg gets its defaults.
func NewExporter(pool *pgxpool.Pool, domain string, cfg ExportConfig) *Exporter {
	cfg = cfg.WithDefaults()
	return &Exporter{cfg: cfg, domain: domain, pool: pool, running: make(chan struct{}, cfg.MaxRunning)}
}

// ExportParams selects what [Exporter.Export] writes.
type ExportParams struct {
	// Format is the file format; "" is JSONL.
	Format Format
	// Source, when set, exports only the records of that source.
	Source string
	// Where, when not nil, exports only the records meeting it (a parsed filter expression).
	Where records.Condition
	// IncludeDeleted exports tombstones too (deleted records, with their deletedAt): what a
	// full copy of an archive needs, so deleted SRNs keep answering as deleted.
	IncludeDeleted bool
}

// Start is what an export knows before its first record.
type Start struct {
	// Cursor is the changefeed's cursor of the export's snapshot: following the feed after it
	// delivers every change the export does not hold, and none that it does.
	Cursor events.Cursor
	// Total is the number of records the export holds.
	Total int64
}

// Sink receives an export: Start once, then the file in chunks, each with the number of
// records it completes. A chunk's bytes are valid only during the call.
type Sink interface {
	Start(Start) error
	Write(chunk []byte, records int64) error
}

// exportFromSQL is the FROM and WHERE of an export: $1 a source or ”, $2 whether tombstones
// count; a condition follows.
const exportFromSQL = ` FROM records r WHERE ($1 = '' OR r.source = $1) AND ($2 OR r.deleted_at IS NULL) AND `

// exportColumns are the columns of an exported record. updated_at is the current version's
// publication: records.updated_at while the record is live, record_versions' for a tombstone
// (a delete moves records.updated_at). The earlier versions, when there are any, come as a
// JSON array of [version, metadata, published_at].
const exportColumns = `r.id, r.version, r.metadata, COALESCE(r.source, ''), COALESCE(r.source_id, ''), r.created_at,
    CASE WHEN r.deleted_at IS NULL THEN r.updated_at
         ELSE (SELECT v.created_at FROM record_versions v WHERE v.record_id = r.id AND v.version = r.version) END,
    r.deleted_at,
    CASE WHEN r.version > 1 THEN (SELECT json_agg(json_build_array(v.version, v.metadata, v.created_at) ORDER BY v.version)
        FROM record_versions v WHERE v.record_id = r.id AND v.version < r.version) END`

// ExportSQL returns the statement of an export of p and its arguments: the rows an export
// reads, in the order it writes them. The benchmark's ceiling copies the same statement.
func ExportSQL(p ExportParams) (string, []any) {
	from, args := exportFrom(p)
	return `SELECT ` + exportColumns + from + ` ORDER BY r.id`, args
}

func exportFrom(p ExportParams) (string, []any) {
	args := []any{p.Source, p.IncludeDeleted}
	cond := "true"
	if p.Where != nil {
		var wargs []any
		cond, wargs = p.Where.SQL("r", len(args)+1)
		args = append(args, wargs...)
	}
	return exportFromSQL + cond, args
}

// Export writes the records p selects to sink, read in one REPEATABLE READ snapshot in id
// order, and returns how many it wrote. Rows stream from the database as the sink takes them,
// so memory stays flat whatever the size; a slow sink holds the snapshot (and its connection)
// longer. More than ExportConfig.MaxRunning exports at once is an error of kind
// [domainerr.ErrResourceExhausted]; a bad format or
// source is a [*domainerr.ValidationError].
func (x *Exporter) Export(ctx context.Context, p ExportParams, sink Sink) (int64, error) {
	format, err := ParseFormat("format", string(p.Format))
	if err != nil {
		return 0, err
	}
	if p.Source != "" {
		if err := records.ValidateSource("source", p.Source); err != nil {
			return 0, err
		}
	}
	select {
	case x.running <- struct{}{}:
		defer func() { <-x.running }()
	default:
		return 0, domainerr.New(domainerr.ErrResourceExhausted, "export.max_running (%d) exports are running; try again when one has ended",
			x.cfg.MaxRunning)
	}
	var n int64
	err = pgx.BeginTxFunc(ctx, x.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		n, err = x.export(ctx, tx, format, p, sink)
		return err
	})
	return n, err
}

func (x *Exporter) export(ctx context.Context, tx pgx.Tx, format Format, p ExportParams, sink Sink) (int64, error) {
	// The first statement takes the snapshot every later one reads.
	cursor, err := events.SnapshotCursor(ctx, tx)
	if err != nil {
		return 0, err
	}
	from, args := exportFrom(p)
	var total int64
	if err := tx.QueryRow(ctx, `SELECT count(*)`+from, args...).Scan(&total); err != nil {
		return 0, fmt.Errorf("error counting the records of the export: %w", err)
	}
	if err := sink.Start(Start{Cursor: cursor, Total: total}); err != nil {
		return 0, err
	}
	q, args := ExportSQL(p)
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("error reading the records of the export: %w", err)
	}
	defer rows.Close()

	var (
		r Record
		// The metadata and the earlier versions are scanned as the driver's own bytes, valid
		// until the next row, with neither a copy nor the validation pgx makes of a
		// json.RawMessage (json.Unmarshal, half of an export's CPU): each row is encoded before
		// the next is read.
		metadata, earlier pgtype.DriverBytes
		buf               []byte
		csvw              *csvWriter
		n, done           int64
	)
	if format == CSV {
		csvw = newCSVWriter()
		if err := csvw.header(); err != nil {
			return 0, err
		}
	}
	flush := func() error {
		if csvw != nil {
			b, err := csvw.take()
			if err != nil {
				return err
			}
			buf = append(buf[:0], b...)
		}
		if len(buf) == 0 && n == done {
			return nil
		}
		err := sink.Write(buf, n-done)
		buf, done = buf[:0], n
		return err
	}
	for rows.Next() {
		r.DeletedAt, earlier, r.Earlier = nil, nil, r.Earlier[:0]
		if err := rows.Scan(&r.ID, &r.Version, &metadata, &r.Source, &r.SourceID, &r.CreatedAt, &r.UpdatedAt,
			&r.DeletedAt, &earlier); err != nil {
			return n, fmt.Errorf("error reading the records of the export: %w", err)
		}
		r.Metadata = json.RawMessage(metadata)
		if earlier != nil {
			if r.Earlier, err = decodeEarlier(r.Earlier, earlier); err != nil {
				return n, fmt.Errorf("record %s: %w", r.ID, err)
			}
		}
		if csvw != nil {
			if err := csvw.write(x.domain, &r); err != nil {
				return n, err
			}
			n++
			if csvw.buf.Len() >= x.cfg.ChunkBytes {
				if err := flush(); err != nil {
					return n, err
				}
			}
			continue
		}
		buf = appendJSONL(buf, x.domain, &r)
		n++
		if len(buf) >= x.cfg.ChunkBytes {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("error reading the records of the export: %w", err)
	}
	if err := flush(); err != nil {
		return n, err
	}
	if n != total {
		// Impossible in one snapshot; a guard against a statement that drifts from the count.
		return n, errors.New("error exporting: the records read differ from the records counted")
	}
	return n, nil
}

// decodeEarlier appends to vs the earlier versions of a record as the export's statement
// gives them: a JSON array of [version, metadata, published_at].
func decodeEarlier(vs []Version, raw []byte) ([]Version, error) {
	var rows [][3]json.RawMessage
	if err := json.Unmarshal(raw, &rows); err != nil {
		return nil, fmt.Errorf("error reading earlier versions: %w", err)
	}
	for _, row := range rows {
		var (
			v  Version
			ts string
		)
		if err := json.Unmarshal(row[0], &v.Version); err != nil {
			return nil, fmt.Errorf("error reading earlier versions: %w", err)
		}
		if err := json.Unmarshal(row[2], &ts); err != nil {
			return nil, fmt.Errorf("error reading earlier versions: %w", err)
		}
		t, err := time.Parse("2006-01-02T15:04:05.999999Z07:00", ts)
		if err != nil {
			return nil, fmt.Errorf("error reading earlier versions: %w", err)
		}
		v.Metadata, v.PublishedAt = row[1], t
		vs = append(vs, v)
	}
	return vs, nil
}
