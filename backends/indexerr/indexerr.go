// Package indexerr classifies the errors of indexing one document, so the job layer can give each
// job the right outcome: a plain error is transient (River retries it with backoff), a
// [RateLimitError] snoozes the job for the advised time without using an attempt, and a
// [PermanentError] cancels the job for good, because no retry can ever succeed.
package indexerr

import (
	"errors"
	"fmt"
	"time"
)

// PermanentError is an error no retry can fix: the input can never be indexed (text rejected by
// the model, a value the backend cannot store).
type PermanentError struct {
	Err error
}

// Error implements error.
func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a [PermanentError]. A nil err stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// Permanentf is [Permanent] of fmt.Errorf(format, args...).
func Permanentf(format string, args ...any) error {
	return &PermanentError{Err: fmt.Errorf(format, args...)}
}

// IsPermanent reports whether err is, or wraps, a [PermanentError].
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// NoTextError says a document has no text the backend can index (a record whose metadata holds
// no string field the text is built from). It is not a failure: the record is legitimate, and
// filters find it; the job layer gives it the terminal state "empty", with the reason, and the
// backend holds no row for it.
type NoTextError struct {
	Err error
}

// Error implements error.
func (e *NoTextError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *NoTextError) Unwrap() error { return e.Err }

// NoTextf returns a [NoTextError] of fmt.Errorf(format, args...).
func NoTextf(format string, args ...any) error {
	return &NoTextError{Err: fmt.Errorf(format, args...)}
}

// IsNoText reports whether err is, or wraps, a [NoTextError].
func IsNoText(err error) bool {
	var n *NoTextError
	return errors.As(err, &n)
}

// RateLimitError says the provider refused the call for now and when to try again.
type RateLimitError struct {
	// RetryAfter is how long to wait; zero when the provider gave no advice.
	RetryAfter time.Duration
	Err        error
}

// Error implements error.
func (e *RateLimitError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("rate limited (retry after %v): %v", e.RetryAfter, e.Err)
	}
	return fmt.Sprintf("rate limited: %v", e.Err)
}

// Unwrap returns the cause.
func (e *RateLimitError) Unwrap() error { return e.Err }

// RetryAfter reports the advised wait of a [RateLimitError] in err's chain, and whether there is one.
func RetryAfter(err error) (time.Duration, bool) {
	var r *RateLimitError
	if errors.As(err, &r) {
		return r.RetryAfter, true
	}
	return 0, false
}
