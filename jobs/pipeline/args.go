package pipeline

import (
	"github.com/google/uuid"
	"github.com/riverqueue/river"
)

// QueueFanOut is the queue of fan-out jobs.
const QueueFanOut = "fanout"

// FanOutArgs asks for one [IndexRecordArgs] job per backend for a record change.
type FanOutArgs struct {
	RecordID uuid.UUID `json:"record_id"`
	Version  int       `json:"version"`
	// Priority is passed on to the index jobs (records.PriorityInteractive or PriorityBulk).
	Priority int `json:"priority"`
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
