// Package domainerr holds the errors every domain package returns for what a caller did wrong
// or asked for in vain: an invalid field ([ValidationError]), a field over a limit
// ([LimitError]), and errors of a kind ([ErrNotFound], [ErrAlreadyExists],
// [ErrFailedPrecondition], [ErrResourceExhausted]). The server maps them to Connect codes in one place
// (server/errors.go); nothing else in OSA chooses a code.
package domainerr

import (
	"errors"
	"fmt"
)

// Kinds of domain error: errors.Is(err, kind) tells which an error is, and the server maps each
// to the Connect code of the same name.
var (
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrResourceExhausted  = errors.New("resource exhausted")
)

// Error is an error of a kind, whose message reaches the client as it is.
type Error struct {
	kind error
	msg  string
}

// New returns an error of kind (one of the Err kinds) whose message is format formatted with
// args as by [fmt.Sprintf].
func New(kind error, format string, args ...any) *Error {
	return &Error{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Error returns the message.
func (e *Error) Error() string { return e.msg }

// Is reports whether target is the error's kind.
func (e *Error) Is(target error) bool { return target == e.kind }

// ValidationError says that one field of a request is malformed. The server maps it to
// InvalidArgument with a google.rpc.BadRequest detail naming the field, and its message reaches
// the client, so it names the field and says what is wrong without echoing secrets.
type ValidationError struct {
	// Field is the path of the offending field as the client wrote it, e.g.
	// "srn" or "records[3].metadata.authors[0]".
	Field string

	// Reason says what is wrong with the value, e.g. "must be a JSON object".
	Reason string
}

// Invalid returns a [ValidationError] for field whose reason is format formatted with args as by
// [fmt.Sprintf].
func Invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Error returns "<field>: <reason>", e.g.
// `records[3].metadata: must be a JSON object, got array`.
func (e *ValidationError) Error() string {
	return e.Field + ": " + e.Reason
}

// LimitError says that a field is over a configured size limit. The server maps it to
// InvalidArgument, like any other invalid field; Limit names the config key, so a client can tell
// the two apart.
type LimitError struct {
	// Field is the path of the offending field, e.g. "records[3].metadata".
	Field string

	// Limit is the configuration key of the limit, e.g.
	// "records.max_metadata_bytes".
	Limit string

	// Reason says by how much the limit was exceeded, e.g.
	// "300000 bytes is over records.max_metadata_bytes (262144)".
	Reason string
}

// Error returns "<field>: <reason>", e.g.
// `metadata: 300000 bytes is over records.max_metadata_bytes (262144)`.
func (e *LimitError) Error() string {
	return e.Field + ": " + e.Reason
}
