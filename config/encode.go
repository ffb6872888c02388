package config

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var durationType = reflect.TypeFor[time.Duration]()

// YAML renders c in the config file format: keys as in the file, in the
// order of the struct fields, durations as "2m" or "100ms". Loading the
// result gives back c. Secrets are included; render [Config.Redacted] to show
// a config to someone.
func (c *Config) YAML() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(toNode(reflect.ValueOf(c))); err != nil {
		return nil, fmt.Errorf("config: error rendering YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("config: error rendering YAML: %w", err)
	}
	return buf.Bytes(), nil
}

// toMap renders v (a config struct) as the nested map a config file would
// load to, so built-in defaults merge with loaded layers key by key.
func toMap(v any) map[string]any {
	var m map[string]any
	if err := toNode(reflect.ValueOf(v)).Decode(&m); err != nil {
		panic(fmt.Sprintf("config: toMap(%T): %v", v, err)) // only fails on a programming error
	}
	return m
}

// toNode renders v as a YAML node, following the koanf tags of structs.
func toNode(v reflect.Value) *yaml.Node {
	if v.Type() == durationType {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: formatDuration(time.Duration(v.Int()))}
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
		}
		return toNode(v.Elem())
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for i := range v.NumField() {
			name, omitEmpty := koanfTag(v.Type().Field(i))
			if name == "" || omitEmpty && v.Field(i).IsZero() {
				continue
			}
			key := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}
			n.Content = append(n.Content, key, toNode(v.Field(i)))
		}
		return n
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		if v.Type().Elem().Kind() != reflect.Struct {
			n.Style = yaml.FlowStyle // fields: [title, summary]
		}
		for i := range v.Len() {
			n.Content = append(n.Content, toNode(v.Index(i)))
		}
		return n
	default:
		var n yaml.Node
		if err := n.Encode(v.Interface()); err != nil {
			panic(fmt.Sprintf("config: encode %v: %v", v.Type(), err)) // scalars always encode
		}
		return &n
	}
}

// formatDuration writes d as it would be written by hand: "2m" rather than
// the "2m0s" of [time.Duration.String].
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// koanfTag returns the key of a struct field and whether it's left out when
// empty; "" for a field without a tag.
func koanfTag(f reflect.StructField) (name string, omitEmpty bool) {
	name, opts, _ := strings.Cut(f.Tag.Get("koanf"), ",")
	return name, strings.Contains(opts, "omitempty")
}

// fieldType returns the type of the field of struct type t whose key is key.
func fieldType(t reflect.Type, key string) (reflect.Type, bool) {
	for i := range t.NumField() {
		if name, _ := koanfTag(t.Field(i)); name != "" && name == key {
			return t.Field(i).Type, true
		}
	}
	return nil, false
}

// typeAt returns the type of the value at a dotted path below type t (no
// list indexes: paths of env variables and flags), following pointers.
func typeAt(t reflect.Type, path string) (reflect.Type, bool) {
	for key := range strings.SplitSeq(path, ".") {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return nil, false
		}
		var ok bool
		if t, ok = fieldType(t, key); !ok {
			return nil, false
		}
	}
	return t, true
}
