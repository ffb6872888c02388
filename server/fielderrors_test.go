package server_test

import (
	"context"
	"errors"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
)

// TestFieldErrorsAreDetails: an invalid field travels as a google.rpc.BadRequest detail, one
// field violation naming it, indexed in a batch call even when the batch has one record; the
// message stays readable.
func TestFieldErrorsAreDetails(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rc := recordClient(b)
	ctx := context.Background()
	bad := &osav1.PublishRecordRequest{Metadata: mustStruct(t, map[string]any{"title": "x"}), Source: "lab"}
	violation := func(err error) (string, string) {
		t.Helper()
		return fieldViolation(t, err)
	}

	_, err := rc.PublishRecords(ctx, connect.NewRequest(&osav1.PublishRecordsRequest{Records: []*osav1.PublishRecordRequest{bad}}))
	if field, msg := violation(err); field != "records[0].source_id" || msg != "records[0].source_id: source and source_id must be set together" {
		t.Fatalf("PublishRecords of one bad record: field %q, message %q", field, msg)
	}
	good := &osav1.PublishRecordRequest{Metadata: mustStruct(t, map[string]any{"title": "y"})}
	_, err = rc.PublishRecords(ctx, connect.NewRequest(&osav1.PublishRecordsRequest{Records: []*osav1.PublishRecordRequest{good, bad}}))
	if field, _ := violation(err); field != "records[1].source_id" {
		t.Fatalf("PublishRecords with a bad second record: field %q", field)
	}
	_, err = rc.PublishRecord(ctx, connect.NewRequest(bad))
	if field, msg := violation(err); field != "source_id" || msg != "source_id: source and source_id must be set together" {
		t.Fatalf("PublishRecord: field %q, message %q", field, msg)
	}
}

// fieldViolation returns the field of err's one BadRequest field violation and err's message;
// it fails t unless err is InvalidArgument with exactly one.
func fieldViolation(t *testing.T, err error) (string, string) {
	t.Helper()
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeInvalidArgument {
		t.Fatalf("err = %v, want invalid_argument", err)
	}
	var fields []*errdetails.BadRequest_FieldViolation
	for _, d := range ce.Details() {
		if v, err := d.Value(); err == nil {
			if br, ok := v.(*errdetails.BadRequest); ok {
				fields = append(fields, br.GetFieldViolations()...)
			}
		}
	}
	if len(fields) != 1 {
		t.Fatalf("%v: %d field violations, want 1", err, len(fields))
	}
	return fields[0].GetField(), ce.Message()
}

// TestSourceNameRule: a record's source must match records.SourceNamePattern, the pattern of
// configured sources' names; "My Lab!" is InvalidArgument naming the field and saying what to
// send, and nothing is stored.
func TestSourceNameRule(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rc := recordClient(b)
	ctx := context.Background()
	const rule = `"My Lab!" is not a valid source name: send a lower-case letter, then up to 39 lower-case letters, digits or underscores ([a-z][a-z0-9_]{0,39}), e.g. "my_lab"`
	bad := &osav1.PublishRecordRequest{Metadata: mustStruct(t, map[string]any{"title": "x"}), Source: "My Lab!", SourceId: "1"}

	_, err := rc.PublishRecord(ctx, connect.NewRequest(bad))
	if field, msg := fieldViolation(t, err); field != "source" || msg != "source: "+rule {
		t.Fatalf("PublishRecord: field %q, message %q", field, msg)
	}
	good := &osav1.PublishRecordRequest{Metadata: mustStruct(t, map[string]any{"title": "y"}), Source: "my_lab", SourceId: "2"}
	_, err = rc.PublishRecords(ctx, connect.NewRequest(&osav1.PublishRecordsRequest{Records: []*osav1.PublishRecordRequest{good, bad}}))
	if field, msg := fieldViolation(t, err); field != "records[1].source" || msg != "records[1].source: "+rule {
		t.Fatalf("PublishRecords: field %q, message %q", field, msg)
	}
	res, err := rc.ListRecords(ctx, connect.NewRequest(&osav1.ListRecordsRequest{}))
	if err != nil || len(res.Msg.Records) != 0 {
		t.Fatalf("after the refused publishes ListRecords = %v, %v; want no records", res, err)
	}
	if _, err := rc.PublishRecord(ctx, connect.NewRequest(good)); err != nil {
		t.Fatalf("PublishRecord of source my_lab: %v", err)
	}
}
