package sdk

import (
	"context"
	"iter"
	"time"

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

// Publish stores one record and queues it for indexing on every backend, and returns it as
// stored. With Source and SourceID set it upserts: when the metadata is the same as the stored
// version's, that version is returned unchanged. Errors: [ErrInvalidArgument] naming the field
// (metadata missing, too large or too deep; only one of source and source_id set; a source name
// not of [PublishParams].Source's form),
// [ErrUnauthenticated], [ErrPermissionDenied] (the token lacks records:write), [ErrUnavailable].
func (c *Client) Publish(ctx context.Context, p PublishParams) (*Record, error) {
	req, err := p.toProto("metadata")
	if err != nil {
		return nil, err
	}
	res, err := unary(ctx, c, osav1connect.RecordServicePublishRecordProcedure, p.upsert(), req, c.records.PublishRecord)
	if err != nil {
		return nil, err
	}
	return fromRecord(res.Record), nil
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
		req := &osav1.ListRecordsRequest{PageSize: clamp32(p.PageSize), Source: p.Source}
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
			req = &osav1.ListRecordsRequest{PageSize: req.PageSize, PageToken: res.NextPageToken, Source: req.Source}
		}
	}
}
