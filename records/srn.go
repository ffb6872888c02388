package records

import (
	"math"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/osa-archive/osa/domainerr"
)

const (
	// SRNMaxLen is the longest string [ParseSRN] looks at, in bytes; a
	// longer one is rejected before parsing. The longest valid SRN is
	// 8 + 63 + 5 + 36 + 11 = 123 bytes.
	SRNMaxLen = 200

	// SRNDomainMaxLen is the longest domain of an SRN, in bytes; it matches
	// config.DomainMaxLen.
	SRNDomainMaxLen = 63

	// SRNVersionMax is the highest record version an SRN can name, so that
	// versions fit a Postgres integer.
	SRNVersionMax = math.MaxInt32
)

// srnField is the field name of the errors [ParseSRN] returns.
const srnField = "srn"

// SRN is the parsed form of a record identifier,
// urn:osa:{domain}:rec:{id}@{version} (design.md §4). SRNs are comparable
// with ==. The zero SRN is not valid; use [ParseSRN] to get one from a
// string.
type SRN struct {
	// Domain is the domain of the node that minted the record, lower-case
	// DNS labels separated by dots, e.g. "archive.example.org".
	Domain string

	// ID is the record's UUIDv7.
	ID uuid.UUID

	// Version is the record version, ≥ 1, or 0 for "the latest version",
	// written without "@{version}".
	Version int
}

// ParseSRN parses s as urn:osa:{domain}:rec:{id} or
// urn:osa:{domain}:rec:{id}@{version}. Parsing is strict, so that every SRN
// has exactly one spelling, the one [SRN.String] returns:
//
//   - exactly five colon-separated parts, the first two "urn" and "osa" and
//     the fourth "rec";
//   - everything lower-case: upper-case letters are an error, not folded;
//   - the domain is DNS labels of a-z, 0-9 and "-" (not first or last)
//     separated by dots, at most [SRNDomainMaxLen] bytes;
//   - the id is a UUIDv7 in its canonical 36-character hyphenated form;
//   - the version, if present, is a decimal integer from 1 to
//     [SRNVersionMax] without sign or leading zeros.
//
// Strings longer than [SRNMaxLen] are rejected unparsed. Errors are a
// *[domainerr.ValidationError] with Field "srn" whose Reason says which part is wrong,
// e.g. `srn: type must be "rec", got "dataset"`; a caller that parses a
// differently named field can change Field.
func ParseSRN(s string) (SRN, error) {
	if s == "" {
		return SRN{}, domainerr.Invalid(srnField, "is required")
	}
	if len(s) > SRNMaxLen {
		return SRN{}, domainerr.Invalid(srnField, "is %d bytes, over the maximum of %d", len(s), SRNMaxLen)
	}

	parts := strings.Split(s, ":")
	if len(parts) != 5 {
		return SRN{}, domainerr.Invalid(srnField, `want 5 parts "urn:osa:{domain}:rec:{id}[@{version}]", got %d`, len(parts))
	}

	if prefix := parts[0] + ":" + parts[1]; prefix != "urn:osa" {
		if lowerASCII(prefix) == "urn:osa" {
			return SRN{}, domainerr.Invalid(srnField, "prefix %q must be lower-case", prefix)
		}
		return SRN{}, domainerr.Invalid(srnField, `prefix must be "urn:osa", got %q`, prefix)
	}

	domain := parts[2]
	if err := checkSRNDomain(domain); err != nil {
		return SRN{}, err
	}

	if typ := parts[3]; typ != "rec" {
		if lowerASCII(typ) == "rec" {
			return SRN{}, domainerr.Invalid(srnField, "type %q must be lower-case", typ)
		}
		return SRN{}, domainerr.Invalid(srnField, `type must be "rec", got %q`, typ)
	}

	idPart, versionPart, hasVersion := strings.Cut(parts[4], "@")
	id, err := parseSRNID(idPart)
	if err != nil {
		return SRN{}, err
	}

	version := 0
	if hasVersion {
		if version, err = parseSRNVersion(versionPart); err != nil {
			return SRN{}, err
		}
	}

	return SRN{Domain: domain, ID: id, Version: version}, nil
}

// String returns the SRN as urn:osa:{domain}:rec:{id}@{version}, or without
// "@{version}" when Version is 0 (latest). For every SRN returned by
// [ParseSRN], ParseSRN(s.String()) returns s again.
func (s SRN) String() string {
	var b strings.Builder
	b.Grow(len("urn:osa::rec:@") + len(s.Domain) + 36 + 10)
	b.WriteString("urn:osa:")
	b.WriteString(s.Domain)
	b.WriteString(":rec:")
	b.WriteString(s.ID.String())
	if s.Version != 0 {
		b.WriteByte('@')
		b.WriteString(strconv.Itoa(s.Version))
	}
	return b.String()
}

// Latest returns a copy of s without a version, naming the latest version of
// the record.
func (s SRN) Latest() SRN {
	return s.WithVersion(0)
}

// WithVersion returns a copy of s naming version v of the record; 0 means
// the latest version.
func (s SRN) WithVersion(v int) SRN {
	s.Version = v
	return s
}

// checkSRNDomain returns an error if d isn't lower-case DNS labels separated
// by dots, at most SRNDomainMaxLen bytes (the same rule as config's
// node.domain, so every node can mint SRNs it parses).
func checkSRNDomain(d string) error {
	switch {
	case d == "":
		return domainerr.Invalid(srnField, "domain is empty")
	case len(d) > SRNDomainMaxLen:
		return domainerr.Invalid(srnField, "domain %q is %d bytes, over the maximum of %d", d, len(d), SRNDomainMaxLen)
	case lowerASCII(d) != d:
		return domainerr.Invalid(srnField, "domain %q must be lower-case", d)
	}
	for _, r := range d {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return domainerr.Invalid(srnField, "domain %q has invalid character %q (want a-z, 0-9, - and .)", d, r)
		}
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" {
			return domainerr.Invalid(srnField, "domain %q has an empty label", d)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return domainerr.Invalid(srnField, `domain %q has label %q starting or ending with "-"`, d, label)
		}
	}
	return nil
}

// parseSRNID parses s as a UUIDv7 in canonical form: 36 lower-case
// characters, hex digits with hyphens at 8, 13, 18 and 23. uuid.Parse alone
// would also take upper-case, braces, "urn:uuid:" and 32 bare hex digits,
// which would give one record several spellings.
func parseSRNID(s string) (uuid.UUID, error) {
	if !isUUIDShape(s) {
		return uuid.UUID{}, domainerr.Invalid(srnField, "id %q is not a UUID", s)
	}
	if lowerASCII(s) != s {
		return uuid.UUID{}, domainerr.Invalid(srnField, "id %q must be lower-case", s)
	}
	id, err := uuid.Parse(s)
	if err != nil {
		// Unreachable given isUUIDShape, but uuid.Parse has the last word.
		return uuid.UUID{}, domainerr.Invalid(srnField, "id %q is not a UUID", s)
	}
	if v := id.Version(); v != 7 {
		return uuid.UUID{}, domainerr.Invalid(srnField, "id must be a UUIDv7, got version %d", v)
	}
	// RFC 9562 defines version 7 only for its own variant (bits 10); any
	// other variant with version bits 0111 isn't a UUIDv7 uuid.NewV7 made.
	if v := id.Variant(); v != uuid.RFC4122 {
		return uuid.UUID{}, domainerr.Invalid(srnField, "id must be a UUIDv7, got variant %s", v)
	}
	return id, nil
}

// parseSRNVersion parses s as a decimal integer from 1 to SRNVersionMax
// without sign or leading zeros.
func parseSRNVersion(s string) (int, error) {
	if s == "" {
		return 0, domainerr.Invalid(srnField, `version is empty after "@"`)
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, domainerr.Invalid(srnField, "version %q must be an integer ≥ 1", s)
		}
	}
	if s == "0" {
		return 0, domainerr.Invalid(srnField, "version %q must be an integer ≥ 1", s)
	}
	if s[0] == '0' {
		return 0, domainerr.Invalid(srnField, "version %q must not have leading zeros", s)
	}
	v, err := strconv.Atoi(s)
	if err != nil || v > SRNVersionMax {
		return 0, domainerr.Invalid(srnField, "version %q is over the maximum of %d", s, SRNVersionMax)
	}
	return v, nil
}

// isUUIDShape reports whether s is 36 hex digits (either case) and hyphens
// in the canonical positions.
func isUUIDShape(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// lowerASCII returns s with A-Z mapped to a-z and everything else as is.
// strings.ToLower would also fold non-ASCII letters (the Kelvin sign K to
// k), which the messages must not claim to be a mere case problem.
func lowerASCII(s string) string {
	for i := range len(s) {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
