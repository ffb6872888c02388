package search

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/domainerr"
)

// Highlighting defaults and bounds.
const (
	// HighlightPreTagDefault and HighlightPostTagDefault wrap a matching word by default.
	HighlightPreTagDefault  = "<mark>"
	HighlightPostTagDefault = "</mark>"
	// HighlightTagMax is the longest tag a request may give, in bytes.
	HighlightTagMax = 64
	// highlightLanguageDefault parses queries and texts when no keyword backend says how.
	highlightLanguageDefault = "simple"
)

// HighlightFields are the metadata fields a hit's highlights cover: the title whole, the summary
// as a snippet around the matching words.
var HighlightFields = []string{"title", "summary"}

// Markers that stand for the tags inside the statement: control characters, removed from the
// texts beforehand, so that escaping the result cannot touch the tags and no text can forge one.
const (
	markStart = "\x01"
	markStop  = "\x02"
)

// highlightSQL returns, for each title $2[i] and summary $3[i], the text with the words of the
// query $4 (parsed in the text search configuration $1, any of them matching) between the
// markers: the whole title, and up to two fragments of the summary around its matches (its
// opening words when none match). The query's lexemes are quoted into a tsquery of
// alternatives, so a query's syntax never reaches the tsquery parser. A query without lexemes
// (only stop words) highlights nothing.
const highlightSQL = `
WITH q AS (
    SELECT (SELECT string_agg(quote_literal(l), ' | ') FROM unnest(tsvector_to_array(to_tsvector($1::text::regconfig, $4))) l)::tsquery AS tq
)
SELECT
    CASE WHEN x.title IS NULL THEN NULL
         ELSE ts_headline($1::text::regconfig, x.title, coalesce(q.tq, ''::tsquery), 'HighlightAll=true, StartSel="` + markStart + `", StopSel="` + markStop + `"') END,
    CASE WHEN x.summary IS NULL THEN NULL
         ELSE ts_headline($1::text::regconfig, x.summary, coalesce(q.tq, ''::tsquery),
             'MaxWords=35, MinWords=15, ShortWord=2, MaxFragments=2, FragmentDelimiter=" … ", StartSel="` + markStart + `", StopSel="` + markStop + `"') END
FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS x (title, summary, n), q
ORDER BY x.n`

// planHighlight validates the request's tags and fills their defaults.
func planHighlight(req *Request) error {
	if !req.Highlight {
		if req.HighlightPreTag != "" || req.HighlightPostTag != "" {
			return domainerr.Invalid("highlight", "is off, but highlight tags are set: send highlight: true")
		}
		return nil
	}
	for _, t := range []struct {
		field string
		tag   *string
		def   string
	}{{"highlight_pre_tag", &req.HighlightPreTag, HighlightPreTagDefault}, {"highlight_post_tag", &req.HighlightPostTag, HighlightPostTagDefault}} {
		switch {
		case *t.tag == "":
			*t.tag = t.def
		case len(*t.tag) > HighlightTagMax:
			return domainerr.Invalid(t.field, "is %d bytes, over the limit of %d", len(*t.tag), HighlightTagMax)
		}
	}
	return nil
}

// highlight fills the Highlights of hits (one page) with their title and summary, the query's
// words wrapped in the request's tags and the rest HTML-escaped, so a highlight is safe to insert
// into a page as it is (the tags are the caller's own). Words are matched as the keyword backend
// kw matches them (its language's stemming and stop words), in every mode.
func (s *Service) highlight(ctx context.Context, req Request, kw backends.Searcher, hits []Hit) error {
	if len(hits) == 0 || strings.TrimSpace(req.Query) == "" {
		return nil
	}
	lang := highlightLanguageDefault
	if kw != nil && kw.Language() != "" {
		lang = kw.Language()
	}
	titles, summaries := make([]*string, len(hits)), make([]*string, len(hits))
	for i, h := range hits {
		var m map[string]any
		if err := json.Unmarshal(h.Metadata, &m); err != nil {
			continue
		}
		titles[i], summaries[i] = unmarked(m[HighlightFields[0]]), unmarked(m[HighlightFields[1]])
	}
	rows, err := s.readPool(ctx).Query(ctx, highlightSQL, lang, titles, summaries, unmarkedText(req.Query))
	if err != nil {
		return fmt.Errorf("error highlighting: %w", err)
	}
	marks := strings.NewReplacer(markStart, req.HighlightPreTag, markStop, req.HighlightPostTag)
	i := 0
	var title, summary *string
	_, err = pgx.ForEachRow(rows, []any{&title, &summary}, func() error {
		out := map[string]string{}
		for k, v := range map[string]*string{HighlightFields[0]: title, HighlightFields[1]: summary} {
			if v != nil {
				out[k] = marks.Replace(html.EscapeString(*v))
			}
		}
		hits[i].Highlights = out
		i++
		return nil
	})
	if err != nil {
		return fmt.Errorf("error highlighting: %w", err)
	}
	return nil
}

// unmarked returns v's text without the markers when v is a string, else nil.
func unmarked(v any) *string {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	s = unmarkedText(s)
	return &s
}

func unmarkedText(s string) string {
	return strings.NewReplacer(markStart, "", markStop, "").Replace(s)
}
