package where

import "fmt"

// Error is an expression that cannot be used: its syntax, an undeclared field, or a value or
// operator that does not fit the field's type.
type Error struct {
	// Pos is the 1-based position, in characters, of the token at fault.
	Pos int
	// Msg says what was wrong or expected.
	Msg string
}

// Error returns "at <pos>: <msg>".
func (e *Error) Error() string { return fmt.Sprintf("at %d: %s", e.Pos, e.Msg) }

// errorf returns an *Error at pos.
func errorf(pos int, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}
