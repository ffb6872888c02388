package sdk

import (
	"context"
	"fmt"
	"time"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
)

// HarvestState is the lifecycle state of a harvest.
type HarvestState string

const (
	// HarvestRunning: the harvest is fetching and publishing records.
	HarvestRunning HarvestState = "running"
	// HarvestSucceeded: the harvest finished and handled everything it fetched.
	HarvestSucceeded HarvestState = "succeeded"
	// HarvestFailed: the harvest stopped on an error; what it published stays published.
	HarvestFailed HarvestState = "failed"
)

var harvestStates = map[osav1.HarvestState]HarvestState{
	osav1.HarvestState_HARVEST_STATE_RUNNING:   HarvestRunning,
	osav1.HarvestState_HARVEST_STATE_SUCCEEDED: HarvestSucceeded,
	osav1.HarvestState_HARVEST_STATE_FAILED:    HarvestFailed,
}

// Harvest is one run of fetching records from a source and publishing them as upserts.
type Harvest struct {
	// ID identifies the harvest.
	ID int64 `json:"id"`
	// Source is the harvested source's name.
	Source string `json:"source"`
	// State is where the harvest stands.
	State HarvestState `json:"state"`
	// Total is how many records the harvest expects (what the source reports, capped by
	// Limit); 0 while not known.
	Total int64 `json:"total"`
	// Fetched is how many records were fetched so far.
	Fetched int64 `json:"fetched"`
	// Published is how many fetched records became a new record or version.
	Published int64 `json:"published"`
	// Unchanged is how many fetched records matched the stored version.
	Unchanged int64 `json:"unchanged"`
	// Skipped is how many fetched records could not be converted, could not be fetched
	// (Unfetched) or broke a record limit.
	Skipped int64 `json:"skipped"`
	// Unfetched is how many records the source listed but could not return (for GEO, the
	// uids NCBI answered with an error); they are counted in Skipped too.
	Unfetched int64 `json:"unfetched,omitempty"`
	// UnfetchedIDs are the source's ids (GEO uids) of the first unfetched records, capped by
	// the source's max_unfetched_ids; Unfetched counts them all.
	UnfetchedIDs []string `json:"unfetched_ids,omitempty"`
	// Warnings is how many values were left out of published records because the source sent
	// them in an unreadable shape (a GEO n_samples of "", say).
	Warnings int64 `json:"warnings,omitempty"`
	// Error says why the harvest failed; empty unless State is [HarvestFailed].
	Error string `json:"error,omitempty"`
	// Limit is the most records to fetch, as requested; 0 means all.
	Limit int64 `json:"limit,omitempty"`
	// Since is the lower date bound as requested (YYYY-MM-DD); empty means all.
	Since string `json:"since,omitempty"`
	// ChunkSize is the number of records fetched and published per chunk.
	ChunkSize int `json:"chunk_size,omitempty"`
	// StartedAt is when the harvest started.
	StartedAt time.Time `json:"started_at"`
	// FinishedAt is when it ended; nil while running.
	FinishedAt *time.Time `json:"finished_at,omitempty"`

	pb *osav1.Harvest // what it was read from, for Proto
}

// Proto returns the API message h was read from, so that a caller can print the API's own
// JSON form (protojson, as the Connect JSON API answers), as osa --json does. It is nil for a
// Harvest not read from a server. The message is shared: do not modify it.
func (h *Harvest) Proto() *osav1.Harvest { return h.pb }

// Ended reports whether the harvest has ended, successfully or not.
func (h *Harvest) Ended() bool { return h.State == HarvestSucceeded || h.State == HarvestFailed }

func fromHarvest(h *osav1.Harvest) *Harvest {
	if h == nil {
		return nil
	}
	return &Harvest{ID: h.Id, Source: h.Source, State: harvestStates[h.State], Total: h.Total, Fetched: h.Fetched,
		Published: h.Published, Unchanged: h.Unchanged, Skipped: h.Skipped, Unfetched: h.Unfetched,
		UnfetchedIDs: h.UnfetchedIds, Warnings: h.Warnings, Error: h.Error, Limit: h.Limit,
		Since: h.Since, ChunkSize: int(h.ChunkSize), StartedAt: fromTime(h.StartedAt), FinishedAt: fromTimePtr(h.FinishedAt), pb: h}
}

// Source is one configured external source of records.
type Source struct {
	// Name is the source's name; harvested records carry it as [Record].Source.
	Name string `json:"name"`
	// Kind is the connector, e.g. "geo_entrez".
	Kind string `json:"kind"`
	// Enabled is whether the source may be harvested.
	Enabled bool `json:"enabled"`
	// Schedule is the cron schedule of automatic harvests; empty when none.
	Schedule string `json:"schedule,omitempty"`
	// LastHarvest is the most recent harvest; nil when there was none.
	LastHarvest *Harvest `json:"last_harvest,omitempty"`
}

// Sources lists the configured sources, each with its most recent harvest.
func (c *Client) Sources(ctx context.Context) ([]Source, error) {
	res, err := unary(ctx, c, osav1connect.SourceServiceListSourcesProcedure, true, &osav1.ListSourcesRequest{}, c.sources.ListSources)
	if err != nil {
		return nil, err
	}
	out := make([]Source, len(res.Sources))
	for i, s := range res.Sources {
		out[i] = Source{Name: s.Name, Kind: s.Kind, Enabled: s.Enabled, Schedule: s.Schedule, LastHarvest: fromHarvest(s.LastHarvest)}
	}
	return out, nil
}

// HarvestOpts are the optional settings of [Client.StartHarvest]; nil means all defaults.
type HarvestOpts struct {
	// Limit is the most records to fetch; 0 means all.
	Limit int64
	// Since, a YYYY-MM-DD date, fetches only records the source reports as published on or
	// after that day; empty means all.
	Since string
	// ChunkSize is the number of records fetched and published per chunk; 0 means the
	// source's configured page size.
	ChunkSize int
}

// StartHarvest starts a harvest of source in the background and returns it, running; follow it
// with [Client.Harvest] or [Client.WaitHarvest]. Errors: [ErrInvalidArgument] naming the field,
// [ErrNotFound] (no such source), [ErrFailedPrecondition] (the source is disabled),
// [ErrAlreadyExists] (a harvest of the source is running; the message names its id),
// [ErrPermissionDenied] (the token lacks sources:run). StartHarvest is not retried on
// Unavailable.
func (c *Client) StartHarvest(ctx context.Context, source string, opts *HarvestOpts) (*Harvest, error) {
	var o HarvestOpts
	if opts != nil {
		o = *opts
	}
	res, err := unary(ctx, c, osav1connect.SourceServiceStartHarvestProcedure, false,
		&osav1.StartHarvestRequest{Source: source, Limit: o.Limit, Since: o.Since, ChunkSize: clamp32(o.ChunkSize)},
		c.sources.StartHarvest)
	if err != nil {
		return nil, err
	}
	return fromHarvest(res.Harvest), nil
}

// Harvest returns the harvest id with its current state and counters. Errors:
// [ErrInvalidArgument] (field "id") when id is not positive, [ErrNotFound].
func (c *Client) Harvest(ctx context.Context, id int64) (*Harvest, error) {
	res, err := unary(ctx, c, osav1connect.SourceServiceGetHarvestProcedure, true, &osav1.GetHarvestRequest{Id: id}, c.sources.GetHarvest)
	if err != nil {
		return nil, err
	}
	return fromHarvest(res.Harvest), nil
}

// HarvestFailedError is the error of [Client.WaitHarvest] for a harvest that ended in
// [HarvestFailed]. errors.Is(err, [ErrHarvestFailed]) holds for it.
type HarvestFailedError struct {
	// Harvest is the failed harvest.
	Harvest *Harvest
}

// Error returns e.g. `sdk: harvest 7 of geo failed: esearch: 503 Service Unavailable`.
func (e *HarvestFailedError) Error() string {
	return fmt.Sprintf("sdk: harvest %d of %s failed: %s", e.Harvest.ID, e.Harvest.Source, e.Harvest.Error)
}

// Is reports whether target is [ErrHarvestFailed].
func (e *HarvestFailedError) Is(target error) bool { return target == ErrHarvestFailed }

// WaitHarvest polls the harvest id until it ends and returns it. progress, when not nil, is
// called with every state polled, the last included, for example to draw a progress bar. A
// harvest that failed is returned with a [*HarvestFailedError]. Polls are spaced as
// [WithPollInterval] says; WaitHarvest returns ctx's error (and the last state) when ctx ends
// first.
func (c *Client) WaitHarvest(ctx context.Context, id int64, progress func(*Harvest)) (*Harvest, error) {
	p := c.newPoller()
	for {
		h, err := c.Harvest(ctx, id)
		if err != nil {
			return nil, err
		}
		if progress != nil {
			progress(h)
		}
		switch h.State {
		case HarvestSucceeded:
			return h, nil
		case HarvestFailed:
			return h, &HarvestFailedError{Harvest: h}
		}
		if err := p.wait(ctx); err != nil {
			return h, err
		}
	}
}
