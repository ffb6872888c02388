package config

import (
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

var configType = reflect.TypeFor[Config]()

// checker walks the raw map of each layer (file, environment, flags) against
// the koanf tags of [Config], before the layers are merged: it reports keys
// that aren't part of the format and values that can't decode into their
// field, naming the key and the layer, and remembers which layer set each key
// last so that [Config.Validate] errors can name it too.
type checker struct {
	// source describes where the value of a key of the current layer came from.
	source func(key string) string

	// origins maps keys (leaves and lists) to the layer that set them last.
	origins map[string]string

	problems problems
}

func newChecker() *checker {
	return &checker{origins: make(map[string]string)}
}

// bad records a problem with the value of key in the current layer.
func (c *checker) bad(key, format string, args ...any) {
	c.problems = append(c.problems, &Error{Key: key, Problem: fmt.Sprintf(format, args...), Source: c.source(key)})
}

// origin returns the source of the value of key, or of the nearest enclosing
// key that has one ("backends[1].kind" falls back to "backends[1]", then
// "backends"); "" for a built-in default.
func (c *checker) origin(key string) string {
	for key != "" {
		if src, ok := c.origins[key]; ok {
			return src
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return ""
}

// setOrigin records that the current layer set key, forgetting what earlier
// layers set below it (a list replaces the list before it).
func (c *checker) setOrigin(key string) {
	for k := range c.origins {
		if strings.HasPrefix(k, key+".") || strings.HasPrefix(k, key+"[") {
			delete(c.origins, k)
		}
	}
	c.origins[key] = c.source(key)
}

// walk checks value v at key against type t. It deletes null values from maps,
// so that a key written without a value keeps its default.
func (c *checker) walk(key string, v any, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == durationType:
		s, isString := v.(string)
		_, err := time.ParseDuration(s)
		if isString && err != nil || !isString && !isZero(v) {
			c.bad(key, "%s is not a duration (e.g. 2m, 500ms)", show(v))
		}
	case t.Kind() == reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			c.bad(key, "%s is not a mapping of keys", show(v))
			return
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			sub := joinKey(key, k)
			ft, ok := fieldType(t, k)
			switch {
			case !ok:
				c.problems = append(c.problems, &Error{Key: sub, Source: c.source(sub), Unknown: true})
			case m[k] == nil:
				delete(m, k)
			default:
				c.walk(sub, m[k], ft)
			}
		}
		return // a mapping merges with the layers below: its keys have origins
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		items, ok := v.([]any)
		if !ok {
			c.bad(key, "%s is not a list", show(v))
			return
		}
		c.setOrigin(key)
		for i, item := range items {
			c.walk(fmt.Sprintf("%s[%d]", key, i), item, t.Elem())
		}
		return
	case t.Kind() == reflect.Slice:
		items, isList := v.([]any)
		_, isString := v.(string) // split at commas
		if !isList && !isString {
			c.bad(key, "%s is not a list", show(v))
		}
		for i, item := range items {
			if !isScalar(item) {
				c.bad(fmt.Sprintf("%s[%d]", key, i), "%s is not a string", show(item))
			}
		}
	case t.Kind() == reflect.String:
		if !isScalar(v) {
			c.bad(key, "%s is not a string", show(v))
		}
	case t.Kind() == reflect.Bool:
		s, isString := v.(string)
		_, err := strconv.ParseBool(s)
		if _, isBool := v.(bool); !isBool && (!isString || err != nil) {
			c.bad(key, "%s is not a boolean (true or false)", show(v))
		}
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		if !isInteger(v) {
			c.bad(key, "%s is not an integer", show(v))
		}
	}
	c.setOrigin(key)
}

// isInteger reports whether v decodes into an int the way mapstructure's
// weakly typed decoding does, without losing anything.
func isInteger(v any) bool {
	switch v := v.(type) {
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32:
		return true
	case uint64:
		return v <= math.MaxInt64
	case float64:
		return v == math.Trunc(v) && math.Abs(v) < 1<<63
	case string:
		_, err := strconv.ParseInt(v, 0, 64)
		return err == nil
	}
	return false
}

// isScalar reports whether v is a YAML scalar, which decodes into a string.
func isScalar(v any) bool {
	switch v.(type) {
	case []any, map[string]any, nil:
		return false
	}
	return true
}

// isZero reports whether v is the number 0 (a duration written as 0).
func isZero(v any) bool {
	return isInteger(v) && fmt.Sprint(v) == "0"
}

// show formats a raw value for an error message.
func show(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case nil:
		return "null"
	}
	return fmt.Sprint(v)
}

// joinKey appends a key to a dotted path.
func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
