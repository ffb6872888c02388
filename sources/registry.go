package sources

import (
	"fmt"

	"github.com/osa-archive/osa/domainerr"
)

// ErrUnknownSource is returned by [Registry.Lookup] for a name no source is configured under; it
// is of kind [domainerr.ErrNotFound].
var ErrUnknownSource = domainerr.New(domainerr.ErrNotFound, "unknown source")

// ErrDisabled is returned when a harvest of a disabled source is asked for; it is of kind
// [domainerr.ErrFailedPrecondition].
var ErrDisabled = domainerr.New(domainerr.ErrFailedPrecondition, "source is disabled")

// Bounds of [Entry.MaxUnfetchedIDs].
const (
	MaxUnfetchedIDsDefault = 1000
	MaxUnfetchedIDsMax     = 100000
)

// Entry is one configured source with the settings that govern its harvests.
type Entry struct {
	// Source is the connector. Required.
	Source Source

	// Kind is the configured kind of the source, e.g. "geo_entrez". Required.
	Kind string

	// Enabled allows harvests of the source. A disabled source is listed but never harvested,
	// on request or on schedule.
	Enabled bool

	// Schedule is a cron expression (5 fields, or a descriptor such as @daily) of scheduled
	// harvests; empty means none.
	Schedule string

	// Limit is the most records one scheduled harvest fetches; 0 means all.
	Limit int

	// PageSize is the chunk size of a harvest that asks for none: the documents one chunk job
	// fetches and publishes. Required, 1..MaxPageSize.
	PageSize int

	// MaxUnfetchedIDs is how many ids of documents the source could not return one harvest
	// keeps in its row (the count is always complete); 0 means [MaxUnfetchedIDsDefault], -1
	// none.
	MaxUnfetchedIDs int

	// MaxPageSize is the largest chunk size a harvest may ask for (for GEO, the 500 summaries
	// NCBI returns at most per JSON request). Required.
	MaxPageSize int
}

// Name returns the name of the entry's source.
func (e Entry) Name() string { return e.Source.Name() }

// Registry holds the configured sources by name. It is read-only after [NewRegistry] and safe
// for concurrent use.
type Registry struct {
	entries []Entry
	byName  map[string]int
}

// NewRegistry returns a registry of entries, kept in the given (configuration) order. Names must
// be unique and page sizes within bounds.
func NewRegistry(entries []Entry) (*Registry, error) {
	r := &Registry{entries: append([]Entry(nil), entries...), byName: make(map[string]int, len(entries))}
	for i, e := range r.entries {
		switch {
		case e.Source == nil:
			return nil, fmt.Errorf("sources: entry %d has no source", i)
		case e.Kind == "":
			return nil, fmt.Errorf("sources: source %q has no kind", e.Name())
		case e.MaxPageSize < 1 || e.PageSize < 1 || e.PageSize > e.MaxPageSize:
			return nil, fmt.Errorf("sources: source %q: page size %d is out of range (1..%d)", e.Name(), e.PageSize, e.MaxPageSize)
		case e.Limit < 0:
			return nil, fmt.Errorf("sources: source %q: limit %d is negative", e.Name(), e.Limit)
		case e.MaxUnfetchedIDs < -1 || e.MaxUnfetchedIDs > MaxUnfetchedIDsMax:
			return nil, fmt.Errorf("sources: source %q: MaxUnfetchedIDs %d is out of range (-1 for none, 0 for %d, up to %d)",
				e.Name(), e.MaxUnfetchedIDs, MaxUnfetchedIDsDefault, MaxUnfetchedIDsMax)
		}
		if _, dup := r.byName[e.Name()]; dup {
			return nil, fmt.Errorf("sources: two sources are named %q", e.Name())
		}
		r.byName[e.Name()] = i
	}
	return r, nil
}

// Entries returns every entry in configuration order. The slice is the caller's to keep.
func (r *Registry) Entries() []Entry {
	if r == nil {
		return nil
	}
	return append([]Entry(nil), r.entries...)
}

// Lookup returns the entry of the source called name, or an error wrapping [ErrUnknownSource]
// that lists the configured names.
func (r *Registry) Lookup(name string) (Entry, error) {
	if r != nil {
		if i, ok := r.byName[name]; ok {
			return r.entries[i], nil
		}
	}
	return Entry{}, fmt.Errorf("%w %q (configured: %v)", ErrUnknownSource, name, r.Names())
}

// Names returns the names of the sources in configuration order.
func (r *Registry) Names() []string {
	if r == nil {
		return []string{}
	}
	names := make([]string, len(r.entries))
	for i, e := range r.entries {
		names[i] = e.Name()
	}
	return names
}
