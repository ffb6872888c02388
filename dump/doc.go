// Package dump writes the records of an archive to a file, in one consistent snapshot with
// the changefeed cursor of that snapshot ([Exporter.Export]), and reads such a file back into
// an archive exactly ([Importer.Import]).
//
// # The JSONL line
//
// A JSONL export holds one record a line, in record id order: the protojson form of
// osa.v1.ExportedRecord, written compact, with no space between tokens, for example (cut
// here over three lines):
//
//	{"record":{"srn":"urn:osa:localhost:rec:0190…@2","version":2,"metadata":{…},"source":"geo",
//	"sourceId":"GSE1","createdAt":"2024-05-01T10:00:00.123456Z","updatedAt":"…","deletedAt":"…"},
//	"earlierVersions":[{"version":1,"metadata":{…},"publishedAt":"…"}]}
//
// Its fields:
//
//   - record is the record at its current version, as GetRecord answers it: srn (with the
//     version; its domain is the archive's node.domain), version, metadata, source and
//     sourceId (left out when the record has none), createdAt (version 1's publication),
//     updatedAt (the current version's) and, on a tombstone only, deletedAt.
//   - earlierVersions are the versions before it, oldest first, each with its metadata and
//     publishedAt; left out for a record at version 1. With them an import restores every
//     SRN, @version included.
//   - Timestamps are RFC 3339 in UTC with 0, 3, 6 or 9 digits of fraction, as protojson
//     writes a google.protobuf.Timestamp; PostgreSQL keeps microseconds.
//   - metadata is the stored JSON object, compact, with its keys in the order PostgreSQL's
//     jsonb keeps them (by length, then bytes) and its numbers as stored. A file read back by
//     an import and exported again is therefore the same bytes.
//
// An import also reads the .proto's own field names (source_id, earlier_versions, …), as
// protojson does, and refuses any other field.
//
// # CSV
//
// A CSV export (RFC 4180, as encoding/csv writes it) has a header row naming [CSVColumns],
// then one row a record: srn, id, version, source, source_id, created_at, updated_at,
// deleted_at (empty while the record is live) and metadata, the whole JSON object in one
// column. It keeps no earlier versions and is not read back.
//
// # The snapshot and the cursor
//
// An export reads in one REPEATABLE READ, READ ONLY transaction: its first statement takes
// the snapshot and the changefeed cursor of that snapshot ([events.SnapshotCursor]), the next
// counts the records, the last streams them, a row at a time, into chunks of
// ExportConfig.ChunkBytes handed to the [Sink] as they fill. Memory stays flat whatever the
// size; the transaction holds no xid, so it never stalls the changefeed, but its snapshot
// keeps VACUUM from removing rows deleted since, for as long as the client reads. A follower
// that loads the export and then reads the feed after the cursor gets every change the export
// does not hold, once, and none that it does (the argument is in package events).
package dump
