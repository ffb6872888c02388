package records

import (
	"errors"
	"fmt"
)

// ErrNotFound is returned when no record matches the requested SRN (or
// version of it). The server maps it to connect.CodeNotFound.
var ErrNotFound = errors.New("record not found")

// ValidationError says that one field of a request is malformed. The server
// maps it to connect.CodeInvalidArgument, and its message reaches the client,
// so it names the field and says what is wrong without echoing secrets.
type ValidationError struct {
	// Field is the path of the offending field as the client wrote it, e.g.
	// "srn" or "records[3].metadata.authors[0]".
	Field string

	// Reason says what is wrong with the value, e.g. "must be a JSON object".
	Reason string
}

// Invalid returns a [ValidationError] for field whose reason is format
// formatted with args as by [fmt.Sprintf].
func Invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Error returns "<field>: <reason>", e.g.
// `records[3].metadata: must be a JSON object, got array`.
func (e *ValidationError) Error() string {
	return e.Field + ": " + e.Reason
}

// LimitError says that a field is over a configured size limit. The server
// maps it to connect.CodeInvalidArgument, like any other invalid field; Limit
// names the config key, so a client can tell the two apart.
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
