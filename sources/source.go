// Package sources defines what a source of records is — an external repository that OSA harvests
// page by page — and the [Registry] of the configured ones. Connectors live in sub-packages
// (sources/geo for NCBI GEO). The package knows nothing of the config file: the server builds
// each connector from its plain-typed settings and hands the result to [NewRegistry].
//
// A harvest walks a source with [Source.Pull]: each call returns one page and the [Cursor] of the
// next, and the cursor is plain JSON data, so a River job can carry it and a crashed process
// resumes where it stopped.
package sources

import (
	"context"
	"encoding/json"
	"errors"
)

// Source is one external repository of records. Implementations must be safe for concurrent use.
type Source interface {
	// Name is the configured name of the source; harvested records carry it as their source.
	Name() string

	// Pull fetches the page of the source's result set that cursor points at: at most
	// cursor.PageSize documents starting at cursor.Offset. It returns the page and the cursor of
	// the next page (Offset advanced by Page.Fetched, Session updated). A source keeps whatever
	// it needs between pages (a search session, say) in Cursor.Session; an expired session is
	// the source's to renew, continuing at the same offset. An empty page means the result set
	// is exhausted.
	Pull(ctx context.Context, cursor Cursor) (Page, Cursor, error)

	// Get fetches one record by its id in the source (for GEO, its accession). A record the
	// source does not have is [ErrNotFound].
	Get(ctx context.Context, id string) (Record, error)

	// Health checks that the source answers.
	Health(ctx context.Context) error
}

// Cursor is a position in a source's result set. It is plain JSON data: harvest jobs carry it
// from one chunk to the next.
type Cursor struct {
	// Offset is how many documents of the result set were consumed before this page.
	Offset int `json:"offset"`

	// PageSize is the most documents the next [Source.Pull] returns; 0 means the source's
	// configured page size. A source caps it at its own maximum.
	PageSize int `json:"page_size,omitempty"`

	// Since, a date as YYYY-MM-DD, limits the result set to records the source reports as
	// published on or after that day; empty means the whole source.
	Since string `json:"since,omitempty"`

	// Session is the source's own state between pages (for GEO: the history server's WebEnv
	// and query_key); nil before the first page. Callers pass it on unchanged.
	Session json.RawMessage `json:"session,omitempty"`
}

// Page is one page of a source's result set.
type Page struct {
	// Records are the documents of the page that could be converted, in result-set order.
	Records []Record

	// Fetched is how many documents of the result set the page consumed: the records plus the
	// skipped documents. The next cursor's Offset is the page's Offset plus Fetched; 0 means
	// the result set is exhausted.
	Fetched int

	// Skipped is how many documents were fetched but could not be converted (for GEO, those
	// whose accession is not of the configured record type, or that came back with an error).
	Skipped int

	// Total is the size of the whole result set as the source reports it.
	Total int

	// Unfetched are the ids (for GEO, the uids) of the skipped documents the source listed but
	// could not return: NCBI answered an error for them, or sent none. They are counted in
	// Skipped.
	Unfetched []string

	// Warnings counts the values left out of the page's records because they could not be read
	// (for GEO, a numeric field holding "" or text); the records are kept without them.
	Warnings int
}

// Record is one document of a source, converted to a record's metadata.
type Record struct {
	// ID identifies the document in the source (for GEO, the accession); records are upserted
	// by (source name, ID).
	ID string

	// Metadata is the record's metadata, a JSON object.
	Metadata json.RawMessage
}

// ErrNotFound is returned by [Source.Get] when the source has no document with that id.
var ErrNotFound = errors.New("sources: no such document in the source")

// ErrPermanent marks source errors that retrying cannot fix (the source rejected the request as
// malformed, say). Test for it with errors.Is; a harvest fails at once on such an error instead
// of retrying its chunk.
var ErrPermanent = errors.New("permanent source error")
