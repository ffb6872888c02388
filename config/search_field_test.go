package config

import (
	"strings"
	"testing"

	"github.com/osa-archive/osa/search/where"
)

func TestSearchFieldsValidate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		fields []SearchField
		want   string
	}{
		{"BadName", []SearchField{{Name: "Organism", Type: "keyword"}}, `search.fields[0].name: "Organism" is not a field name`},
		{"EmptyName", []SearchField{{Name: "", Type: "keyword"}}, `search.fields[0].name: "" is not a field name`},
		{"BadType", []SearchField{{Name: "x", Type: "text"}}, `search.fields[0].type: "text" is not one of keyword, number, date, boolean`},
		{"Duplicate", []SearchField{{Name: "x", Type: "number"}, {Name: "x", Type: "date"}}, `search.fields[1].name: "x" is also the name of search.fields[0]`},
		{"SourceNotKeyword", []SearchField{{Name: "source", Type: "number"}}, `search.fields[0].type: source is the record's source, a keyword, not a number`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg := Default()
			cfg.Search.Fields = c.fields
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate() = %v, want …%s…", err, c.want)
			}
		})
	}
}

func TestSearchFieldsDefault(t *testing.T) {
	t.Parallel()
	cfg := Default()
	fs, err := where.NewFields(cfg.Search.WhereFields())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"organism", "platform", "entry_type", "gds_type", "pub_date", "sample_count", "source"} {
		if _, ok := fs.Lookup(name); !ok {
			t.Errorf("the default search.fields lack %s", name)
		}
	}
	if f, _ := fs.Lookup("source"); f.Column != where.SourceColumn {
		t.Errorf("source reads %q, want the records column %q", f.Column, where.SourceColumn)
	}
}
