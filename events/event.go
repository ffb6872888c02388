package events

import (
	"time"

	"github.com/google/uuid"
)

// Type is the kind of an event: what happened to its record.
type Type string

// Types of record events.
const (
	// TypePublished is a new version of a record: its first, or one whose metadata changed.
	TypePublished Type = "record.published"
	// TypeDeleted is a record deleted at its version (it leaves a tombstone).
	TypeDeleted Type = "record.deleted"
	// TypeRestored is a deleted record published again under its (source, source_id): a new
	// version that brings it back.
	TypeRestored Type = "record.restored"
)

// Types lists every event type, in the order the API documents them.
var Types = []Type{TypePublished, TypeDeleted, TypeRestored}

// valid reports whether t is one of [Types].
func (t Type) valid() bool {
	for _, v := range Types {
		if t == v {
			return true
		}
	}
	return false
}

// Change is one change of a record, as a writer hands it to [InsertTx] in the transaction that
// makes it.
type Change struct {
	Type     Type
	RecordID uuid.UUID
	Version  int
	// Source and SourceID are the record's, "" when it has none.
	Source   string
	SourceID string
}

// Event is one change of a record as the feed delivers it.
type Event struct {
	// Cursor is the event's place in the feed: a read after it starts with the next event.
	Cursor Cursor
	Type   Type
	// RecordID and Version name the record and the version the change made (or, for a delete,
	// the version deleted).
	RecordID uuid.UUID
	Version  int
	Source   string
	SourceID string
	// CommittedAt is when the change was written, just before its transaction committed.
	CommittedAt time.Time
}
