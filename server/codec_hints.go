package server

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

var (
	unknownFieldRe = regexp.MustCompile(`unknown field "([^"]+)"`)
	badEnumRe      = regexp.MustCompile(`invalid value for enum field (\w+): "([^"]*)"`)
)

// enumAliases rewrites, in a top-level JSON object, the string values of md's enum fields that
// name a value by its short form ("keyword" for SEARCH_MODE_KEYWORD, any case), and reports
// whether it changed anything.
func enumAliases(data []byte, md protoreflect.MessageDescriptor) ([]byte, bool) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) != nil {
		return data, false
	}
	changed := false
	fields := md.Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if f.Kind() != protoreflect.EnumKind || f.IsList() || f.IsMap() {
			continue
		}
		for _, key := range []string{f.JSONName(), string(f.Name())} {
			raw, ok := obj[key]
			var s string
			if !ok || json.Unmarshal(raw, &s) != nil {
				continue
			}
			if full, ok := enumFullName(f.Enum(), s); ok && full != s {
				obj[key], _ = json.Marshal(full)
				changed = true
			}
		}
	}
	if !changed {
		return data, false
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return data, false
	}
	return out, true
}

// enumFullName returns the value of ed that s names in full or by its short form.
func enumFullName(ed protoreflect.EnumDescriptor, s string) (string, bool) {
	values := ed.Values()
	for i := range values.Len() {
		name := string(values.Get(i).Name())
		if strings.EqualFold(name, s) || strings.EqualFold(shortEnumName(ed, name), s) {
			return name, true
		}
	}
	return "", false
}

// shortEnumName strips the enum's prefix: SEARCH_MODE_KEYWORD → keyword.
func shortEnumName(ed protoreflect.EnumDescriptor, name string) string {
	prefix := strings.ToUpper(camelToSnake(string(ed.Name()))) + "_"
	return strings.ToLower(strings.TrimPrefix(name, prefix))
}

func camelToSnake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// explainDecodeError adds to a JSON decoding error of md what to send instead: the fields md
// has (and the likely one) for an unknown field, the accepted spellings for an enum value.
func explainDecodeError(err error, md protoreflect.MessageDescriptor) error {
	msg := err.Error()
	if m := unknownFieldRe.FindStringSubmatch(msg); m != nil {
		var names []string
		fields := md.Fields()
		for i := range fields.Len() {
			names = append(names, fields.Get(i).JSONName())
		}
		hint := fmt.Sprintf("%s has the fields %s", md.Name(), strings.Join(names, ", "))
		if near := closest(m[1], names); near != "" {
			hint += fmt.Sprintf("; did you mean %q?", near)
		} else if slices.Contains(names, "metadata") {
			hint += `; a record's own fields go inside "metadata": {"metadata": {"title": ...}}`
		}
		return fmt.Errorf("unknown field %q: %s", m[1], hint)
	}
	if m := badEnumRe.FindStringSubmatch(msg); m != nil {
		if f := md.Fields().ByJSONName(m[1]); f != nil && f.Enum() != nil {
			var spellings []string
			values := f.Enum().Values()
			for i := range values.Len() {
				name := string(values.Get(i).Name())
				if values.Get(i).Number() != 0 {
					spellings = append(spellings, fmt.Sprintf("%s (or %q)", name, shortEnumName(f.Enum(), name)))
				}
			}
			return fmt.Errorf("%s: %q is not a value: send one of %s", m[1], m[2], strings.Join(spellings, ", "))
		}
	}
	return err
}

// closest returns the name of names nearest to s, when it is near enough to be a likely
// misspelling (a prefix of it, or at most two edits away); "" otherwise.
func closest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if strings.HasPrefix(strings.ToLower(n), strings.ToLower(s)) {
			return n
		}
		if d := editDistance(strings.ToLower(s), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
