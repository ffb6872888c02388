package search_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/records"
	"github.com/osa-archive/osa/search"
)

// Highlights wrap the query's words (stemmed as keyword search stems them) in the tags, escape
// everything else, including a hostile title, and cannot be forged by the text; in every mode.
func TestHighlight(t *testing.T) {
	t.Parallel()
	b := newBundle(t)
	docs := []map[string]any{
		{"title": `<script>alert("livers")</script> Liver & kidney`, "summary": "Nothing here. " + strings.Repeat("Filler words without the term. ", 20) +
			"The regenerating liver was sampled at day three. " + strings.Repeat("More filler text follows. ", 20)},
		{"title": "Heart atlas \x01forged\x02", "summary": "A heart study of the liver's neighbours."},
		{"title": "No summary, liver only"},
	}
	var params []records.PublishParams
	for _, d := range docs {
		raw, _ := json.Marshal(d)
		params = append(params, records.PublishParams{Metadata: raw})
	}
	ids := b.publish(t, params)
	b.svc = search.New(b.pool, []backends.Searcher{b.vec, b.kw}, search.Config{})
	for _, mode := range []search.Mode{search.ModeKeyword, search.ModeVector, search.ModeHybrid} {
		res := b.search(t, search.Request{Query: "livers", Mode: mode, Highlight: true})
		got := map[uuid.UUID]map[string]string{}
		for _, h := range res.Hits {
			got[h.SRN.ID] = h.Highlights
		}
		first := got[ids[0]]
		if first == nil {
			t.Fatalf("%v: the first record is not a hit: %v", mode, got)
		}
		// PostgreSQL's parser reads <script>…</script> as markup, not words: neither indexed nor
		// highlighted, only escaped.
		if want := `&lt;script&gt;alert(&#34;livers&#34;)&lt;/script&gt; <mark>Liver</mark> &amp; kidney`; first["title"] != want {
			t.Fatalf("%v: title highlight %q, want %q", mode, first["title"], want)
		}
		if s := first["summary"]; !strings.Contains(s, "regenerating <mark>liver</mark> was") || strings.HasPrefix(s, "Nothing here") {
			t.Fatalf("%v: summary highlight %q: want a fragment around the match", mode, s)
		}
		if h, ok := got[ids[2]]; ok {
			if _, has := h["summary"]; has || h["title"] != "No summary, <mark>liver</mark> only" {
				t.Fatalf("%v: highlights of a record without a summary: %q", mode, h)
			}
		}
		if h, ok := got[ids[1]]; ok && strings.Contains(h["title"], "<mark>forged") {
			t.Fatalf("%v: the text forged a tag: %q", mode, h["title"])
		}
	}
	// Tags of the caller's choosing; and none without highlight.
	res := b.search(t, search.Request{Query: "liver", Mode: search.ModeKeyword, Highlight: true, HighlightPreTag: "[", HighlightPostTag: "]"})
	if len(res.Hits) == 0 || !strings.Contains(res.Hits[0].Highlights["title"], "[Liver]") && !strings.Contains(res.Hits[0].Highlights["title"], "[liver]") {
		t.Fatalf("custom tags: %v", res.Hits)
	}
	if res := b.search(t, search.Request{Query: "liver"}); res.Hits[0].Highlights != nil {
		t.Fatalf("highlights without highlight: %v", res.Hits[0].Highlights)
	}
	_, err := b.svc.Search(context.Background(), search.Request{Query: "liver", HighlightPreTag: "<b>"})
	var invalid *domainerr.ValidationError
	if !errors.As(err, &invalid) || invalid.Field != "highlight" {
		t.Fatalf("tags without highlight: %v", err)
	}
}
