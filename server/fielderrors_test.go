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
