package where

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Type is the type of a declared field.
type Type string

// Types of fields.
const (
	// TypeKeyword is an exact string, or an array of them (= on an array means "contains").
	TypeKeyword Type = "keyword"
	// TypeNumber is a JSON number.
	TypeNumber Type = "number"
	// TypeDate is a date stored as a string, ISO (2023-05-01) or GEO's 2023/05/01.
	TypeDate Type = "date"
	// TypeBoolean is a JSON true or false.
	TypeBoolean Type = "boolean"
)

// Types lists every [Type], in the order error messages give them.
var Types = []Type{TypeKeyword, TypeNumber, TypeDate, TypeBoolean}

// fieldName is the syntax of a field name: segments of [a-z_][a-z0-9_]* joined by ".".
var fieldName = regexp.MustCompile(`^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$`)

// ValidName reports whether name is a well-formed field name.
func ValidName(name string) bool { return fieldName.MatchString(name) }

// Field is a declared search field.
type Field struct {
	// Name is the field's name, a path into the record's metadata (a.b is metadata.a.b).
	Name string
	// Type is what the field holds.
	Type Type
	// Facet says that counts per value may be asked for (not used by filters).
	Facet bool
	// Column, when not empty, is a text column of the records table the field reads instead of
	// the metadata (source). Only keyword fields have a column.
	Column string
}

// GEOFields returns the default fields, those of GEO's metadata, plus source, which is the
// records table's source column (the name of the source a record was harvested from).
func GEOFields() []Field {
	return []Field{
		{Name: "organism", Type: TypeKeyword, Facet: true},
		{Name: "platform", Type: TypeKeyword, Facet: true},
		{Name: "entry_type", Type: TypeKeyword, Facet: true},
		{Name: "gds_type", Type: TypeKeyword, Facet: true},
		{Name: "pub_date", Type: TypeDate, Facet: true},
		{Name: "sample_count", Type: TypeNumber, Facet: true},
		{Name: "source", Type: TypeKeyword, Facet: true, Column: SourceColumn},
	}
}

// SourceColumn is the records column the field "source" reads.
const SourceColumn = "source"

// Fields is a set of declared fields, looked up by name.
type Fields struct {
	byName map[string]Field
	names  []string
}

// NewFields returns the set of fs, or an error naming the first invalid or repeated field
// (by its index in fs).
func NewFields(fs []Field) (Fields, error) {
	s := Fields{byName: make(map[string]Field, len(fs))}
	for i, f := range fs {
		switch {
		case !ValidName(f.Name):
			return Fields{}, fmt.Errorf("fields[%d].name: %q is not a field name ([a-z_][a-z0-9_]*, with . for nesting)", i, f.Name)
		case !slices.Contains(Types, f.Type):
			return Fields{}, fmt.Errorf("fields[%d].type: %q is not one of %v", i, f.Type, Types)
		case f.Column != "" && f.Type != TypeKeyword:
			return Fields{}, fmt.Errorf("fields[%d].type: %s reads the column %s, which is a keyword, not a %s", i, f.Name, f.Column, f.Type)
		}
		if _, dup := s.byName[f.Name]; dup {
			return Fields{}, fmt.Errorf("fields[%d].name: %q is declared twice", i, f.Name)
		}
		s.byName[f.Name] = f
		s.names = append(s.names, f.Name)
	}
	slices.Sort(s.names)
	return s, nil
}

// MustFields is [NewFields] that panics on an error.
func MustFields(fs []Field) Fields {
	s, err := NewFields(fs)
	if err != nil {
		panic(err)
	}
	return s
}

// Lookup returns the field called name.
func (s Fields) Lookup(name string) (Field, bool) {
	f, ok := s.byName[name]
	return f, ok
}

// List returns the fields sorted by name.
func (s Fields) List() []Field {
	out := make([]Field, len(s.names))
	for i, n := range s.names {
		out[i] = s.byName[n]
	}
	return out
}

// declared lists the names for an error message.
func (s Fields) declared() string {
	if len(s.names) == 0 {
		return "no fields are declared (search.fields)"
	}
	return "declared fields: " + strings.Join(s.names, ", ")
}
