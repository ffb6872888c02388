package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/osa-archive/osa/sdk"
)

// A record with no text a backend can index ({} or only numbers) is a legitimate record: every
// backend reports it empty, with the reason, not failed, and nothing is retried; a record whose
// new version lost its text leaves no old row to be found by its old words.
func TestRecordWithoutTextIsEmpty(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t, nil)
	c, err := sdk.New(b.baseURL)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.PublishMany(ctx, []sdk.PublishParams{
		{Metadata: map[string]any{}},
		{Metadata: map[string]any{"year": 2020}},
		{Metadata: map[string]any{"title": "Quokka smiles"}, Source: "lab", SourceID: "q"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res[:2] {
		st, err := c.WaitIndexed(ctx, r.SRN)
		if err != nil {
			t.Fatalf("WaitIndexed of a record without text: %v", err)
		}
		for _, s := range st.Backends {
			if s.State != sdk.IndexEmpty || !strings.Contains(s.LastError, "no text to") || strings.Contains(s.LastError, "JobCancelError") {
				t.Fatalf("%s on %s: %+v, want empty with the reason", r.SRN, s.Backend, s)
			}
		}
	}
	if _, err := c.WaitIndexed(ctx, res[2].SRN); err != nil {
		t.Fatal(err)
	}
	// Version 2 of the quokka has no text any more.
	res2, err := c.PublishMany(ctx, []sdk.PublishParams{{Metadata: map[string]any{"year": 2021}, Source: "lab", SourceID: "q"}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.WaitIndexed(ctx, res2[0].SRN)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Backends {
		if s.State != sdk.IndexEmpty || s.IndexedVersion != 2 {
			t.Fatalf("the quokka's version 2 on %s: %+v, want empty at 2", s.Backend, s)
		}
	}
	for _, mode := range []sdk.SearchMode{sdk.SearchKeyword, sdk.SearchVector} {
		found, err := c.Search(ctx, "quokka smiles", &sdk.SearchOpts{Mode: mode})
		if err != nil || len(found.Hits) != 0 {
			t.Fatalf("%v search for the quokka's old words: %+v, %v; want nothing", mode, found, err)
		}
	}
	bs, err := c.Backends(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, be := range bs {
		if be.Failed != 0 {
			t.Fatalf("%s counts %d failed records, want none", be.Name, be.Failed)
		}
	}
}
