package sdk

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
)

// PublishResult is the outcome of one record of [Client.PublishMany].
type PublishResult struct {
	// SRN is the stored version's SRN (with "@{version}"); empty when Err is set.
	SRN string

	// Version is the stored version; 0 when Err is set.
	Version int

	// Unchanged is true when an upsert found the same metadata stored: nothing was written.
	Unchanged bool
	// Indexed is true, with [PublishOpts].WaitIndexed, when every live backend had indexed
	// the record's version when the call answered; always false without it.
	Indexed bool
	// NotIndexed lists, with [PublishOpts].WaitIndexed, the live backends that had not indexed
	// the record's version when the call answered, each with its state: [IndexPending] when
	// the wait ran out first (LastError may say why it waits), [IndexFailed], [IndexEmpty] (no
	// text that backend can index) or [IndexDeleted]. Nil when Indexed, or without WaitIndexed.
	NotIndexed []BackendStatus

	// Err says why the record was not published; nil when it was. A record the server
	// rejected has an [*Error] whose Field names its index in the caller's slice, e.g.
	// "records[1234].metadata".
	Err error
}

// PublishManyError is the error of a [Client.PublishMany] call that left some records
// unpublished; which ones, and why, is in its results. errors.Is and errors.As see Err.
type PublishManyError struct {
	// Failed is the number of records not published, out of Total.
	Failed, Total int

	// Err is the error that stopped the call when it stopped early (for example
	// [ErrUnauthenticated] or [ErrUnavailable]); otherwise the error of the first record that
	// was rejected.
	Err error

	// Aborted is true when the call stopped early: records after the failing chunk were not
	// attempted, and carry Err.
	Aborted bool
}

// Error returns e.g. "sdk: 3 of 2500 records not published; first: invalid_argument: ...".
func (e *PublishManyError) Error() string {
	if e.Aborted {
		return fmt.Sprintf("sdk: %d of %d records not published: %v", e.Failed, e.Total, e.Err)
	}
	return fmt.Sprintf("sdk: %d of %d records not published; first: %v", e.Failed, e.Total, e.Err)
}

// Unwrap returns Err.
func (e *PublishManyError) Unwrap() error { return e.Err }

// PublishMany publishes any number of records, in order, in chunks of at most
// [PublishChunkMax] records, each chunk one PublishRecords call (one transaction on the
// server). It returns one [PublishResult] per record, in the order of records.
//
// A record the server rejects does not cost the others of its chunk: the server rejects a
// chunk as a whole, naming the first bad record (InvalidArgument, field
// "records[i]…"), so PublishMany gives that record the error and sends the rest of the chunk
// again, until the chunk is accepted. Nothing of a rejected chunk is stored, so no record is
// published twice. A chunk over the server's size limits (a body over http.read_max_bytes, or a
// records.max_batch below 1000) is split in halves and retried; the remaining chunks use the
// smaller size. A single record over the request size limit gets the server's error, its
// Field naming the record.
//
// Any other failure (Unauthenticated, PermissionDenied, Unavailable after the retries of
// [WithRetry], a cancelled context…) stops the call: the records of the failing chunk and of
// every later chunk are not published and carry that error, while earlier chunks stay
// published.
//
// The error is nil when every record was published, and a [*PublishManyError] otherwise.
// Chunks of upserts (every record with Source and SourceID) are retried on Unavailable; other
// chunks are not (see [WithRetry]). To wait until the backends have indexed the records, see
// [Client.PublishManyWithOpts].
func (c *Client) PublishMany(ctx context.Context, records []PublishParams) ([]PublishResult, error) {
	return c.PublishManyWithOpts(ctx, records, nil)
}

// PublishManyWithOpts is [Client.PublishMany] with options: with opts.WaitIndexed each chunk's
// call answers once the live backends have indexed its records (or its WaitTimeout has
// passed), and the results say which backends have not indexed which record (Indexed,
// NotIndexed; see [PublishOpts]). The next chunk is sent after that answer, so that records
// are still published in order; waiting costs throughput on large imports.
func (c *Client) PublishManyWithOpts(ctx context.Context, records []PublishParams, opts *PublishOpts) ([]PublishResult, error) {
	p := &publisher{c: c, opts: opts, reqs: make([]*osav1.PublishRecordRequest, len(records)),
		results: make([]PublishResult, len(records)), upsert: make([]bool, len(records)), chunk: PublishChunkMax}
	todo := make([]int, 0, len(records))
	for i, r := range records {
		req, err := r.toProto("records[" + strconv.Itoa(i) + "].metadata")
		if err != nil {
			p.results[i].Err = err
			continue
		}
		p.reqs[i], p.upsert[i] = req, r.upsert()
		todo = append(todo, i)
	}
	var abort error
	for len(todo) > 0 && abort == nil {
		n := min(p.chunk, len(todo))
		abort = p.publish(ctx, todo[:n])
		todo = todo[n:]
	}
	failed := 0
	var first error
	for i := range p.results {
		r := &p.results[i]
		if r.SRN == "" && r.Err == nil {
			r.Err = abort
		}
		if r.Err != nil {
			failed++
			first = cmpOr(first, r.Err)
		}
	}
	if failed == 0 {
		return p.results, nil
	}
	if abort != nil {
		return p.results, &PublishManyError{Failed: failed, Total: len(records), Err: abort, Aborted: true}
	}
	return p.results, &PublishManyError{Failed: failed, Total: len(records), Err: first}
}

// publisher is the state of one PublishMany call.
type publisher struct {
	c       *Client
	chunk   int // chunk size; halved when the server finds a chunk too large
	opts    *PublishOpts
	reqs    []*osav1.PublishRecordRequest
	results []PublishResult
	upsert  []bool
}

// publish sends the records idx (indexes into p.reqs) as one chunk until the server accepts
// what remains of it, recording each record's outcome. It returns an error only when the
// whole publish must stop.
func (p *publisher) publish(ctx context.Context, idx []int) error {
	idx = append([]int(nil), idx...) // removing rejected records must not touch the caller's slice
	for len(idx) > 0 {
		req := &osav1.PublishRecordsRequest{Records: make([]*osav1.PublishRecordRequest, len(idx))}
		req.WaitIndexed, req.WaitTimeout = p.opts.toProto()
		retry := true
		for j, i := range idx {
			req.Records[j] = p.reqs[i]
			retry = retry && p.upsert[i]
		}
		res, err := unaryLonger(ctx, p.c, p.opts.budget(), osav1connect.RecordServicePublishRecordsProcedure, retry, req,
			p.c.records.PublishRecords)
		if err == nil {
			if len(res.Records) != len(idx) {
				return &Error{Code: CodeInternal, Procedure: osav1connect.RecordServicePublishRecordsProcedure,
					Message: fmt.Sprintf("server returned %d records for %d published", len(res.Records), len(idx))}
			}
			for j, i := range idx {
				p.results[i] = PublishResult{SRN: res.Records[j].Srn, Version: int(res.Records[j].Version)}
				if j < len(res.Unchanged) {
					p.results[i].Unchanged = res.Unchanged[j]
				}
				p.results[i].Indexed = req.WaitIndexed // but for those of NotIndexed
			}
			for _, ni := range res.NotIndexed {
				if j := int(ni.Index); j >= 0 && j < len(idx) {
					p.results[idx[j]].Indexed = false
					p.results[idx[j]].NotIndexed = fromBackendStatuses(ni.Backends)
				}
			}
			return nil
		}
		var e *Error
		if !errors.As(err, &e) {
			return err
		}
		// Over the request size (the server names the field body, or a server before that answered
		// resource_exhausted) or over records.max_batch (the field records).
		tooLarge := e.Code == CodeResourceExhausted || (e.Code == CodeInvalidArgument && (e.Field == "records" || e.Field == "body"))
		switch {
		case tooLarge && len(idx) > 1:
			half := len(idx) / 2
			p.chunk = min(p.chunk, half)
			if err := p.publish(ctx, idx[:half]); err != nil {
				return err
			}
			return p.publish(ctx, idx[half:])
		case e.Code == CodeResourceExhausted || tooLarge && e.Field == "body":
			c := *e
			c.Field = fmt.Sprintf("records[%d]", idx[0])
			p.results[idx[0]].Err = &c
			return nil
		case e.Code == CodeInvalidArgument:
			j, ok := recordOf(e.Field)
			if !ok || j >= len(idx) {
				return err
			}
			p.results[idx[j]].Err = e.reindexed(j, idx[j])
			idx = append(idx[:j], idx[j+1:]...)
		default:
			return err
		}
	}
	return nil
}

// recordOf returns i of a field "records[i]…".
func recordOf(field string) (int, bool) {
	m := recordIndex.FindStringSubmatch(field)
	if m == nil {
		return 0, false
	}
	i, err := strconv.Atoi(m[1])
	return i, err == nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
