package records

import "github.com/osa-archive/osa/domainerr"

// ErrNotFound is returned when no record matches the requested SRN (or version of it); it is of
// kind [domainerr.ErrNotFound].
var ErrNotFound = domainerr.New(domainerr.ErrNotFound, "record not found")
