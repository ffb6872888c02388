// Package harvest runs the harvests of sources: [Start] records a harvest and enqueues its first
// chunk; each chunk job ([ChunkWorker]) fetches a page of the source and publishes its records
// through the record store, in one transaction with its progress and the next chunk, so a harvest
// resumes where it was after a crash; [ScheduleWorker] starts the harvests of scheduled sources.
package harvest

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/records"
	"github.com/osa-archive/osa/sources"
)

// Queue is the queue of harvest jobs: the chunks of every harvest and the scheduled starts.
const Queue = "sources"

// Harvest settings.
const (
	// MaxWorkers is MaxWorkers of the sources queue in a process. A harvest runs one chunk
	// at a time, so this is how many harvests a process works on at once.
	MaxWorkers = 4
	// MaxAttempts is how often a chunk job is tried before its harvest fails. Each try
	// already retries its requests (see sources/geo), so a failing chunk means a source that
	// stays down.
	MaxAttempts = 3
)

// States of a harvest, the values of [Harvest.State].
const (
	Running   = "running"
	Succeeded = "succeeded"
	Failed    = "failed"
)

// ErrNotFound is returned by [Get] for an id no harvest has; it is of kind
// [domainerr.ErrNotFound].
var ErrNotFound = domainerr.New(domainerr.ErrNotFound, "harvest not found")

// RunningError is returned by [Start] when a harvest of the source is already
// running: a source is harvested by one harvest at a time.
type RunningError struct {
	// Source is the source's name.
	Source string
	// ID is the running harvest's id; 0 when another process started it a moment ago.
	ID int64
}

// Is reports whether target is [domainerr.ErrAlreadyExists], the error's kind.
func (e *RunningError) Is(target error) bool { return target == domainerr.ErrAlreadyExists }

// Error names the running harvest.
func (e *RunningError) Error() string {
	if e.ID == 0 {
		return fmt.Sprintf("a harvest of source %q is already running", e.Source)
	}
	return fmt.Sprintf("harvest %d of source %q is still running; follow it with Get or wait for it to end", e.ID, e.Source)
}

// Harvest is one harvest of a source: its parameters, state and counters.
type Harvest struct {
	ID     int64
	Source string
	// State is Running, Succeeded or Failed.
	State string
	// Limit is the most records the harvest fetches; 0 means all.
	Limit int
	// Since, as YYYY-MM-DD, limits the harvest to records published on or after that day.
	Since string
	// ChunkSize is the number of documents one chunk job fetches.
	ChunkSize int
	// Total is the size of the source's result set, capped by Limit; 0 until the first chunk.
	Total int64
	// Fetched counts the documents fetched: Published + Unchanged + Skipped.
	Fetched int64
	// Published counts the records published as new records or new versions.
	Published int64
	// Unchanged counts the records whose metadata equalled the stored version.
	Unchanged int64
	// Skipped counts the documents not published: not convertible, not fetched, or over a
	// record limit.
	Skipped int64
	// Unfetched counts the skipped documents the source listed but could not return (for GEO,
	// the uids esummary answered with an error).
	Unfetched int64
	// UnfetchedIDs are the ids of the first of them (for GEO, uids), at most the source's
	// [sources.Entry.MaxUnfetchedIDs]; Unfetched counts them all.
	UnfetchedIDs []string
	// Warnings counts the values left out of published records because they could not be read
	// (a numeric field holding "", say); the records are published without them.
	Warnings int64
	// Error says why a failed harvest failed.
	Error      string
	StartedAt  time.Time
	FinishedAt *time.Time
}

// harvestParams is the params column of a harvest.
type harvestParams struct {
	ChunkSize int    `json:"chunk_size"`
	Limit     int    `json:"limit"`
	Since     string `json:"since,omitempty"`
}

// Request asks [Start] for a harvest.
type Request struct {
	// Source is the name of the source to harvest. Required.
	Source string
	// Limit is the most records to fetch; 0 means all.
	Limit int
	// Since, as YYYY-MM-DD, limits the harvest to records published on or after that day;
	// empty means the whole source.
	Since string
	// ChunkSize is the number of documents each chunk job fetches and publishes, at most the
	// source's MaxPageSize; 0 means the source's PageSize.
	ChunkSize int
}

// ChunkArgs is one chunk of a harvest: fetch the page at Cursor, publish it, and enqueue
// the next chunk, in one transaction.
type ChunkArgs struct {
	// HarvestID is the harvest the chunk belongs to.
	HarvestID int64 `json:"harvest_id"`
	// Source is the name of the harvested source.
	Source string `json:"source"`
	// Limit is the harvest's limit; 0 means all. The chunk never fetches past it.
	Limit int `json:"limit"`
	// ChunkSize is the most documents the chunk fetches.
	ChunkSize int `json:"chunk_size"`
	// Cursor is where the chunk starts, with the source's session (for GEO, the WebEnv of the
	// harvest's search), so that a resumed harvest does not search again.
	Cursor sources.Cursor `json:"cursor"`
}

// Kind implements river.JobArgs.
func (ChunkArgs) Kind() string { return "osa_harvest_chunk" }

// InsertOpts implements river.JobArgsWithInsertOpts: queue sources, bulk priority.
func (ChunkArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: Queue, Priority: records.PriorityBulk, MaxAttempts: MaxAttempts}
}

// Start validates req against the registry and, in one transaction, records a running
// harvest and enqueues its first chunk. Errors: a *domainerr.ValidationError naming the field
// (source, limit, since, chunk_size); [sources.ErrUnknownSource]; [sources.ErrDisabled]; a
// *[RunningError] when the source is being harvested already.
func Start(ctx context.Context, client *river.Client[pgx.Tx], pool *pgxpool.Pool, reg *sources.Registry, req Request) (Harvest, error) {
	var h Harvest
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		h, err = StartTx(ctx, client, tx, reg, req)
		return err
	})
	return h, err
}

// StartTx is [Start] inside the caller's transaction.
func StartTx(ctx context.Context, client *river.Client[pgx.Tx], tx pgx.Tx, reg *sources.Registry, req Request) (Harvest, error) {
	p, err := validate(reg, req)
	if err != nil {
		return Harvest{}, err
	}
	var running int64
	err = tx.QueryRow(ctx, `SELECT id FROM harvests WHERE source = $1 AND state = 'running' ORDER BY id LIMIT 1`, req.Source).Scan(&running)
	switch {
	case err == nil:
		return Harvest{}, &RunningError{Source: req.Source, ID: running}
	case !errors.Is(err, pgx.ErrNoRows):
		return Harvest{}, fmt.Errorf("error looking for a running harvest: %w", err)
	}
	params, err := json.Marshal(p)
	if err != nil {
		return Harvest{}, err
	}
	h, err := scanHarvest(tx.QueryRow(ctx, `INSERT INTO harvests (source, params) VALUES ($1, $2) RETURNING `+harvestColumns,
		req.Source, params))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" { // harvests_one_running: another process won the race
		return Harvest{}, &RunningError{Source: req.Source}
	}
	if err != nil {
		return Harvest{}, fmt.Errorf("error recording the harvest: %w", err)
	}
	_, err = client.InsertTx(ctx, tx, ChunkArgs{
		HarvestID: h.ID, Source: h.Source, Limit: p.Limit, ChunkSize: p.ChunkSize,
		Cursor: sources.Cursor{Since: p.Since},
	}, nil)
	if err != nil {
		return Harvest{}, fmt.Errorf("error enqueuing the first chunk: %w", err)
	}
	return h, nil
}

// validate checks req and returns the harvest's parameters, chunk size defaulted.
func validate(reg *sources.Registry, req Request) (harvestParams, error) {
	if req.Source == "" {
		return harvestParams{}, domainerr.Invalid("source", "is required (configured sources: %v)", reg.Names())
	}
	entry, err := reg.Lookup(req.Source)
	if err != nil {
		return harvestParams{}, err
	}
	if !entry.Enabled {
		return harvestParams{}, fmt.Errorf("%w: %q cannot be harvested until it is enabled in the configuration (sources[].enabled)",
			sources.ErrDisabled, req.Source)
	}
	switch {
	case req.Limit < 0:
		return harvestParams{}, domainerr.Invalid("limit", "%d is negative (0 means all records)", req.Limit)
	case req.ChunkSize < 0:
		return harvestParams{}, domainerr.Invalid("chunk_size", "%d is negative (0 means the source's page size, %d)", req.ChunkSize, entry.PageSize)
	case req.ChunkSize > entry.MaxPageSize:
		return harvestParams{}, domainerr.Invalid("chunk_size", "%d is over the maximum of %d for source %q", req.ChunkSize, entry.MaxPageSize, req.Source)
	}
	if req.Since != "" {
		if _, err := time.Parse(time.DateOnly, req.Since); err != nil {
			return harvestParams{}, domainerr.Invalid("since", "%q is not a date in YYYY-MM-DD form", req.Since)
		}
	}
	return harvestParams{ChunkSize: cmp.Or(req.ChunkSize, entry.PageSize), Limit: req.Limit, Since: req.Since}, nil
}

// harvestColumns are the columns [scanHarvest] reads.
const harvestColumns = `id, source, params, state, total, fetched, published, unchanged, skipped, unfetched, unfetched_ids,
	warnings, COALESCE(error, ''), started_at, finished_at`

func scanHarvest(row pgx.Row) (Harvest, error) {
	var (
		h      Harvest
		params []byte
	)
	err := row.Scan(&h.ID, &h.Source, &params, &h.State, &h.Total, &h.Fetched, &h.Published, &h.Unchanged, &h.Skipped,
		&h.Unfetched, &h.UnfetchedIDs, &h.Warnings, &h.Error, &h.StartedAt, &h.FinishedAt)
	if err != nil {
		return Harvest{}, err
	}
	var p harvestParams
	if err := json.Unmarshal(params, &p); err != nil {
		return Harvest{}, fmt.Errorf("error reading the params of harvest %d: %w", h.ID, err)
	}
	h.Limit, h.Since, h.ChunkSize = p.Limit, p.Since, p.ChunkSize
	return h, nil
}

// Get returns the harvest with id, or [ErrNotFound].
func Get(ctx context.Context, pool *pgxpool.Pool, id int64) (Harvest, error) {
	h, err := scanHarvest(pool.QueryRow(ctx, `SELECT `+harvestColumns+` FROM harvests WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Harvest{}, ErrNotFound
	}
	return h, err
}

// Last returns the most recent harvest of each of names that was ever harvested, by
// source name.
func Last(ctx context.Context, pool *pgxpool.Pool, names []string) (map[string]Harvest, error) {
	rows, err := pool.Query(ctx, `SELECT DISTINCT ON (source) `+harvestColumns+` FROM harvests
		WHERE source = ANY($1) ORDER BY source, id DESC`, names)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Harvest, error) { return scanHarvest(row) })
	if err != nil {
		return nil, err
	}
	out := make(map[string]Harvest, len(list))
	for _, h := range list {
		out[h.Source] = h
	}
	return out, nil
}
