package sdk

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
)

// Code is the kind of failure an [Error] reports: one of the Connect protocol's error codes, in
// the snake_case form the protocol writes on the wire (for example "not_found").
type Code string

// The codes an OSA server answers with. The server documents, per RPC, which of them it returns.
const (
	// CodeCanceled: the call was cancelled, usually by the caller's context.
	CodeCanceled Code = "canceled"
	// CodeUnknown: the call failed for a reason the server did not classify.
	CodeUnknown Code = "unknown"
	// CodeInvalidArgument: a request field is malformed or out of range; [Error.Field] names it.
	CodeInvalidArgument Code = "invalid_argument"
	// CodeDeadlineExceeded: the call did not finish before its deadline (see [WithTimeout]).
	CodeDeadlineExceeded Code = "deadline_exceeded"
	// CodeNotFound: the record, backend, source or harvest does not exist.
	CodeNotFound Code = "not_found"
	// CodeAlreadyExists: the thing to start already runs (a harvest of the same source).
	CodeAlreadyExists Code = "already_exists"
	// CodePermissionDenied: the token is valid but lacks the scope the call needs.
	CodePermissionDenied Code = "permission_denied"
	// CodeResourceExhausted: the request is over a size limit of the server.
	CodeResourceExhausted Code = "resource_exhausted"
	// CodeFailedPrecondition: the server is not in a state to do this (a disabled source).
	CodeFailedPrecondition Code = "failed_precondition"
	// CodeAborted: the call was aborted, typically by a concurrency conflict.
	CodeAborted Code = "aborted"
	// CodeOutOfRange: the call went past a valid range.
	CodeOutOfRange Code = "out_of_range"
	// CodeUnimplemented: the server does not implement this call (yet).
	CodeUnimplemented Code = "unimplemented"
	// CodeInternal: the server failed; its log says why, the message does not.
	CodeInternal Code = "internal"
	// CodeUnavailable: the server or its database cannot be reached; the call may be retried.
	CodeUnavailable Code = "unavailable"
	// CodeDataLoss: unrecoverable data loss or corruption.
	CodeDataLoss Code = "data_loss"
	// CodeUnauthenticated: the bearer token is missing or not valid (see [WithToken]).
	CodeUnauthenticated Code = "unauthenticated"
)

// Sentinel errors, one per [Code]: errors.Is(err, ErrNotFound) is true for an [*Error] of code
// [CodeNotFound], and so on.
var (
	// ErrCanceled matches errors of code [CodeCanceled].
	ErrCanceled = errors.New("canceled")
	// ErrUnknown matches errors of code [CodeUnknown].
	ErrUnknown = errors.New("unknown error")
	// ErrInvalidArgument matches errors of code [CodeInvalidArgument].
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrDeadlineExceeded matches errors of code [CodeDeadlineExceeded].
	ErrDeadlineExceeded = errors.New("deadline exceeded")
	// ErrNotFound matches errors of code [CodeNotFound].
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists matches errors of code [CodeAlreadyExists].
	ErrAlreadyExists = errors.New("already exists")
	// ErrPermissionDenied matches errors of code [CodePermissionDenied].
	ErrPermissionDenied = errors.New("permission denied")
	// ErrResourceExhausted matches errors of code [CodeResourceExhausted].
	ErrResourceExhausted = errors.New("resource exhausted")
	// ErrFailedPrecondition matches errors of code [CodeFailedPrecondition].
	ErrFailedPrecondition = errors.New("failed precondition")
	// ErrAborted matches errors of code [CodeAborted].
	ErrAborted = errors.New("aborted")
	// ErrOutOfRange matches errors of code [CodeOutOfRange].
	ErrOutOfRange = errors.New("out of range")
	// ErrUnimplemented matches errors of code [CodeUnimplemented].
	ErrUnimplemented = errors.New("unimplemented")
	// ErrInternal matches errors of code [CodeInternal].
	ErrInternal = errors.New("internal error")
	// ErrUnavailable matches errors of code [CodeUnavailable].
	ErrUnavailable = errors.New("unavailable")
	// ErrDataLoss matches errors of code [CodeDataLoss].
	ErrDataLoss = errors.New("data loss")
	// ErrUnauthenticated matches errors of code [CodeUnauthenticated].
	ErrUnauthenticated = errors.New("unauthenticated")

	// ErrIndexFailed matches the error of [Client.WaitIndexed] when a backend gave up indexing
	// the record (an [*IndexFailedError]).
	ErrIndexFailed = errors.New("indexing failed")
	// ErrHarvestFailed matches the error of [Client.WaitHarvest] when the harvest ended in
	// [HarvestFailed] (a [*HarvestFailedError]).
	ErrHarvestFailed = errors.New("harvest failed")
	// ErrReindexFailed matches the error of [Client.WaitReindex] when the rebuild ended in
	// [ReindexFailed] (a [*ReindexFailedError]).
	ErrReindexFailed = errors.New("reindex failed")
)

var sentinels = map[Code]error{
	CodeCanceled:           ErrCanceled,
	CodeUnknown:            ErrUnknown,
	CodeInvalidArgument:    ErrInvalidArgument,
	CodeDeadlineExceeded:   ErrDeadlineExceeded,
	CodeNotFound:           ErrNotFound,
	CodeAlreadyExists:      ErrAlreadyExists,
	CodePermissionDenied:   ErrPermissionDenied,
	CodeResourceExhausted:  ErrResourceExhausted,
	CodeFailedPrecondition: ErrFailedPrecondition,
	CodeAborted:            ErrAborted,
	CodeOutOfRange:         ErrOutOfRange,
	CodeUnimplemented:      ErrUnimplemented,
	CodeInternal:           ErrInternal,
	CodeUnavailable:        ErrUnavailable,
	CodeDataLoss:           ErrDataLoss,
	CodeUnauthenticated:    ErrUnauthenticated,
}

// Error is a failed call: every error a [Client] method returns for a failed RPC is an *Error,
// and errors.Is matches it against the sentinel of its code ([ErrNotFound], [ErrInvalidArgument],
// …). Use errors.As to read the field of an invalid argument:
//
//	var e *sdk.Error
//	if errors.As(err, &e) && e.Code == sdk.CodeInvalidArgument {
//		fmt.Println("fix", e.Field)
//	}
type Error struct {
	// Code is the kind of failure.
	Code Code

	// Field is the request field an invalid argument is about, as the server names it (for
	// example "srn", "limit" or "records[3].metadata"); empty for other codes and when the
	// server named no field. In a [PublishResult] of [Client.PublishMany] the index is the
	// record's index in the caller's slice.
	Field string

	// Message is the server's explanation, without the code (for example
	// "records[3].metadata: must be a JSON object, got array").
	Message string

	// Procedure is the RPC that failed, for example "/osa.v1.RecordService/GetRecord".
	Procedure string

	err error // the underlying *connect.Error
}

// Error returns "<code>: <message>", e.g. `not_found: record urn:osa:... not found`.
func (e *Error) Error() string {
	if e.Message == "" {
		return string(e.Code)
	}
	return string(e.Code) + ": " + e.Message
}

// Is reports whether target is the sentinel of e's code (for example [ErrNotFound]). An error of
// code [CodeDeadlineExceeded] is also context.DeadlineExceeded, and one of [CodeCanceled]
// context.Canceled, whichever side (client or server) noticed first.
func (e *Error) Is(target error) bool {
	switch {
	case e.Code == CodeDeadlineExceeded && target == context.DeadlineExceeded:
		return true
	case e.Code == CodeCanceled && target == context.Canceled:
		return true
	}
	s, ok := sentinels[e.Code]
	return ok && s == target
}

// Unwrap returns the underlying error of the Connect client.
func (e *Error) Unwrap() error { return e.err }

// toError turns any error of a generated client into an [*Error]; nil stays nil.
func toError(procedure string, err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		ce = connect.NewError(connect.CodeOf(err), err)
	}
	e := &Error{Code: Code(ce.Code().String()), Message: ce.Message(), Procedure: procedure, err: err}
	if e.Code == CodeInvalidArgument {
		e.Field = violatedField(ce)
	}
	return e
}

// violatedField returns the field of the first field violation of ce's google.rpc.BadRequest
// detail, which the server sends with every invalid argument; "" without one.
func violatedField(ce *connect.Error) string {
	for _, d := range ce.Details() {
		v, err := d.Value()
		if br, ok := v.(*errdetails.BadRequest); ok && err == nil && len(br.GetFieldViolations()) > 0 {
			return br.GetFieldViolations()[0].GetField()
		}
	}
	return ""
}

// recordIndex matches the record index at the start of a PublishRecords field path.
var recordIndex = regexp.MustCompile(`^records\[(\d+)\]`)

// reindexed returns a copy of e whose field (and message) name record to of the caller's slice
// instead of record i of one PublishRecords call.
func (e *Error) reindexed(i, to int) *Error {
	c := *e
	prefix := fmt.Sprintf("records[%d]", i)
	repl := fmt.Sprintf("records[%d]", to)
	c.Field = repl + strings.TrimPrefix(e.Field, prefix)
	if strings.HasPrefix(c.Message, prefix) {
		c.Message = repl + strings.TrimPrefix(c.Message, prefix)
	}
	return &c
}
