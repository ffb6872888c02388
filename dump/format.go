package dump

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/records"
)

// Format is the file format of an export.
type Format string

// Export formats.
const (
	// JSONL is one JSON object per line, the protojson form of osa.v1.ExportedRecord: the
	// format [Importer.Import] reads back (see the package doc).
	JSONL Format = "jsonl"
	// CSV is one row per record with the common fields flattened and the metadata as one JSON
	// column, for spreadsheets; it keeps no earlier versions and is not read back.
	CSV Format = "csv"
)

// ParseFormat reads a format name ("" is JSONL); anything else is a
// [*domainerr.ValidationError] on field.
func ParseFormat(field, s string) (Format, error) {
	switch Format(s) {
	case "", JSONL:
		return JSONL, nil
	case CSV:
		return CSV, nil
	}
	return "", domainerr.Invalid(field, "%q is not an export format: send %s or %s", s, JSONL, CSV)
}

// CSVColumns are the columns of a CSV export, in order, as its header row names them.
var CSVColumns = []string{"srn", "id", "version", "source", "source_id", "created_at", "updated_at", "deleted_at", "metadata"}

// Version is an earlier version of an exported record.
type Version struct {
	Version  int
	Metadata json.RawMessage
	// PublishedAt is when the version was published.
	PublishedAt time.Time
}

// Record is one record as an export writes it and an import reads it: the record at its
// current version, and its earlier versions.
type Record struct {
	ID       uuid.UUID
	Version  int
	Metadata json.RawMessage
	Source   string
	SourceID string
	// CreatedAt is when version 1 was published; UpdatedAt when the current version was.
	CreatedAt time.Time
	UpdatedAt time.Time
	// DeletedAt is set on a tombstone.
	DeletedAt *time.Time
	// Earlier are the versions before Version, oldest first.
	Earlier []Version
}

// appendJSONL appends r as one line of a JSONL export, with its newline. The metadata is
// written compact, in the key order PostgreSQL's jsonb gives it, so a record stored again
// from the line is written again as the same bytes.
func appendJSONL(b []byte, domain string, r *Record) []byte {
	b = append(b, `{"record":{"srn":`...)
	b = appendString(b, records.SRN{Domain: domain, ID: r.ID, Version: r.Version}.String())
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(r.Version), 10)
	b = append(b, `,"metadata":`...)
	b = appendCompact(b, r.Metadata)
	if r.Source != "" {
		b = append(b, `,"source":`...)
		b = appendString(b, r.Source)
		b = append(b, `,"sourceId":`...)
		b = appendString(b, r.SourceID)
	}
	b = append(b, `,"createdAt":"`...)
	b = appendTimestamp(b, r.CreatedAt)
	b = append(b, `","updatedAt":"`...)
	b = appendTimestamp(b, r.UpdatedAt)
	b = append(b, '"')
	if r.DeletedAt != nil {
		b = append(b, `,"deletedAt":"`...)
		b = appendTimestamp(b, *r.DeletedAt)
		b = append(b, '"')
	}
	b = append(b, '}')
	if len(r.Earlier) > 0 {
		b = append(b, `,"earlierVersions":[`...)
		for i, v := range r.Earlier {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"version":`...)
			b = strconv.AppendInt(b, int64(v.Version), 10)
			b = append(b, `,"metadata":`...)
			b = appendCompact(b, v.Metadata)
			b = append(b, `,"publishedAt":"`...)
			b = appendTimestamp(b, v.PublishedAt)
			b = append(b, `"}`...)
		}
		b = append(b, ']')
	}
	return append(b, "}\n"...)
}

// appendCompact appends raw, the text PostgreSQL gives of a json or jsonb value, without its
// insignificant space: what json.Compact writes, without its validation, which PostgreSQL has
// done and which cost an export more than the rest of its encoding. A string is copied whole:
// its end is the next quote that an even number of backslashes precedes.
func appendCompact(b []byte, raw []byte) []byte {
	from := 0
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case ' ', '\n', '\t', '\r':
			b = append(b, raw[from:i]...)
			from = i + 1
		case '"':
			for {
				q := bytes.IndexByte(raw[i+1:], '"')
				if q < 0 {
					return append(b, raw[from:]...) // not JSON: copied as it is
				}
				i += 1 + q
				backslashes := 0
				for k := i - 1; raw[k] == '\\'; k-- {
					backslashes++
				}
				if backslashes%2 == 0 {
					break
				}
			}
		}
	}
	return append(b, raw[from:]...)
}

// appendString appends s as a JSON string, as json.Marshal writes it.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		// Anything json.Marshal escapes (quotes, backslashes, control characters, <, > and &)
		// or checks (non-ASCII: invalid UTF-8, U+2028, U+2029) takes the slow path.
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' || c >= 0x80 {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendTimestamp appends t as protojson writes a google.protobuf.Timestamp: RFC 3339 in UTC
// with 0, 3, 6 or 9 digits of fraction, and Z.
func appendTimestamp(b []byte, t time.Time) []byte {
	t = t.UTC()
	b = t.AppendFormat(b, "2006-01-02T15:04:05")
	if ns := t.Nanosecond(); ns != 0 {
		digits := 9
		for digits > 3 && ns%1000 == 0 {
			ns /= 1000
			digits -= 3
		}
		b = append(b, '.')
		for p := pow10(digits - 1); p > 0; p /= 10 {
			b = append(b, byte('0'+ns/p%10))
		}
	}
	return append(b, 'Z')
}

// pow10 returns 10ⁿ.
func pow10(n int) int {
	p := 1
	for range n {
		p *= 10
	}
	return p
}

// csvWriter writes the rows of a CSV export into a buffer.
type csvWriter struct {
	buf bytes.Buffer
	w   *csv.Writer
	row []string
}

func newCSVWriter() *csvWriter {
	c := &csvWriter{row: make([]string, len(CSVColumns))}
	c.w = csv.NewWriter(&c.buf)
	return c
}

// header writes the header row.
func (c *csvWriter) header() error { return c.w.Write(CSVColumns) }

// write writes r as one row.
func (c *csvWriter) write(domain string, r *Record) error {
	meta := appendCompact(nil, r.Metadata)
	deleted := ""
	if r.DeletedAt != nil {
		deleted = string(appendTimestamp(nil, *r.DeletedAt))
	}
	c.row[0] = records.SRN{Domain: domain, ID: r.ID, Version: r.Version}.String()
	c.row[1] = r.ID.String()
	c.row[2] = strconv.Itoa(r.Version)
	c.row[3], c.row[4] = r.Source, r.SourceID
	c.row[5] = string(appendTimestamp(nil, r.CreatedAt))
	c.row[6] = string(appendTimestamp(nil, r.UpdatedAt))
	c.row[7] = deleted
	c.row[8] = string(meta)
	return c.w.Write(c.row)
}

// take flushes the rows written so far and returns their bytes, valid until the next write.
func (c *csvWriter) take() ([]byte, error) {
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return nil, err
	}
	b := c.buf.Bytes()
	c.buf.Reset()
	return b, nil
}
