package where

import (
	"errors"
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks that Parse never panics, that every error is an *Error positioned inside
// the text (or just after it), and that what parses prints as text that parses to the same tree
// and compiles with one parameter per value.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`organism = "Mus musculus" AND sample_count >= 10 AND pub_date >= 2022-01-01`,
		`(platform IN ["GPL570", "GPL96"] OR NOT gds_type EXISTS) and open_access = true`,
		`pub_date < 2022/01/31 OR sample.tissue != "a \"b\" \\"`,
		`sample_count >=`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := Parse(src, testFields)
		if err != nil {
			var werr *Error
			if !errors.As(err, &werr) {
				t.Fatalf("%q: error %v is not an *Error", src, err)
			}
			if werr.Pos < 1 || (utf8.ValidString(src) && werr.Pos > utf8.RuneCountInString(src)+1) {
				t.Fatalf("%q: position %d outside the text", src, werr.Pos)
			}
			return
		}
		again, err := Parse(e.String(), testFields)
		if err != nil {
			// Re-printing adds parentheses, which may exceed MaxDepth or MaxChars.
			var werr *Error
			if errors.As(err, &werr) && (len(e.String()) > MaxChars || werr.Msg == "the expression nests deeper than 32") {
				return
			}
			t.Fatalf("%q prints as %q, which does not parse: %v", src, e.String(), err)
		}
		if !reflect.DeepEqual(e.Root, again.Root) {
			t.Fatalf("%q prints as %q, which parses otherwise", src, e.String())
		}
		if _, args := e.SQL("r", 1); len(args) == 0 && !onlyExists(e.Root) {
			t.Fatalf("%q compiles with no parameters", src)
		}
	})
}

// onlyExists reports whether every leaf of n is an EXISTS.
func onlyExists(n Node) bool {
	switch n := n.(type) {
	case *And:
		return onlyExists(n.Left) && onlyExists(n.Right)
	case *Or:
		return onlyExists(n.Left) && onlyExists(n.Right)
	case *Not:
		return onlyExists(n.X)
	case *Exists:
		return true
	}
	return false
}
