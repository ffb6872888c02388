package dump

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/events"
	"github.com/osa-archive/osa/records"
)

// Defaults of imports.
const (
	ImportBatchSizeDefault    = 1000
	ImportMaxLineBytesDefault = 16 << 20
	ImportMaxProblemsDefault  = 1000
)

// ImportConfig configures an [Importer].
type ImportConfig struct {
	// BatchSize is how many records one transaction of an import writes (import.batch_size).
	// Defaults to 1000.
	BatchSize int
	// MaxLineBytes is the longest line an import reads (import.max_line_bytes); a longer one
	// is a bad line. A line holds a record with all its versions. Defaults to 16 MiB.
	MaxLineBytes int
	// MaxProblems is how many problems (bad lines, conflicts) an import lists in its result
	// (import.max_problems); it counts them all. Defaults to 1000.
	MaxProblems int
}

// WithDefaults returns c with every zero setting replaced by its default.
func (c ImportConfig) WithDefaults() ImportConfig {
	if c.BatchSize == 0 {
		c.BatchSize = ImportBatchSizeDefault
	}
	if c.MaxLineBytes == 0 {
		c.MaxLineBytes = ImportMaxLineBytesDefault
	}
	if c.MaxProblems == 0 {
		c.MaxProblems = ImportMaxProblemsDefault
	}
	return c
}

// Conflict says what an import does with a record that conflicts with one the archive has:
// the same id, or the same source and source id.
type Conflict string

// Conflict policies.
const (
	// ConflictRefuse leaves the archive's record as it is and reports the line as failed.
	ConflictRefuse Conflict = "refuse"
	// ConflictSkip leaves the archive's record as it is and reports the line as skipped.
	ConflictSkip Conflict = "skip"
)

// ParseConflict reads a conflict policy ("" is refuse); anything else is a
// [*domainerr.ValidationError] on field.
func ParseConflict(field, s string) (Conflict, error) {
	switch Conflict(s) {
	case "", ConflictRefuse:
		return ConflictRefuse, nil
	case ConflictSkip:
		return ConflictSkip, nil
	}
	return "", domainerr.Invalid(field, "%q is not a conflict policy: send %s or %s", s, ConflictRefuse, ConflictSkip)
}

// ImportParams configures one [Importer.Import].
type ImportParams struct {
	// OnConflict is what to do with a record that conflicts with the archive's; "" refuses.
	OnConflict Conflict
}

// Problem is a line an import did not write.
type Problem struct {
	// Line is the line's number, from 1.
	Line int64
	// Field names what is wrong in the line ("record.metadata", "earlierVersions[0]"), "" for
	// the line as a whole.
	Field string
	// Message says what is wrong and what to send instead.
	Message string
	// Skipped is set for a conflict skipped as asked (ConflictSkip): not an error.
	Skipped bool
}

// ImportResult is the outcome of [Importer.Import].
type ImportResult struct {
	// Lines is the number of lines read (blank lines are not counted).
	Lines int64
	// Imported is the number of records written.
	Imported int64
	// Unchanged is the number of records the archive already had exactly as the line has them
	// (an import run again): not written, not a problem.
	Unchanged int64
	// Skipped is the number of conflicting records left as they were (ConflictSkip).
	Skipped int64
	// Failed is the number of lines not written for an error: bad lines, and conflicts under
	// ConflictRefuse.
	Failed int64
	// Problems lists the lines skipped or failed, the first ImportConfig.MaxProblems found,
	// in line order.
	Problems []Problem
}

// Importer writes exports back into an archive, exactly. It is safe for concurrent use.
type Importer struct {
	cfg    ImportConfig
	domain string
	limits records.Limits
	pool   *pgxpool.Pool
}

// NewImporter returns an importer into the archive of pool's database, whose SRNs have domain
// and whose records meet limits; cfg gets its defaults.
func NewImporter(pool *pgxpool.Pool, domain string, limits records.Limits, cfg ImportConfig) *Importer {
	return &Importer{cfg: cfg.WithDefaults(), domain: domain, limits: limits, pool: pool}
}

// Import reads a JSONL export from r and writes its records with their ids, versions (every
// earlier version too), sources and timestamps, so that every SRN the export names resolves
// as it did, in transactions of ImportConfig.BatchSize records. Each record written gets one
// changefeed event in its transaction: record.published at its version, or record.deleted for
// a tombstone. No index job is enqueued: the caller has the backends rebuilt (the bulk path)
// once the import is done.
//
// A line that is not a valid record is a problem reported with its number and the field at
// fault, and nothing from it is written; a record whose id or source and source id the
// archive has already is left as it is and reported (failed or skipped, per
// p.OnConflict), unless the archive has it exactly as the line does (unchanged). An error is
// returned only when reading r or writing the database fails; the records of the batches
// written before it stay written, and the result says how many.
func (im *Importer) Import(ctx context.Context, r io.Reader, p ImportParams) (ImportResult, error) {
	var res ImportResult
	conflict, err := ParseConflict("on_conflict", string(p.OnConflict))
	if err != nil {
		return res, err
	}
	br := bufio.NewReaderSize(r, 1<<20)
	batch := make([]importLine, 0, im.cfg.BatchSize)
	var lineNo int64
	for {
		line, tooLong, err := readLine(br, im.cfg.MaxLineBytes)
		if len(line) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return res, fmt.Errorf("error reading the import: %w", err)
		}
		lineNo++
		if len(bytes.TrimSpace(line)) == 0 && !tooLong {
			continue
		}
		res.Lines++
		if tooLong {
			res.problem(im.cfg, Problem{Line: lineNo, Message: fmt.Sprintf("the line is over import.max_line_bytes (%d): "+
				"raise it, or send the record with fewer versions", im.cfg.MaxLineBytes)})
		} else if l, perr := im.parse(line); perr != nil {
			res.problem(im.cfg, lineProblem(lineNo, perr))
		} else {
			l.line = lineNo
			batch = append(batch, l)
		}
		if len(batch) == im.cfg.BatchSize {
			if err := im.write(ctx, batch, conflict, &res); err != nil {
				return res, err
			}
			batch = batch[:0]
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return res, fmt.Errorf("error reading the import: %w", err)
		}
	}
	if len(batch) > 0 {
		if err := im.write(ctx, batch, conflict, &res); err != nil {
			return res, err
		}
	}
	slices.SortStableFunc(res.Problems, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	return res, nil
}

// problem counts p and lists it while there is room.
func (res *ImportResult) problem(cfg ImportConfig, p Problem) {
	if p.Skipped {
		res.Skipped++
	} else {
		res.Failed++
	}
	if len(res.Problems) < cfg.MaxProblems {
		res.Problems = append(res.Problems, p)
	}
}

// lineProblem is the problem of line n that failed to parse with err.
func lineProblem(n int64, err error) Problem {
	var (
		ve *domainerr.ValidationError
		le *domainerr.LimitError
	)
	switch {
	case errors.As(err, &ve):
		return Problem{Line: n, Field: ve.Field, Message: ve.Reason}
	case errors.As(err, &le):
		return Problem{Line: n, Field: le.Field, Message: le.Reason}
	}
	return Problem{Line: n, Message: err.Error()}
}

// readLine returns the next line of br without its newline; tooLong is set (and the line's
// bytes dropped) when it is over max bytes. At the end of the input it returns what is left
// with io.EOF.
func readLine(br *bufio.Reader, max int) (line []byte, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > max+1 {
				tooLong, buf = true, nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case err == nil:
			return bytes.TrimSuffix(buf, []byte("\n")), tooLong, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		}
		if tooLong {
			buf = []byte{0}
		}
		return buf, tooLong, err
	}
}

// importLine is one valid line of an import.
type importLine struct {
	line int64
	rec  Record
}

// lineJSON is a line as protojson may write it: lowerCamelCase names, or the .proto's own.
type lineJSON struct {
	Record          *recordJSON   `json:"record"`
	EarlierVersions []versionJSON `json:"earlierVersions"`
	EarlierVersion2 []versionJSON `json:"earlier_versions"`
}

type recordJSON struct {
	Srn        string          `json:"srn"`
	Version    *int            `json:"version"`
	Metadata   json.RawMessage `json:"metadata"`
	Source     string          `json:"source"`
	SourceID   string          `json:"sourceId"`
	SourceID2  string          `json:"source_id"`
	CreatedAt  string          `json:"createdAt"`
	CreatedAt2 string          `json:"created_at"`
	UpdatedAt  string          `json:"updatedAt"`
	UpdatedAt2 string          `json:"updated_at"`
	DeletedAt  string          `json:"deletedAt"`
	DeletedAt2 string          `json:"deleted_at"`
}

type versionJSON struct {
	Version      int             `json:"version"`
	Metadata     json.RawMessage `json:"metadata"`
	PublishedAt  string          `json:"publishedAt"`
	PublishedAt2 string          `json:"published_at"`
}

// parse validates one line; its errors are [*domainerr.ValidationError]s (or LimitErrors)
// naming the field at fault as the line writes it.
func (im *Importer) parse(line []byte) (importLine, error) {
	var (
		l  lineJSON
		ok importLine
	)
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return ok, domainerr.Invalid("", "is not a line of a JSONL export (%v): send the lines osa export writes, "+
			`{"record": {...}, "earlierVersions": [...]}`, jsonError(err))
	}
	if dec.More() {
		return ok, domainerr.Invalid("", "has more than one JSON object: send one record a line")
	}
	if l.Record == nil {
		return ok, domainerr.Invalid("record", "is required: the record at its current version, as GetRecord answers it")
	}
	rj := l.Record
	srn, err := records.ParseSRN(rj.Srn)
	if err != nil {
		var ve *domainerr.ValidationError
		if errors.As(err, &ve) {
			return ok, domainerr.Invalid("record.srn", "%s", ve.Reason)
		}
		return ok, domainerr.Invalid("record.srn", "%v", err)
	}
	switch {
	case srn.Domain != im.domain:
		return ok, domainerr.Invalid("record.srn", "names domain %q, not this archive's %q (node.domain): its SRNs would change; "+
			"import it into an archive whose node.domain is %q", srn.Domain, im.domain, srn.Domain)
	case srn.Version == 0:
		return ok, domainerr.Invalid("record.srn", "has no @version: send the SRN of the record's current version")
	case rj.Version == nil:
		return ok, domainerr.Invalid("record.version", "is required")
	case *rj.Version != srn.Version:
		return ok, domainerr.Invalid("record.version", "is %d but the srn names version %d", *rj.Version, srn.Version)
	}
	r := Record{ID: srn.ID, Version: srn.Version, Source: rj.Source, SourceID: first(rj.SourceID, rj.SourceID2)}
	if r.Metadata, err = im.metadata("record.metadata", rj.Metadata); err != nil {
		return ok, err
	}
	if (r.Source == "") != (r.SourceID == "") {
		return ok, domainerr.Invalid("record.sourceId", "source and sourceId must be set together")
	}
	if r.Source != "" {
		if err := records.ValidateSource("record.source", r.Source); err != nil {
			return ok, err
		}
		if len(r.SourceID) > 500 || strings.ContainsFunc(r.SourceID, func(c rune) bool { return c < 0x20 || c == 0x7f }) {
			return ok, domainerr.Invalid("record.sourceId", "must be at most 500 bytes with no control characters")
		}
	}
	if r.CreatedAt, err = timestamp("record.createdAt", first(rj.CreatedAt, rj.CreatedAt2), true); err != nil {
		return ok, err
	}
	if r.UpdatedAt, err = timestamp("record.updatedAt", first(rj.UpdatedAt, rj.UpdatedAt2), true); err != nil {
		return ok, err
	}
	if d := first(rj.DeletedAt, rj.DeletedAt2); d != "" {
		t, err := timestamp("record.deletedAt", d, true)
		if err != nil {
			return ok, err
		}
		r.DeletedAt = &t
	}
	vs, name := l.EarlierVersions, "earlierVersions"
	if len(vs) == 0 && len(l.EarlierVersion2) > 0 {
		vs, name = l.EarlierVersion2, "earlier_versions"
	}
	if len(vs) != r.Version-1 {
		return ok, domainerr.Invalid(name, "has %d versions, but a record at version %d has %d before it: send versions 1 to %d, oldest first",
			len(vs), r.Version, r.Version-1, r.Version-1)
	}
	for i, v := range vs {
		field := fmt.Sprintf("%s[%d]", name, i)
		if v.Version != i+1 {
			return ok, domainerr.Invalid(field+".version", "is %d, want %d: send versions 1 to %d, oldest first", v.Version, i+1, r.Version-1)
		}
		ev := Version{Version: v.Version}
		if ev.Metadata, err = im.metadata(field+".metadata", v.Metadata); err != nil {
			return ok, err
		}
		if ev.PublishedAt, err = timestamp(field+".publishedAt", first(v.PublishedAt, v.PublishedAt2), true); err != nil {
			return ok, err
		}
		r.Earlier = append(r.Earlier, ev)
	}
	ok.rec = r
	return ok, nil
}

// metadata validates raw as a record's metadata under the importer's limits.
func (im *Importer) metadata(field string, raw json.RawMessage) (json.RawMessage, error) {
	if _, err := records.ValidateMetadata(field, raw, im.limits); err != nil {
		return nil, err
	}
	// PostgreSQL's jsonb cannot hold the NUL character.
	if bytes.Contains(raw, []byte(`\u0000`)) {
		return nil, domainerr.Invalid(field, `holds \u0000, which PostgreSQL cannot store: leave it out`)
	}
	return raw, nil
}

// timestamp reads an RFC 3339 timestamp of field; required says whether "" is an error.
func timestamp(field, s string, required bool) (time.Time, error) {
	if s == "" {
		if required {
			return time.Time{}, domainerr.Invalid(field, "is required (RFC 3339, e.g. 2024-05-01T10:00:00Z)")
		}
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, domainerr.Invalid(field, "%q is not an RFC 3339 timestamp: send e.g. 2024-05-01T10:00:00.123456Z", s)
	}
	return t, nil
}

// first returns a, or b when a is "".
func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// jsonError shortens a decoding error for a line's problem.
func jsonError(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}

// insertRecordsSQL writes the records of a batch that conflict with none the archive has (by
// id, or by source and source id), and returns the ids written. records.updated_at is the
// current version's publication, or the delete's time on a tombstone, as publishes and deletes
// leave it.
const insertRecordsSQL = `
INSERT INTO records (id, version, metadata, source, source_id, created_at, updated_at, deleted_at)
SELECT id, version, metadata, NULLIF(source, ''), NULLIF(source_id, ''), created_at, COALESCE(deleted_at, updated_at), deleted_at
FROM unnest($1::uuid[], $2::int[], $3::jsonb[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::timestamptz[])
    WITH ORDINALITY AS t(id, version, metadata, source, source_id, created_at, updated_at, deleted_at, n)
ORDER BY n
ON CONFLICT DO NOTHING
RETURNING id`

// sameSQL returns, of the ids $1 (records not written for a conflict), those the archive has
// exactly as their lines: same id, version, metadata, source, timestamps and tombstone.
const sameSQL = `
SELECT t.id FROM unnest($1::uuid[], $2::int[], $3::jsonb[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[], $8::timestamptz[])
    AS t(id, version, metadata, source, source_id, created_at, updated_at, deleted_at)
JOIN records r ON r.id = t.id
WHERE r.version = t.version AND r.metadata = t.metadata AND COALESCE(r.source, '') = t.source
  AND COALESCE(r.source_id, '') = t.source_id AND r.created_at = t.created_at
  AND r.updated_at = COALESCE(t.deleted_at, t.updated_at) AND r.deleted_at IS NOT DISTINCT FROM t.deleted_at`

// insertVersionsSQL writes the versions of the records written.
const insertVersionsSQL = `
INSERT INTO record_versions (record_id, version, metadata, created_at)
SELECT * FROM unnest($1::uuid[], $2::int[], $3::jsonb[], $4::timestamptz[])`

// recordArrays are a batch's records as the statements take them.
type recordArrays struct {
	ids                []uuid.UUID
	versions           []int32
	metadata           []string
	sources, sourceIDs []string
	created, updated   []time.Time
	deleted            []*time.Time
}

func (a *recordArrays) add(r *Record) {
	a.ids = append(a.ids, r.ID)
	a.versions = append(a.versions, int32(r.Version))
	a.metadata = append(a.metadata, string(r.Metadata))
	a.sources = append(a.sources, r.Source)
	a.sourceIDs = append(a.sourceIDs, r.SourceID)
	a.created = append(a.created, r.CreatedAt)
	a.updated = append(a.updated, r.UpdatedAt)
	a.deleted = append(a.deleted, r.DeletedAt)
}

func (a *recordArrays) args() []any {
	return []any{a.ids, a.versions, a.metadata, a.sources, a.sourceIDs, a.created, a.updated, a.deleted}
}

// write writes a batch in one transaction and counts its outcome in res.
func (im *Importer) write(ctx context.Context, batch []importLine, conflict Conflict, res *ImportResult) error {
	var all recordArrays
	for i := range batch {
		all.add(&batch[i].rec)
	}
	var conflicts []Problem
	var imported, unchanged int64
	err := pgx.BeginFunc(ctx, im.pool, func(tx pgx.Tx) error {
		conflicts, imported, unchanged = nil, 0, 0
		rows, err := tx.Query(ctx, insertRecordsSQL, all.args()...)
		if err != nil {
			return err
		}
		written, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return fmt.Errorf("error writing records: %w", err)
		}
		done := make(map[uuid.UUID]bool, len(written))
		for _, id := range written {
			done[id] = true
		}
		var (
			vIDs      []uuid.UUID
			vVersions []int32
			vMeta     []string
			vAt       []time.Time
			evs       []events.Change
			left      recordArrays
			leftLines []int64
		)
		for i := range batch {
			r := &batch[i].rec
			if !done[r.ID] {
				left.add(r)
				leftLines = append(leftLines, batch[i].line)
				continue
			}
			delete(done, r.ID) // a second line with the same id is a conflict
			for _, v := range r.Earlier {
				vIDs, vVersions, vMeta, vAt = append(vIDs, r.ID), append(vVersions, int32(v.Version)), append(vMeta, string(v.Metadata)),
					append(vAt, v.PublishedAt)
			}
			vIDs, vVersions, vMeta, vAt = append(vIDs, r.ID), append(vVersions, int32(r.Version)), append(vMeta, string(r.Metadata)),
				append(vAt, r.UpdatedAt)
			typ := events.TypePublished
			if r.DeletedAt != nil {
				typ = events.TypeDeleted
			}
			evs = append(evs, events.Change{Type: typ, RecordID: r.ID, Version: r.Version, Source: r.Source, SourceID: r.SourceID})
		}
		imported = int64(len(evs))
		if len(vIDs) > 0 {
			if _, err := tx.Exec(ctx, insertVersionsSQL, vIDs, vVersions, vMeta, vAt); err != nil {
				return fmt.Errorf("error writing record versions: %w", err)
			}
		}
		if err := events.InsertTx(ctx, tx, evs); err != nil {
			return err
		}
		if len(left.ids) == 0 {
			return nil
		}
		rows, err = tx.Query(ctx, sameSQL, left.args()...)
		if err != nil {
			return err
		}
		same, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return fmt.Errorf("error comparing conflicting records: %w", err)
		}
		isSame := make(map[uuid.UUID]bool, len(same))
		for _, id := range same {
			isSame[id] = true
		}
		for i, id := range left.ids {
			if isSame[id] {
				unchanged++
				isSame[id] = false // a second such line conflicts with the first
				continue
			}
			p := Problem{Line: leftLines[i], Field: "record.srn", Skipped: conflict == ConflictSkip,
				Message: fmt.Sprintf("the archive has a record with this id, or with this source and sourceId (%s/%s), "+
					"that differs from the line: it is left as it is", left.sources[i], left.sourceIDs[i])}
			if left.sources[i] == "" {
				p.Message = "the archive has a record with this id that differs from the line: it is left as it is"
			}
			if conflict == ConflictRefuse {
				p.Message += " (send on_conflict skip to skip such records without failing)"
			}
			conflicts = append(conflicts, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	res.Imported += imported
	res.Unchanged += unchanged
	for _, p := range conflicts {
		res.problem(im.cfg, p)
	}
	return nil
}
