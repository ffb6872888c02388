package config

import (
	"fmt"

	"github.com/osa-archive/osa/search/where"
)

// Types of search fields, the values of search.fields[i].type.
const (
	SearchFieldKeyword = string(where.TypeKeyword)
	SearchFieldNumber  = string(where.TypeNumber)
	SearchFieldDate    = string(where.TypeDate)
	SearchFieldBoolean = string(where.TypeBoolean)
)

// SearchField declares a metadata field that filter expressions (SearchRequest.where) can use.
type SearchField struct {
	// Name is the field: [a-z_][a-z0-9_]*, with "." for a nested one (sample.tissue). The name
	// "source" is the record's source (the records.source column), not metadata. Required.
	Name string `koanf:"name"`
	// Type is keyword (exact strings, or arrays of them), number, date (ISO or GEO's
	// YYYY/MM/DD) or boolean. Required.
	Type string `koanf:"type"`
	// Facet allows counts per value of the field. Defaults to false.
	Facet bool `koanf:"facet"`
}

// SearchFieldsDefault returns the default search.fields: GEO's metadata and source
// ([where.GEOFields]).
func SearchFieldsDefault() []SearchField {
	geo := where.GEOFields()
	out := make([]SearchField, len(geo))
	for i, f := range geo {
		out[i] = SearchField{Name: f.Name, Type: string(f.Type), Facet: f.Facet}
	}
	return out
}

// WhereFields returns the fields as package where declares them: "source" reads the records'
// source column.
func (s *Search) WhereFields() []where.Field {
	out := make([]where.Field, len(s.Fields))
	for i, f := range s.Fields {
		out[i] = where.Field{Name: f.Name, Type: where.Type(f.Type), Facet: f.Facet}
		if f.Name == where.SourceColumn {
			out[i].Column = where.SourceColumn
		}
	}
	return out
}

// validateFields adds a problem for each field with a bad name or type, and each repeated name.
func (s *Search) validateFields(p *problems) {
	seen := map[string]int{}
	for i, f := range s.Fields {
		key := fmt.Sprintf("search.fields[%d]", i)
		if !where.ValidName(f.Name) {
			p.add(key+".name", "%q is not a field name ([a-z_][a-z0-9_]*, with . for nesting)", f.Name)
		} else if j, dup := seen[f.Name]; dup {
			p.add(key+".name", "%q is also the name of search.fields[%d]", f.Name, j)
		} else {
			seen[f.Name] = i
		}
		if p.oneOf(key+".type", f.Type, SearchFieldKeyword, SearchFieldNumber, SearchFieldDate, SearchFieldBoolean) &&
			f.Name == where.SourceColumn && f.Type != SearchFieldKeyword {
			p.add(key+".type", "source is the record's source, a keyword, not a %s", f.Type)
		}
	}
}
