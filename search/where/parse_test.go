package where

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// testFields are the fields of the unit tests.
var testFields = MustFields(append(GEOFields(),
	Field{Name: "open_access", Type: TypeBoolean},
	Field{Name: "sample.tissue", Type: TypeKeyword},
))

func TestParse(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, src, want string }{
		{"eq", `organism = "Mus musculus"`, `organism = "Mus musculus"`},
		{"ne", `organism != "Mus musculus"`, `organism != "Mus musculus"`},
		{"gt", `sample_count > 10`, `sample_count > 10`},
		{"ge", `sample_count >= 10`, `sample_count >= 10`},
		{"lt", `sample_count < -1.5`, `sample_count < -1.5`},
		{"le", `sample_count <= 1e3`, `sample_count <= 1e3`},
		{"in", `platform IN ["GPL570", "GPL96"]`, `platform IN ["GPL570", "GPL96"]`},
		{"in one", `sample_count in [3]`, `sample_count IN [3]`},
		{"exists", `gds_type EXISTS`, `gds_type EXISTS`},
		{"not", `NOT gds_type exists`, `NOT gds_type EXISTS`},
		{"not not", `not NOT open_access = TRUE`, `NOT NOT open_access = true`},
		{"iso date", `pub_date >= 2022-01-01`, `pub_date >= 2022-01-01`},
		{"geo date", `pub_date < 2022/01/31`, `pub_date < 2022-01-31`},
		{"quoted date", `pub_date = "2022/01/31"`, `pub_date = 2022-01-31`},
		{"boolean", `open_access = false`, `open_access = false`},
		{"escapes", `organism = "a \"b\" \\ c"`, `organism = "a \"b\" \\ c"`},
		{"nested", `sample.tissue = "liver"`, `sample.tissue = "liver"`},
		{"no spaces", `sample_count>=10 AND(organism="x")`, `(sample_count >= 10 AND organism = "x")`},
		{"and binds tighter than or", `organism = "a" OR organism = "b" AND sample_count > 1`,
			`(organism = "a" OR (organism = "b" AND sample_count > 1))`},
		{"and before or on the left", `organism = "a" AND sample_count > 1 OR organism = "b"`,
			`((organism = "a" AND sample_count > 1) OR organism = "b")`},
		{"parentheses", `(organism = "a" OR organism = "b") AND sample_count > 1`,
			`((organism = "a" OR organism = "b") AND sample_count > 1)`},
		{"not binds tightest", `NOT organism = "a" AND source = "geo"`, `(NOT organism = "a" AND source = "geo")`},
		{"left associative", `source = "a" OR source = "b" OR source = "c"`, `((source = "a" OR source = "b") OR source = "c")`},
		{"keywords in any case", `organism = "a" aNd sample_count > 1 Or NoT gds_type ExIsTs`,
			`((organism = "a" AND sample_count > 1) OR NOT gds_type EXISTS)`},
		{"the example", `organism = "Mus musculus" AND sample_count >= 10 AND pub_date >= 2022-01-01`,
			`((organism = "Mus musculus" AND sample_count >= 10) AND pub_date >= 2022-01-01)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e, err := Parse(c.src, testFields)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.String(); got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
			again, err := Parse(e.String(), testFields)
			if err != nil || !reflect.DeepEqual(e.Root, again.Root) {
				t.Fatalf("%s parses again as %v, %v", e, again, err)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, src, want string }{
		{"empty", ``, `at 1: expected a condition`},
		{"spaces", `   `, `at 4: expected a condition`},
		{"missing value", `organism = "Mus musculus" AND sample_count >=`, `at 46: expected a value after ">=", got the end`},
		{"missing value before and", `sample_count >= AND`, `at 17: expected a value after ">=", got "AND"`},
		{"bare word value", `organism = mouse`, `at 12: expected a value after "=", got "mouse"`},
		{"missing operator", `organism "x"`, `at 10: expected an operator (=, !=, >, >=, <, <=, IN or EXISTS) after organism, got "x"`},
		{"missing field", `= "x"`, `at 1: expected a field name, NOT or "(", got "="`},
		{"keyword as field", `AND organism = "x"`, `at 1: expected a field name, NOT or "(", got "AND"`},
		{"trailing and", `organism = "x" AND`, `at 19: expected a field name, NOT or "(", got the end`},
		{"junk after", `organism = "x" "y"`, `at 16: expected AND, OR or the end, got "y"`},
		{"unclosed paren", `(organism = "x"`, `at 16: expected ")" to close the "(" at 1, got the end`},
		{"stray close", `organism = "x")`, `at 15: expected AND, OR or the end, got ")"`},
		{"unterminated string", `organism = "x`, `at 12: unterminated string`},
		{"bad escape", `organism = "a\n"`, `at 14: expected \" or \\ after \ in a string`},
		{"bang", `organism ! "x"`, `at 10: expected "!=", got "!"`},
		{"unexpected character", `organism = 'x'`, `at 12: unexpected character '\''`},
		{"bad number", `sample_count > 1.2.3`, `at 16: "1.2.3" is not a number or a date`},
		{"huge number", `sample_count > 1e999`, `at 16: 1e999 is out of range`},
		{"impossible date", `pub_date > 2023-02-30`, `at 12: 2023-02-30 is not a date`},
		{"in without bracket", `platform IN "x"`, `at 13: expected "[" after IN, got "x"`},
		{"in empty", `platform IN []`, `at 14: expected a value after "[", got "]"`},
		{"in trailing comma", `platform IN ["a",]`, `at 18: expected a value after ",", got "]"`},
		{"in unclosed", `platform IN ["a" "b"]`, `at 18: expected "," or "]" in the list of IN, got "b"`},
		{"upper-case field", `Organism = "x"`, `at 1: "Organism" is not a field name`},
		{"bad nesting", `sample..tissue = "x"`, `at 1: "sample..tissue" is not a field name`},
		{"unknown field", `year = 2010`, `at 1: unknown field "year"; declared fields: entry_type, gds_type, open_access, organism, platform, pub_date, sample.tissue, sample_count, source`},
		{"number given a string", `sample_count >= "ten"`, `at 17: sample_count is a number; "ten" is not`},
		{"number given a date", `sample_count = 2022-01-01`, `at 16: sample_count is a number; "2022-01-01" is not`},
		{"keyword given a number", `platform = 570`, `at 12: platform is a keyword; "570" is not (quote it: "570")`},
		{"keyword given a boolean", `platform = TRUE`, `at 12: platform is a keyword; true is not (quote it: "true")`},
		{"date given a word", `pub_date >= "last year"`, `at 13: pub_date is a date; "last year" is not`},
		{"date given a number", `pub_date >= 2022`, `at 13: pub_date is a date; "2022" is not`},
		{"boolean given a string", `open_access = "yes"`, `at 15: open_access is a boolean; "yes" is not`},
		{"keyword ordered", `organism > "a"`, `at 10: organism is a keyword: it takes =, !=, IN and EXISTS, not >`},
		{"boolean ordered", `open_access <= true`, `at 13: open_access is a boolean: it takes =, !=, IN and EXISTS, not <=`},
		{"in wrong type", `sample_count IN [1, "two"]`, `at 21: sample_count is a number; "two" is not`},
		{"too deep", strings.Repeat("(", 40) + `source = "x"` + strings.Repeat(")", 40), `at 33: the expression nests deeper than 32`},
		{"too long", `source = "` + strings.Repeat("x", MaxChars) + `"`, `at 4097: the expression is 4107 characters`},
		{"invalid utf-8", "source = \"\xff\"", `at 1: the expression is not valid UTF-8`},
		{"position counts characters", `source = "é" AND x = 1`, `at 18: unknown field "x"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse(c.src, testFields)
			var werr *Error
			if !errors.As(err, &werr) || !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("got %v, want %s…", err, c.want)
			}
		})
	}
}

func TestNoFieldsDeclared(t *testing.T) {
	t.Parallel()
	_, err := Parse(`organism = "x"`, MustFields(nil))
	if want := `at 1: unknown field "organism"; no fields are declared (search.fields)`; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestNewFields(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		fs   []Field
		want string
	}{
		{"bad name", []Field{{Name: "ok", Type: TypeNumber}, {Name: "Bad-Name", Type: TypeNumber}}, `fields[1].name: "Bad-Name" is not a field name`},
		{"bad type", []Field{{Name: "x", Type: "text"}}, `fields[0].type: "text" is not one of [keyword number date boolean]`},
		{"duplicate", []Field{{Name: "x", Type: TypeNumber}, {Name: "x", Type: TypeDate}}, `fields[1].name: "x" is declared twice`},
		{"column not keyword", []Field{{Name: "source", Type: TypeNumber, Column: SourceColumn}}, `fields[0].type: source reads the column source`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewFields(c.fs)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want …%s…", err, c.want)
			}
		})
	}
	if n := len(MustFields(GEOFields()).List()); n != 7 {
		t.Fatalf("GEOFields has %d fields, want 7", n)
	}
}

func TestSQLHasNoValues(t *testing.T) {
	t.Parallel()
	e, err := Parse(`organism = "x'; DROP TABLE records; --" OR sample_count > 5 OR pub_date IN [2020/01/01] OR source != "s'"`, testFields)
	if err != nil {
		t.Fatal(err)
	}
	sql, args := e.SQL("r", 3)
	if strings.Contains(sql, "DROP") || strings.Contains(sql, "s'") || !strings.Contains(sql, "$3") ||
		!strings.Contains(sql, "$6") || strings.Contains(sql, "$7") || len(args) != 4 {
		t.Fatalf("SQL %s with %d args", sql, len(args))
	}
}
