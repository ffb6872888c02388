package config

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	kmaps "github.com/knadh/koanf/maps"
	kyaml "github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"go.yaml.in/yaml/v3"
)

const (
	// EnvConfigFile names the environment variable holding the path of the
	// config file used when [LoadOpts.File] is empty.
	EnvConfigFile = "OSA_CONFIG_FILE"

	// EnvPrefix starts every environment variable that sets a config key. The
	// rest of the name holds the key, lower-cased, with "__" between its parts:
	// OSA_HTTP__ADDR sets http.addr, OSA_WORKER__JOB_TIMEOUT
	// worker.job_timeout. OSA_ variables without "__" (OSA_CONFIG_FILE,
	// OSA_SERVER, OSA_TOKEN, ...) belong to the CLI and are ignored.
	EnvPrefix = "OSA_"

	// flagsSource names the layer of [LoadOpts.Set] in error messages.
	flagsSource = "command-line flags"
)

// LoadOpts are the inputs of [Load].
type LoadOpts struct {
	// File is the path of a YAML config file. Empty means the file named by
	// the environment variable OSA_CONFIG_FILE, and none if that's empty too.
	File string

	// Env is the environment, in the "KEY=value" form of [os.Environ]. Nil
	// means os.Environ(); tests pass an empty slice for none.
	Env []string

	// Set are "key=value" overrides from command-line flags, the highest
	// layer, with dotted keys ("http.addr=:9090"). The value of a string key
	// is taken as written; any other value is parsed as YAML, a scalar or a
	// flow collection ("10", "5s", "[a, b]", "[{name: v, kind: keyword}]").
	Set []string
}

// Load builds the effective configuration from its layers, each overriding
// the one before: [Default], the YAML file, OSA_* environment variables and
// opts.Set. A list (backends, sources) replaces the list below it as a whole,
// and each of its items is filled from [DefaultBackend] or [DefaultSource]. A
// key written without a value (null) keeps the value below it.
//
// Load is strict: unknown keys and values that don't fit their field are
// errors, and the result must pass [Config.Validate]. All problems found are
// returned at once (joined), one line each, naming the key and its source.
func Load(opts LoadOpts) (*Config, error) {
	environ := opts.Env
	if environ == nil {
		environ = os.Environ()
	}

	return load([]func() (layer, error){
		func() (layer, error) { return readFile(cmp.Or(opts.File, lookupEnv(environ, EnvConfigFile))) },
		func() (layer, error) { return readEnv(environ) },
		func() (layer, error) { return readFlags(opts.Set) },
	})
}

// load merges layers over [Default] as [Load] describes, strictly, and validates the result.
func load(layers []func() (layer, error)) (*Config, error) {
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(toMap(Default()), ""), nil); err != nil {
		return nil, fmt.Errorf("config: error loading defaults: %w", err)
	}
	c := newChecker()
	for _, read := range layers {
		l, err := read()
		if err != nil {
			return nil, err
		}
		c.source = l.source
		c.walk("", l.raw, configType)
		if err := k.Load(confmap.Provider(l.raw, ""), nil); err != nil {
			return nil, fmt.Errorf("config: error merging layers: %w", err)
		}
	}

	if err := c.problems.err(); err != nil {
		return nil, err
	}
	raw := k.Raw()
	fillItems(raw)
	cfg, err := decode(raw)
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, c.withSources(err)
	}
	return cfg, nil
}

// layer is the raw map read from one source, before it's merged.
type layer struct {
	raw map[string]any

	// source describes where the value of a key came from.
	source func(key string) string
}

// readFile reads the YAML config file at path; none if path is empty.
func readFile(path string) (layer, error) {
	if path == "" {
		return layer{}, nil
	}
	k := koanf.New(".")
	if err := k.Load(file.Provider(path), kyaml.Parser()); err != nil {
		return layer{}, fmt.Errorf("config: error reading config file: %w", err)
	}
	return layer{raw: k.Raw(), source: func(string) string { return path }}, nil
}

// readEnv reads the config keys set by the OSA_*__* variables of environ.
func readEnv(environ []string) (layer, error) {
	names := make(map[string]string) // config key → variable name
	k := koanf.New(".")
	provider := env.Provider(".", env.Opt{
		Prefix:        EnvPrefix,
		TransformFunc: func(name, value string) (string, any) { return envKey(name, names), value },
		EnvironFunc:   func() []string { return environ },
	})
	if err := k.Load(provider, nil); err != nil {
		return layer{}, fmt.Errorf("config: error reading environment: %w", err)
	}
	source := func(key string) string {
		if name, ok := names[key]; ok {
			return "environment variable " + name
		}
		for _, k := range slices.Sorted(maps.Keys(names)) {
			if strings.HasPrefix(k, key+".") { // OSA_HTTP__X__Y makes "http.x" a mapping
				return "environment variable " + names[k]
			}
		}
		return "environment"
	}
	return layer{raw: k.Raw(), source: source}, nil
}

// readFlags reads "key=value" overrides, see [LoadOpts.Set].
func readFlags(set []string) (layer, error) {
	flat, err := parseSet(set)
	if err != nil {
		return layer{}, err
	}
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(flat, "."), nil); err != nil {
		return layer{}, fmt.Errorf("config: error reading flags: %w", err)
	}
	return layer{raw: k.Raw(), source: func(string) string { return flagsSource }}, nil
}

// withSources adds to the *Error values in err the layer their key came from.
func (c *checker) withSources(err error) error {
	errs := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	}
	for _, e := range errs {
		var ce *Error
		if errors.As(e, &ce) && ce.Source == "" {
			ce.Source = c.origin(ce.Key)
		}
	}
	return err
}

// envKey returns the config key set by the environment variable name, or ""
// if it doesn't set one, and records the name of the variable of each key.
func envKey(name string, names map[string]string) string {
	rest := strings.TrimPrefix(name, EnvPrefix)
	if !strings.Contains(rest, "__") {
		return ""
	}
	key := strings.ReplaceAll(strings.ToLower(rest), "__", ".")
	names[key] = name
	return key
}

// lookupEnv returns the value of the variable name in environ, "" if unset.
func lookupEnv(environ []string, name string) string {
	value := ""
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			value = v // the last one wins, as with os.Getenv
		}
	}
	return value
}

// parseSet turns "key=value" overrides into a flat map of dotted keys. The
// value of a key of type string is kept as written, so that "a: b" or "#x"
// in a password survive; other values are parsed as YAML.
func parseSet(set []string) (map[string]any, error) {
	flat := make(map[string]any, len(set))
	for _, kv := range set {
		key, value, ok := strings.Cut(kv, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, fmt.Errorf("config: flag override %q is not key=value", kv)
		}
		flat[key] = value
		if t, ok := typeAt(configType, key); ok && t.Kind() != reflect.String {
			var v any
			if err := yaml.Unmarshal([]byte(value), &v); err == nil && v != nil {
				flat[key] = v
			}
		}
	}
	return flat, nil
}

// fillItems fills every backend and source item of raw from the defaults of
// its kind; keys given in the item win.
func fillItems(raw map[string]any) {
	if items, ok := raw["backends"].([]any); ok {
		for i, item := range items {
			if m, ok := item.(map[string]any); ok {
				name, _ := m["name"].(string)
				kind, _ := m["kind"].(string)
				base := toMap(DefaultBackend(name, kind))
				if e, ok := m["embedder"].(map[string]any); ok && base["embedder"] != nil {
					ekind, _ := e["kind"].(string)
					base["embedder"] = toMap(DefaultEmbedder(cmp.Or(ekind, EmbedderKindDefault)))
				}
				kmaps.Merge(m, base)
				items[i] = base
			}
		}
	}
	if items, ok := raw["sources"].([]any); ok {
		for i, item := range items {
			if m, ok := item.(map[string]any); ok {
				name, _ := m["name"].(string)
				kind, _ := m["kind"].(string)
				base := toMap(DefaultSource(name, kind))
				kmaps.Merge(m, base)
				items[i] = base
			}
		}
	}
}

// decode decodes the merged, filled raw map into a Config.
func decode(raw map[string]any) (*Config, error) {
	var cfg Config
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			stringToSliceHook,
		),
		ErrorUnused:      true,
		Result:           &cfg,
		TagName:          "koanf",
		WeaklyTypedInput: true,
	})
	if err != nil {
		return nil, fmt.Errorf("config: error building decoder: %w", err)
	}
	if err := dec.Decode(raw); err != nil {
		// The checker has seen every key and value, so this is a bug, but
		// still say which key.
		var de *mapstructure.DecodeError
		if errors.As(err, &de) {
			return nil, &Error{Key: de.Name(), Problem: de.Unwrap().Error()}
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	return &cfg, nil
}

// stringToSliceHook decodes "a, b" into []string{"a", "b"}.
func stringToSliceHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to != reflect.TypeFor[[]string]() {
		return data, nil
	}
	out := []string{}
	for s := range strings.SplitSeq(data.(string), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}
