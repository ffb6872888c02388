package sources_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/osa-archive/osa/sources"
)

// named is a source with only a name.
type named string

func (n named) Name() string { return string(n) }
func (named) Pull(context.Context, sources.Cursor) (sources.Page, sources.Cursor, error) {
	return sources.Page{}, sources.Cursor{}, nil
}
func (named) Get(context.Context, string) (sources.Record, error) {
	return sources.Record{}, sources.ErrNotFound
}
func (named) Health(context.Context) error { return nil }

func entry(name string) sources.Entry {
	return sources.Entry{Source: named(name), Kind: "test", Enabled: true, PageSize: 10, MaxPageSize: 100}
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	reg, err := sources.NewRegistry([]sources.Entry{entry("b"), entry("a")})
	if err != nil {
		t.Fatal(err)
	}
	if got := reg.Names(); !slices.Equal(got, []string{"b", "a"}) {
		t.Fatalf("names %v, want configuration order", got)
	}
	if e, err := reg.Lookup("a"); err != nil || e.Name() != "a" {
		t.Fatalf("Lookup(a) = %v, %v", e, err)
	}
	if _, err := reg.Lookup("c"); !errors.Is(err, sources.ErrUnknownSource) || !strings.Contains(err.Error(), "[b a]") {
		t.Fatalf("Lookup(c) = %v, want ErrUnknownSource listing the names", err)
	}
	var none *sources.Registry
	if _, err := none.Lookup("a"); !errors.Is(err, sources.ErrUnknownSource) || len(none.Names()) != 0 || none.Entries() != nil {
		t.Fatal("a nil registry must hold no sources")
	}
}

func TestNewRegistryErrors(t *testing.T) {
	t.Parallel()
	bad := func(edit func(*sources.Entry)) sources.Entry {
		e := entry("x")
		edit(&e)
		return e
	}
	for name, entries := range map[string][]sources.Entry{
		"Duplicate":       {entry("a"), entry("a")},
		"NoSource":        {bad(func(e *sources.Entry) { e.Source = nil })},
		"NoKind":          {bad(func(e *sources.Entry) { e.Kind = "" })},
		"PageSizeOverMax": {bad(func(e *sources.Entry) { e.PageSize = 101 })},
		"PageSizeZero":    {bad(func(e *sources.Entry) { e.PageSize = 0 })},
		"NegativeLimit":   {bad(func(e *sources.Entry) { e.Limit = -1 })},
	} {
		if _, err := sources.NewRegistry(entries); err == nil {
			t.Errorf("%s: NewRegistry succeeded", name)
		}
	}
}
