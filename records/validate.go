package records

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/osa-archive/osa/domainerr"
)

// Limits bound the metadata of one record. A zero (or negative) field means
// its default; [DefaultLimits] returns all the defaults.
type Limits struct {
	// MaxMetadataBytes is the largest metadata document, in bytes of JSON as
	// the client sent it (records.max_metadata_bytes). Defaults to 256 KiB
	// (262144), like config.MaxMetadataBytesDefault.
	MaxMetadataBytes int

	// MaxDepth is the deepest nesting of objects and arrays, counting the
	// top-level object as depth 1 (records.max_depth). Defaults to 32, like
	// config.MaxDepthDefault.
	MaxDepth int
}

// The defaults of [Limits]; config.Default() takes them from here.
const (
	MaxMetadataBytesDefault = 256 << 10
	MaxDepthDefault         = 32
)

// DefaultLimits returns the default limits: 256 KiB of metadata nested at
// most 32 levels deep.
func DefaultLimits() Limits {
	return Limits{MaxMetadataBytes: MaxMetadataBytesDefault, MaxDepth: MaxDepthDefault}
}

// withDefaults returns a copy of l with zero or negative fields set to their
// defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxMetadataBytes <= 0 {
		l.MaxMetadataBytes = MaxMetadataBytesDefault
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = MaxDepthDefault
	}
	return l
}

// SourceNamePattern is what the source a record is published under must match, whole: a
// lower-case letter, then up to 39 lower-case letters, digits or underscores, e.g. "geo" or
// "my_lab". It is the pattern of every name OSA has (config.NamePattern is this constant), so
// the records a configured source harvests, published under its name, always pass.
const SourceNamePattern = `[a-z][a-z0-9_]{0,39}`

var sourceNameRe = regexp.MustCompile(`^` + SourceNamePattern + `$`)

// ValidateSource checks name, the source a record is published under; field names it in the
// error, e.g. "records[3].source"; empty means "source". An empty name (no source) is valid.
// Anything else that does not match [SourceNamePattern] is a *[domainerr.ValidationError] that
// says what to send, with a suggestion made from name when one can be made.
func ValidateSource(field, name string) error {
	field = cmp.Or(field, "source")
	if name == "" || sourceNameRe.MatchString(name) {
		return nil
	}
	msg := fmt.Sprintf("%q is not a valid source name: send a lower-case letter, then up to 39 lower-case letters, digits or underscores (%s)",
		name, SourceNamePattern)
	if s := suggestSourceName(name); s != "" {
		msg += fmt.Sprintf(", e.g. %q", s)
	}
	return domainerr.Invalid(field, "%s", msg)
}

// suggestSourceName returns name made valid, lower-cased with each run of other characters
// turned into one underscore ("My Lab!" → "my_lab"), or "" when nothing of name is left.
func suggestSourceName(name string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			b.WriteRune(r)
			under = false
		default:
			under = true
		}
	}
	s := strings.TrimLeft(b.String(), "0123456789_")
	if len(s) > 40 {
		s = strings.TrimRight(s[:40], "_")
	}
	if !sourceNameRe.MatchString(s) {
		return ""
	}
	return s
}

// ValidateMetadata checks that raw, the JSON encoding of a record's metadata,
// is publishable and returns it decoded. field names raw in errors, e.g.
// "records[3].metadata"; empty means "metadata".
//
// raw must be a single JSON object of at most limits.MaxMetadataBytes bytes
// (else a *[domainerr.LimitError]), valid UTF-8 (encoding/json would silently replace
// invalid bytes), nested at most limits.MaxDepth levels deep, with non-empty
// keys that are unique within each object. Anything else is a
// *[domainerr.ValidationError] whose Field is field, or the path below it of the
// offending key, e.g. `records[3].metadata.authors[0]: has an empty key`.
//
// Numbers decode as [json.Number], keeping their digits as written; the
// other values are string, bool, nil, []any and map[string]any. Depth is
// measured while streaming, before anything deeper is decoded, so a deeply
// nested document costs time linear in its size and no stack.
func ValidateMetadata(field string, raw []byte, limits Limits) (map[string]any, error) {
	field = cmp.Or(field, "metadata")
	limits = limits.withDefaults()

	if len(raw) == 0 {
		return nil, domainerr.Invalid(field, "is required")
	}
	if len(raw) > limits.MaxMetadataBytes {
		return nil, &domainerr.LimitError{
			Field:  field,
			Limit:  "records.max_metadata_bytes",
			Reason: fmt.Sprintf("%d bytes is over records.max_metadata_bytes (%d)", len(raw), limits.MaxMetadataBytes),
		}
	}
	if !utf8.Valid(raw) {
		return nil, domainerr.Invalid(field, "is not valid UTF-8 (at byte %d)", invalidUTF8Offset(raw))
	}

	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	m, err := decodeMetadata(dec, field, limits.MaxDepth)
	if err != nil {
		return nil, err
	}

	end := int(dec.InputOffset())
	if _, err := dec.Token(); err != io.EOF {
		// Whitespace after the object is fine, so point past it.
		for end < len(raw) && isJSONSpace(raw[end]) {
			end++
		}
		return nil, domainerr.Invalid(field, "has data after the JSON object (at byte %d)", end)
	}
	return m, nil
}

// CanonicalJSON returns the deterministic JSON encoding of m, the form in
// which metadata is stored and compared: no insignificant whitespace, object
// keys sorted (encoding/json sorts map keys), HTML characters not escaped,
// and [json.Number]s as written. For every map returned by
// [ValidateMetadata], the result validates again and decodes to an equal
// map. A nil m encodes as "null".
func CanonicalJSON(m map[string]any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, fmt.Errorf("error encoding metadata: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// jsonContainer is an object or array being decoded.
type jsonContainer struct {
	obj map[string]any // nil for an array
	arr []any

	// key is the key whose value comes next in obj, once haveKey is set.
	key     string
	haveKey bool
}

// add adds v to c, under the pending key if c is an object.
func (c *jsonContainer) add(v any) {
	if c.obj == nil {
		c.arr = append(c.arr, v)
		return
	}
	c.obj[c.key] = v
	c.key, c.haveKey = "", false
}

// value returns the decoded object or array.
func (c *jsonContainer) value() any {
	if c.obj == nil {
		return c.arr
	}
	return c.obj
}

// decodeMetadata decodes one JSON object from dec with an explicit stack
// rather than recursion, so that depth is checked before anything deeper is
// decoded. dec.Token checks the syntax: commas, colons and matching
// delimiters.
func decodeMetadata(dec *json.Decoder, field string, maxDepth int) (map[string]any, error) {
	tok, err := dec.Token()
	switch {
	case err == io.EOF:
		return nil, domainerr.Invalid(field, "is required") // only whitespace
	case err != nil:
		return nil, jsonSyntaxError(field, err)
	case tok != json.Delim('{'):
		return nil, domainerr.Invalid(field, "must be a JSON object, got %s", jsonKind(tok))
	}

	stack := []*jsonContainer{{obj: map[string]any{}}}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, jsonSyntaxError(field, err)
		}
		top := stack[len(stack)-1]

		if tok == json.Delim('}') || tok == json.Delim(']') {
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return top.obj, nil
			}
			stack[len(stack)-1].add(top.value())
			continue
		}

		if top.obj != nil && !top.haveKey {
			// Where a key is due, dec.Token returns one or fails.
			key, ok := tok.(string)
			if !ok {
				return nil, domainerr.Invalid(jsonPath(field, stack), "is not valid JSON: expected an object key, got %s", jsonKind(tok))
			}
			if key == "" {
				return nil, domainerr.Invalid(jsonPath(field, stack), "has an empty key")
			}
			if _, dup := top.obj[key]; dup {
				// Decoders disagree on which duplicate wins; refuse to guess.
				return nil, domainerr.Invalid(jsonPath(field, stack)+jsonKeyPath(key), "appears more than once")
			}
			top.key, top.haveKey = key, true
			continue
		}

		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack) == maxDepth {
				return nil, depthError(dec, field, len(stack)+1, maxDepth)
			}
			c := &jsonContainer{arr: []any{}}
			if tok == json.Delim('{') {
				c = &jsonContainer{obj: map[string]any{}}
			}
			stack = append(stack, c)
		default:
			top.add(tok)
		}
	}
}

// depthError reads the rest of the document only to count how deep it goes,
// and returns the error for a document that reached depth (over maxDepth)
// at the delimiter just read.
func depthError(dec *json.Decoder, field string, depth, maxDepth int) error {
	deepest := depth
	for depth > 0 {
		tok, err := dec.Token()
		if err != nil {
			return domainerr.Invalid(field, "nested at least %d levels deep, over records.max_depth (%d)", deepest, maxDepth)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			deepest = max(deepest, depth)
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return domainerr.Invalid(field, "nested %d levels deep, over records.max_depth (%d)", deepest, maxDepth)
}

// jsonSyntaxError turns an error of json.Decoder.Token into a
// domainerr.ValidationError.
func jsonSyntaxError(field string, err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		return domainerr.Invalid(field, "is not valid JSON: %s (at byte %d)", se.Error(), se.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		// Token returns a bare io.EOF when input ends inside an object.
		return domainerr.Invalid(field, "is not valid JSON: unexpected end of input")
	default:
		return domainerr.Invalid(field, "is not valid JSON: %v", err)
	}
}

// jsonKind names the kind of JSON value whose first token is tok.
func jsonKind(tok json.Token) string {
	switch tok := tok.(type) {
	case json.Delim:
		if tok == '{' {
			return "object"
		}
		if tok == '[' {
			return "array"
		}
		return strconv.Quote(tok.String())
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%T", tok)
	}
}

// jsonPath returns the path of the innermost container of stack below
// field, e.g. "metadata.authors[0]".
func jsonPath(field string, stack []*jsonContainer) string {
	var b strings.Builder
	b.WriteString(field)
	for _, parent := range stack[:len(stack)-1] {
		if parent.obj != nil {
			b.WriteString(jsonKeyPath(parent.key))
		} else {
			fmt.Fprintf(&b, "[%d]", len(parent.arr))
		}
	}
	return b.String()
}

// jsonKeyPath returns the path step to key: ".key" for identifier-like keys,
// else `["key"]`.
func jsonKeyPath(key string) string {
	if key == "" {
		return `[""]`
	}
	for i, r := range key {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return "[" + strconv.Quote(key) + "]"
		}
	}
	return "." + key
}

// invalidUTF8Offset returns the offset of the first byte of b that isn't
// part of a valid UTF-8 sequence, or len(b).
func invalidUTF8Offset(b []byte) int {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// isJSONSpace reports whether c is JSON whitespace.
func isJSONSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}
