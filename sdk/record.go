package sdk

import (
	"context"
	"iter"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
)

// Record is one metadata record at one version.
type Record struct {
	// SRN identifies this version of the record: urn:osa:{domain}:rec:{id}@{version}. The part
	// before "@" identifies the record across its versions.
	SRN string `json:"srn"`

	// Version is the version of the metadata, 1 for a new record, one more for every change.
	Version int `json:"version"`

	// Metadata is the record's JSON object, as published. JSON numbers are float64.
	Metadata map[string]any `json:"metadata"`

	// Source is the name of the source the record was published under; empty when it was
	// published without one.
	Source string `json:"source,omitempty"`

	// SourceID identifies the record within Source; empty when Source is.
	SourceID string `json:"source_id,omitempty"`

	// CreatedAt is when version 1 was published.
	CreatedAt time.Time `json:"created_at"`

	// UpdatedAt is when this version was published.
	UpdatedAt time.Time `json:"updated_at"`

	// DeletedAt is when the record was deleted; nil while it is live.
	DeletedAt *time.Time `json:"deleted_at,omitempty"`

	pb *osav1.Record // what it was read from, for Proto
}

// Proto returns the API message r was read from, so that a caller can print the API's own
// JSON form (protojson, as the Connect JSON API answers), as osa --json does. It is nil for a
// Record not read from a server. The message is shared: do not modify it.
func (r *Record) Proto() *osav1.Record { return r.pb }

// PublishParams is one record to publish.
type PublishParams struct {
	// Metadata is the record, a JSON object; required. Values may be anything encoding/json
	// encodes. Numbers travel as JSON numbers (float64): integers beyond 2^53 lose precision,
	// so send those as strings.
	Metadata map[string]any

	// Source and SourceID, set together, make the publish an upsert: the record published
	// before under the same pair gets a new version when Metadata differs, and stays as it is
	// when Metadata is the same. Leave both empty to create a new record every time. Source is
	// a lower-case letter, then up to 39 lower-case letters, digits or underscores
	// ([a-z][a-z0-9_]{0,39}, e.g. "my_lab"); another is [ErrInvalidArgument] naming "source".
	Source   string
	SourceID string
}

// upsert reports whether publishing p twice has the effect of publishing it once.
func (p PublishParams) upsert() bool { return p.Source != "" && p.SourceID != "" }

func (p PublishParams) toProto(field string) (*osav1.PublishRecordRequest, error) {
	m, err := toStruct(field, p.Metadata)
	if err != nil {
		return nil, err
	}
	return &osav1.PublishRecordRequest{Metadata: m, Source: p.Source, SourceId: p.SourceID}, nil
}

// WaitTimeoutDefault is how long a publish with [PublishOpts].WaitIndexed and no WaitTimeout
// waits on a server of the default configuration (records.wait_timeout_default); the server's
// limit, records.wait_timeout_max, is 1m by default.
const WaitTimeoutDefault = 10 * time.Second

// PublishOpts are the optional settings of [Client.PublishWithOpts] and
// [Client.PublishManyWithOpts]; nil means none.
type PublishOpts struct {
	// WaitIndexed makes the call answer only once every live backend (those searches use) has
	// indexed the records' stored versions, or once WaitTimeout has passed: a search made
	// after it finds the records (read-your-writes). Running out of time is not an error: the
	// result says which backends have not indexed which record ([PublishResult].NotIndexed). A
	// backend that failed to index a record, or found no text in it to index, ends its wait
	// at once and is reported too. [Client.PublishManyWithOpts] waits for each chunk before it
	// sends the next.
	WaitIndexed bool

	// WaitTimeout bounds the wait of WaitIndexed, of each call (each chunk of PublishMany).
	// Defaults to the server's records.wait_timeout_default ([WaitTimeoutDefault]); over the
	// server's records.wait_timeout_max, or negative, it is [ErrInvalidArgument] (field
	// "wait_timeout") and nothing is published. The client's timeout ([WithTimeout]) is extended
	// by it.
	WaitTimeout time.Duration
}

// toProto returns the wait fields of a request: wait_timeout only when set.
func (o *PublishOpts) toProto() (bool, *durationpb.Duration) {
	if o == nil || !o.WaitIndexed {
		return false, nil
	}
	if o.WaitTimeout == 0 {
		return true, nil
	}
	return true, durationpb.New(o.WaitTimeout)
}

// budget is how much longer than the client's timeout a call may take: the wait it asks for.
func (o *PublishOpts) budget() time.Duration {
	switch {
	case o == nil || !o.WaitIndexed:
		return 0
	case o.WaitTimeout > 0:
		return o.WaitTimeout
	}
	return WaitTimeoutDefault
}

// Publish stores one record and queues it for indexing on every backend, and returns it as
// stored. With Source and SourceID set it upserts: when the metadata is the same as the stored
// version's, that version is returned unchanged. Errors: [ErrInvalidArgument] naming the field
// (metadata missing, too large or too deep; only one of source and source_id set; a source name
// not of [PublishParams].Source's form),
// [ErrUnauthenticated], [ErrPermissionDenied] (the token lacks records:write), [ErrUnavailable].
// The record is searchable once its backends have indexed it: to publish and wait for that,
// see [Client.PublishWithOpts].
func (c *Client) Publish(ctx context.Context, p PublishParams) (*Record, error) {
	res, err := c.publish(ctx, p, nil)
	if err != nil {
		return nil, err
	}
	return fromRecord(res.Record), nil
}

// PublishWithOpts is [Client.Publish] with options: with opts.WaitIndexed it answers once the
// live backends have indexed the record, or says in the result's NotIndexed which have not
// (see [PublishOpts]). Its result's Err is always nil: errors are returned.
func (c *Client) PublishWithOpts(ctx context.Context, p PublishParams, opts *PublishOpts) (*PublishResult, error) {
	res, err := c.publish(ctx, p, opts)
	if err != nil {
		return nil, err
	}
	out := &PublishResult{SRN: res.Record.GetSrn(), Version: int(res.Record.GetVersion()), Unchanged: res.Unchanged,
		Indexed: res.Indexed}
	if len(res.NotIndexed) > 0 {
		out.NotIndexed = fromBackendStatuses(res.NotIndexed)
	}
	return out, nil
}

func (c *Client) publish(ctx context.Context, p PublishParams, opts *PublishOpts) (*osav1.PublishRecordResponse, error) {
	req, err := p.toProto("metadata")
	if err != nil {
		return nil, err
	}
	req.WaitIndexed, req.WaitTimeout = opts.toProto()
	return unaryLonger(ctx, c, opts.budget(), osav1connect.RecordServicePublishRecordProcedure, p.upsert(), req, c.records.PublishRecord)
}

// Get returns a record: the version srn names when it ends in "@{version}", else the latest.
// A deleted record is returned with DeletedAt set. Errors: [ErrInvalidArgument] (field "srn")
// when srn is malformed, [ErrNotFound] when no such record or version exists.
func (c *Client) Get(ctx context.Context, srn string) (*Record, error) {
	res, err := unary(ctx, c, osav1connect.RecordServiceGetRecordProcedure, true, &osav1.GetRecordRequest{Srn: srn}, c.records.GetRecord)
	if err != nil {
		return nil, err
	}
	return fromRecord(res.Record), nil
}

// Delete deletes a record, all its versions, and queues the delete for every backend, which
// then drop it from search results. The record stays readable through [Client.Get] with
// DeletedAt set. Errors: [ErrInvalidArgument] (field "srn"), [ErrNotFound]. Delete is not
// retried on Unavailable (see [WithRetry]).
func (c *Client) Delete(ctx context.Context, srn string) error {
	_, err := unary(ctx, c, osav1connect.RecordServiceDeleteRecordProcedure, false, &osav1.DeleteRecordRequest{Srn: srn}, c.records.DeleteRecord)
	return err
}

// RecordsParams filters and sizes the pages of [Client.Records]; nil lists everything.
type RecordsParams struct {
	// Source, when set, lists only the records published under this source.
	Source string

	// PageSize is how many records each call fetches, 1..1000. Defaults to the server's 100.
	PageSize int

	// Where, when set, lists only the records matching this filter expression (as
	// [SearchOpts.Where]).
	Where string
}

// Records iterates over the latest version of every record that is not deleted (of one source
// when params says so), fetching pages as the loop goes. On a failed call it yields the error
// once, with a nil record, and stops. Records published during the loop may or may not appear;
// none appears twice.
//
//	for r, err := range client.Records(ctx, nil) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(r.SRN)
//	}
func (c *Client) Records(ctx context.Context, params *RecordsParams) iter.Seq2[*Record, error] {
	var p RecordsParams
	if params != nil {
		p = *params
	}
	return func(yield func(*Record, error) bool) {
		req := &osav1.ListRecordsRequest{PageSize: clamp32(p.PageSize), Source: p.Source, Where: p.Where}
		for {
			res, err := unary(ctx, c, osav1connect.RecordServiceListRecordsProcedure, true, req, c.records.ListRecords)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, r := range res.Records {
				if !yield(fromRecord(r), nil) {
					return
				}
			}
			if res.NextPageToken == "" {
				return
			}
			req = &osav1.ListRecordsRequest{PageSize: req.PageSize, PageToken: res.NextPageToken, Source: req.Source, Where: req.Where}
		}
	}
}
