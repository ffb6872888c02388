package pipeline

import (
	"github.com/google/uuid"
	"github.com/riverqueue/river"
)

// QueueFanOut is the queue of fan-out jobs.
const QueueFanOut = "fanout"

// FanOutArgs asks for one [IndexRecordArgs] job per backend for each record change of one
// transaction: a publish call (up to records.max_batch records), a harvest chunk or a delete
// enqueues one fan-out job, not one per record.
type FanOutArgs struct {
	// Changes are the record versions the transaction made.
	Changes []FanOutChange `json:"changes,omitempty"`
	// RecordID and Version are the one change of a fan-out job enqueued by an OSA that enqueued
	// one job per record (before issue 19); such a job may still wait in the queue after an
	// upgrade. Unset in new jobs.
	RecordID uuid.UUID `json:"record_id,omitzero"`
	Version  int       `json:"version,omitzero"`
	// Priority is passed on to the index jobs (records.PriorityInteractive or PriorityBulk).
	Priority int `json:"priority"`
}

// FanOutChange is one record version a fan-out job fans out.
type FanOutChange struct {
	RecordID uuid.UUID `json:"record_id"`
	Version  int       `json:"version"`
}

// changes returns the job's changes, the one of a job of the former shape included.
func (a FanOutArgs) changes() []FanOutChange {
	if a.RecordID != uuid.Nil {
		return append([]FanOutChange{{RecordID: a.RecordID, Version: a.Version}}, a.Changes...)
	}
	return a.Changes
}

// Kind implements river.JobArgs.
func (FanOutArgs) Kind() string { return "osa_fanout" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (FanOutArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: QueueFanOut} }

// IndexRecordArgs asks one backend to bring a record to its current state.
type IndexRecordArgs struct {
	Backend  string    `json:"backend"`
	RecordID uuid.UUID `json:"record_id"`
	// Version is the version that was current at fan-out; the worker indexes whatever is
	// current when it runs.
	Version int `json:"version"`
}

// Kind implements river.JobArgs.
func (IndexRecordArgs) Kind() string { return "osa_index_record" }
