package config

import (
	"errors"
	"fmt"
)

// Error is one problem with one configuration key. [Load] and
// [Config.Validate] return either one *Error or several joined with
// [errors.Join], one line each; use [errors.As] to inspect them.
type Error struct {
	// Key is the dotted path of the key, list items as "backends[1].kind".
	Key string

	// Problem says what is wrong with the value, e.g. `"abc" is not a
	// duration (e.g. 2m, 500ms)`. Empty when Unknown is set.
	Problem string

	// Source says where the value came from: a file path, "environment
	// variable OSA_X__Y" or "command-line flags". Empty for the built-in
	// defaults, a hand-built Config, or when unknown.
	Source string

	// Unknown is set when Key isn't part of the configuration format.
	Unknown bool
}

// Error returns `config: <key>: <problem> (in <source>)` or
// `config: unknown key "<key>" (in <source>)`.
func (e *Error) Error() string {
	msg := "config: " + e.Key + ": " + e.Problem
	if e.Unknown {
		msg = fmt.Sprintf("config: unknown key %q", e.Key)
	}
	if e.Source != "" {
		msg += " (in " + e.Source + ")"
	}
	return msg
}

// problems collects the errors of one pass so that a user sees all of them at
// once rather than fixing one per run.
type problems []error

// add records that key has the problem described by format and args.
func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, &Error{Key: key, Problem: fmt.Sprintf(format, args...)})
}

// err returns the problems joined, or nil if there are none.
func (p problems) err() error {
	if len(p) == 1 {
		return p[0]
	}
	return errors.Join(p...)
}
