package records

import "github.com/osa-archive/osa/domainerr"

// ErrNotFound is returned when no record matches the requested SRN (or version of it); it is of
// kind [domainerr.ErrNotFound].
var ErrNotFound = domainerr.New(domainerr.ErrNotFound, "record not found")

// otherDomain is the error for an SRN of another archive's domain: not found here, and why.
func otherDomain(srn SRN, domain string) error {
	return domainerr.New(domainerr.ErrNotFound, "record not found: %s belongs to domain %q, and this archive's domain is %q (node.domain)",
		srn, srn.Domain, domain)
}
