package web

import (
	"encoding/json"
	"html/template"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// displayMax is the longest value a page shows, in characters; the rest is cut with "…" (the
// record's downloads have all of it).
const displayMax = 2000

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"date": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"datep": func(t *time.Time) string {
		if t == nil {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"pct": func(done, total int64) int64 {
		if total <= 0 {
			return 0
		}
		return 100 * done / total
	},
	"seconds": func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + " s" },
	"ms": func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 0, 64) + " ms"
	},
}

// str returns v when it is a string, made safe to show.
func str(v any) string {
	s, _ := v.(string)
	return clip(s, displayMax)
}

// number returns v as text when it is a number, else "".
func number(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return ""
}

// display returns a metadata value as text: a string as it is, a list of strings joined with
// commas, anything else as JSON; cut at displayMax.
func display(v any) string {
	if s, ok := v.(string); ok {
		return clip(s, displayMax)
	}
	if l := stringList(v); len(l) > 0 {
		if _, isList := v.([]any); isList {
			return clip(strings.Join(l, ", "), displayMax)
		}
	}
	b, _ := json.Marshal(v)
	return clip(string(b), displayMax)
}

// stringList returns v's strings: v itself when a string, the strings of a list.
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		if len(out) == len(v) {
			return out
		}
	}
	return nil
}

// clip returns s cut to n characters (with "…"), without the characters that reorder or hide
// text (bidirectional overrides and isolates, zero-width ones) or control characters: html/template
// escapes markup, and this keeps hostile text readable too.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return ' '
		case unicode.Is(unicode.Bidi_Control, r), unicode.IsControl(r), r == '\u200b', r == '\u2060', r == '\ufeff':
			return -1
		}
		return r
	}, s)
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
