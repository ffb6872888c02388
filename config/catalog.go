package config

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	kyaml "github.com/knadh/koanf/parsers/yaml"
)

// backendsFileSource names the document of [ParseBackends] in error messages.
const backendsFileSource = "backends file"

// ParseBackends reads a backends file: a YAML (or JSON) document whose one key is backends, a
// list of the config file's shape, the whole desired set of backends (osa backends apply). Each
// item is filled from [DefaultBackend] and the list is validated as [Load] validates a config
// file's; every problem names its key (backends[i].…).
func ParseBackends(data []byte) ([]Backend, error) {
	raw, err := kyaml.Parser().Unmarshal(data)
	if err != nil {
		return nil, &Error{Key: "backends", Problem: fmt.Sprintf("the document is not YAML or JSON: %v", err), Source: backendsFileSource}
	}
	for key := range raw {
		if key != "backends" {
			return nil, &Error{Key: key, Problem: "not allowed in a backends file (its one key is backends)", Source: backendsFileSource}
		}
	}
	items, ok := raw["backends"].([]any)
	if !ok || len(items) == 0 {
		return nil, &Error{Key: "backends", Problem: "required: a list of at least one backend", Source: backendsFileSource}
	}
	cfg, err := load([]func() (layer, error){func() (layer, error) {
		return layer{raw: raw, source: func(string) string { return backendsFileSource }}, nil
	}})
	if err != nil {
		return nil, err
	}
	return cfg.Backends, nil
}

// EncodeBackend returns b's settings as JSON in the config file's shape (durations as "100ms"),
// without its secret: the catalog's record of a backend. embedder.api_key is left out; a process
// takes it from its own configuration (see [Backend.WithSecretsOf]).
func EncodeBackend(b Backend) ([]byte, error) {
	if b.Embedder != nil {
		e := *b.Embedder
		e.APIKey = ""
		b.Embedder = &e
	}
	data, err := json.Marshal(toMap(b))
	if err != nil {
		return nil, fmt.Errorf("config: error encoding backend %q: %w", b.Name, err)
	}
	return data, nil
}

// DecodeBackend reads settings written by [EncodeBackend], filling what they lack from
// [DefaultBackend] as a config file's item is filled.
func DecodeBackend(data []byte) (Backend, error) {
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		return Backend{}, fmt.Errorf("config: error decoding backend settings: %w", err)
	}
	raw := map[string]any{"backends": []any{m}}
	fillItems(raw)
	cfg, err := decode(raw)
	if err != nil {
		return Backend{}, err
	}
	return cfg.Backends[0], nil
}

// WithSecretsOf returns b with the embedder's API key of the backend of the same name in
// configured, when that one has the same embedder kind and base URL: secrets stay in each
// process's configuration, never in the catalog.
func (b Backend) WithSecretsOf(configured []Backend) Backend {
	i := slices.IndexFunc(configured, func(c Backend) bool { return c.Name == b.Name })
	if i < 0 || b.Embedder == nil || configured[i].Embedder == nil {
		return b
	}
	c := configured[i].Embedder
	if c.Kind == b.Embedder.Kind && c.BaseURL == b.Embedder.BaseURL {
		e := *b.Embedder
		e.APIKey = c.APIKey
		b.Embedder = &e
	}
	return b
}

// inPlaceKeys are the backend settings a running backend takes without a rebuild: its queue and
// batches, its provider's call limits, and the parameters searches read. Every other setting
// shapes what is stored (the kind, the embedder's model and dims, the text, the language, the
// index), so changing it needs the backend rebuilt.
var inPlaceKeys = []string{
	"weight", "max_attempts", "batch.max_size", "batch.max_delay", "batch.timeout",
	"embedder.max_inputs", "embedder.max_tokens_per_call", "embedder.max_concurrency", "embedder.timeout", "embedder.min_similarity", "embedder.api_key",
	"embedder.api_key_env", "embedder.api_key_file",
	"bm25.k1", "bm25.b", "bm25.candidates",
}

// DiffBackend lists what changes from a to b, each as "key: old → new" in key order, and whether
// any of those changes needs the backend rebuilt. The embedder's API key is compared but never
// shown.
func DiffBackend(a, b Backend) (changes []string, rebuild bool) {
	fa, fb := map[string]string{}, map[string]string{}
	flatten("", toMap(a), fa)
	flatten("", toMap(b), fb)
	keys := map[string]bool{}
	for k := range fa {
		keys[k] = true
	}
	for k := range fb {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if fa[k] == fb[k] {
			continue
		}
		if k == "embedder.api_key" {
			changes = append(changes, k+": (secret changed)")
		} else {
			changes = append(changes, fmt.Sprintf("%s: %s → %s", k, cmp.Or(fa[k], "(none)"), cmp.Or(fb[k], "(none)")))
		}
		if !slices.Contains(inPlaceKeys, k) {
			rebuild = true
		}
	}
	return changes, rebuild
}

// flatten writes the scalars of m into out under dotted keys; lists as their YAML flow form.
func flatten(prefix string, m map[string]any, out map[string]string) {
	for k, v := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		switch v := v.(type) {
		case map[string]any:
			flatten(key, v, out)
		case nil:
		default:
			out[key] = fmt.Sprint(v)
		}
	}
}
