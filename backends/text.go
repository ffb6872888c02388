package backends

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Defaults and bounds of [TextConfig].
const (
	TextMaxCharsDefault = 8000
	TextMaxCharsMin     = 1
	TextMaxCharsMax     = 1000000
)

// TextFieldsDefault returns the fields of [TextConfig.Fields] when none are given: title, then
// summary.
func TextFieldsDefault() []string { return []string{"title", "summary"} }

// TextConfig configures how a record's metadata becomes the text a backend indexes.
type TextConfig struct {
	// Fields are the metadata fields used first, in order; the first non-empty one is the title
	// ([Title]). Every other top-level string field follows them. Defaults to [title, summary].
	Fields []string
	// MaxChars caps the text, in characters (runes), 1..1000000. Defaults to 8000.
	MaxChars int
}

// WithDefaults returns a copy of c with every zero field set to its default.
func (c TextConfig) WithDefaults() TextConfig {
	if len(c.Fields) == 0 {
		c.Fields = TextFieldsDefault()
	}
	c.Fields = slices.Clone(c.Fields)
	if c.MaxChars == 0 {
		c.MaxChars = TextMaxCharsDefault
	}
	return c
}

// Validate reports what is wrong with c (after [TextConfig.WithDefaults]), naming the field.
func (c TextConfig) Validate() error {
	var errs []error
	for i, f := range c.Fields {
		if strings.TrimSpace(f) == "" {
			errs = append(errs, fmt.Errorf("text.fields[%d]: empty field name", i))
		}
	}
	if c.MaxChars < TextMaxCharsMin || c.MaxChars > TextMaxCharsMax {
		errs = append(errs, fmt.Errorf("text.max_chars: %d is out of range (%d..%d)", c.MaxChars, TextMaxCharsMin, TextMaxCharsMax))
	}
	return errors.Join(errs...)
}

// Text returns the text indexed for a record: the values of cfg.Fields in order, then every other
// top-level string field in sorted key order, one per line. A configured field may be a string, a
// number, a boolean or an array (its scalar elements joined with ", "); nested objects are skipped.
// Each part is trimmed and empty parts are dropped. The result is valid UTF-8 without NUL bytes
// (Postgres text cannot hold them) and at most cfg.MaxChars runes long. Zero fields of cfg take
// their defaults.
func Text(meta map[string]any, cfg TextConfig) string {
	cfg = cfg.WithDefaults()
	title, rest := textParts(meta, cfg)
	return capRunes(joinNonEmpty(title, rest), cfg.MaxChars)
}

// TextParts splits [Text] into the title ([Title]) and the rest, so a backend can weight them
// differently: title + "\n" + rest is [Text] (without the newline when either is empty).
func TextParts(meta map[string]any, cfg TextConfig) (title, rest string) {
	cfg = cfg.WithDefaults()
	title, others := textParts(meta, cfg)
	text := capRunes(joinNonEmpty(title, others), cfg.MaxChars)
	if title == "" {
		return "", text
	}
	if len(text) <= len(title) { // the cap fell inside the title, or there is no rest
		return text, ""
	}
	return title, text[len(title)+1:]
}

// Title returns the value of the first field of cfg.Fields that is not empty, formatted as in
// [Text] and capped at cfg.MaxChars runes; "" when there is none. The keyword backend weights it
// above the rest of the text.
func Title(meta map[string]any, cfg TextConfig) string {
	cfg = cfg.WithDefaults()
	title, _ := textParts(meta, cfg)
	return capRunes(title, cfg.MaxChars)
}

// textParts returns the title and the rest of the text, uncapped.
func textParts(meta map[string]any, cfg TextConfig) (title string, rest []string) {
	for _, f := range cfg.Fields {
		v := clean(formatValue(meta[f]))
		switch {
		case v == "":
		case title == "":
			title = v
		default:
			rest = append(rest, v)
		}
	}
	others := make([]string, 0, len(meta))
	for k, v := range meta {
		if _, ok := v.(string); ok && !slices.Contains(cfg.Fields, k) {
			others = append(others, k)
		}
	}
	slices.Sort(others)
	for _, k := range others {
		if v := clean(meta[k].(string)); v != "" {
			rest = append(rest, v)
		}
	}
	return title, rest
}

// formatValue formats a scalar, or the scalar elements of an array joined with ", ". Objects,
// nulls and nested arrays give "".
func formatValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case float32:
		return strconv.FormatFloat(float64(v), 'f', -1, 32)
	case int:
		return strconv.Itoa(v)
	case int32:
		return strconv.FormatInt(int64(v), 10)
	case int64:
		return strconv.FormatInt(v, 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case json.Number:
		return v.String()
	case []string:
		return joinScalars(v)
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			switch e.(type) {
			case []any, []string, map[string]any:
				continue // only scalars join into a list
			}
			parts = append(parts, formatValue(e))
		}
		return joinScalars(parts)
	default:
		return ""
	}
}

// joinScalars joins the non-empty trimmed parts with ", ".
func joinScalars(parts []string) string {
	kept := make([]string, 0, len(parts))
	for _, p := range parts {
		if p = clean(p); p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, ", ")
}

// clean trims s and makes it storable as Postgres text: invalid UTF-8 becomes U+FFFD, NUL bytes
// are removed.
func clean(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	return strings.TrimSpace(s)
}

// joinNonEmpty joins first (when not empty) and rest with newlines.
func joinNonEmpty(first string, rest []string) string {
	if first == "" {
		return strings.Join(rest, "\n")
	}
	if len(rest) == 0 {
		return first
	}
	return first + "\n" + strings.Join(rest, "\n")
}

// capRunes cuts s to at most n runes, on a rune boundary, and trims the trailing space the cut
// may leave.
func capRunes(s string, n int) string {
	if len(s) <= n { // bytes ≥ runes
		return s
	}
	i := 0
	for pos := range s {
		if i == n {
			return strings.TrimRightFunc(s[:pos], unicode.IsSpace)
		}
		i++
	}
	return s
}
