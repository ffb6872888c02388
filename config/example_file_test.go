package config

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const exampleFile = "osa.example.yaml"

// readExample returns osa.example.yaml as a raw map.
func readExample(tb testing.TB) map[string]any {
	tb.Helper()
	data, err := os.ReadFile(exampleFile)
	if err != nil {
		tb.Fatal(err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		tb.Fatal(err)
	}
	return raw
}

// leafPaths returns the path of every leaf of a raw map ("backends[0].kind");
// a list of scalars is one leaf.
func leafPaths(path string, v any) []string {
	switch v := v.(type) {
	case map[string]any:
		var out []string
		for k, sub := range v {
			out = append(out, leafPaths(joinKey(path, k), sub)...)
		}
		return out
	case []any:
		var out []string
		for i, item := range v {
			if _, ok := item.(map[string]any); !ok {
				return []string{path}
			}
			out = append(out, leafPaths(fmt.Sprintf("%s[%d]", path, i), item)...)
		}
		return out
	}
	return []string{path}
}

// typePaths returns the path of every key of the format by the koanf tags of
// t, list items as "[]" ("backends[].embedder.kind"), whether or not
// Default() sets it.
func typePaths(path string, t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t.Kind() == reflect.Struct:
		var out []string
		for i := range t.NumField() {
			name, _ := koanfTag(t.Field(i))
			out = append(out, typePaths(joinKey(path, name), t.Field(i).Type)...)
		}
		return out
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return typePaths(path+"[]", t.Elem())
	}
	return []string{path}
}

// typePathsOf returns the type paths (see typePaths) present in a raw map.
func typePathsOf(path string, v any, into map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, sub := range v {
			typePathsOf(joinKey(path, k), sub, into)
		}
	case []any:
		into[path] = true // a list of scalars
		for _, item := range v {
			if m, ok := item.(map[string]any); ok {
				delete(into, path)
				typePathsOf(path+"[]", m, into)
			}
		}
	default:
		into[path] = true
	}
}

func TestExampleFile(t *testing.T) {
	t.Parallel()

	t.Run("LoadsToDefault", func(t *testing.T) {
		t.Parallel()
		cfg := mustLoad(t, LoadOpts{File: exampleFile})
		if !reflect.DeepEqual(cfg, Default()) {
			got, _ := cfg.YAML()
			want, _ := Default().YAML()
			t.Fatalf("%s loads to\n%s\nwant Default()\n%s", exampleFile, got, want)
		}
	})

	t.Run("HasEveryDefaultKey", func(t *testing.T) {
		t.Parallel()
		example := make(map[string]bool)
		for _, p := range leafPaths("", readExample(t)) {
			example[p] = true
		}
		paths := leafPaths("", toMap(Default()))
		sort.Strings(paths)
		if len(paths) < 60 {
			t.Fatalf("only %d leaves in Default(): the walk is broken", len(paths))
		}
		for _, p := range paths {
			if !example[p] {
				t.Errorf("key %s of Default() is missing from %s", p, exampleFile)
			}
		}
	})

	t.Run("HasEveryKeyOfTheFormat", func(t *testing.T) {
		t.Parallel()
		example := make(map[string]bool)
		typePathsOf("", readExample(t), example)
		// Items of lists that are empty by default (auth.tokens) are documented in a
		// commented-out example: a commented line "# name:" or "# - name:" documents the key.
		text, err := os.ReadFile(exampleFile)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range typePaths("", configType) {
			leaf := p[strings.LastIndex(p, ".")+1:]
			commented := regexp.MustCompile(`(?m)^\s*#\s*(- )?` + regexp.QuoteMeta(leaf) + `:`).Match(text)
			if !example[p] && !(strings.Contains(p, "[]") && commented) {
				t.Errorf("key %s of the format is missing from %s", p, exampleFile)
			}
		}
	})
}

func TestYAMLRoundTrip(t *testing.T) {
	t.Parallel()

	t.Run("Default", func(t *testing.T) {
		t.Parallel()
		data, err := Default().YAML()
		if err != nil {
			t.Fatal(err)
		}
		if got := mustLoad(t, LoadOpts{File: writeConfig(t, string(data))}); !reflect.DeepEqual(got, Default()) {
			t.Fatalf("Default().YAML()\n%s\nloads to %+v", data, got)
		}
	})

	t.Run("Changed", func(t *testing.T) {
		t.Parallel()

		cfg := Default()
		cfg.Node.Domain = "archive.example.org"
		cfg.HTTP.Addr = "127.0.0.1:9090"
		cfg.Database.URL = "postgres://osa:secret@db:5432/osa?sslmode=disable"
		cfg.Worker.JobTimeout = 90 * time.Second
		cfg.Worker.RescueAfter = time.Hour + 30*time.Minute
		cfg.Backends[0].Embedder = &Embedder{
			Kind: EmbedderKindOllama, Model: "nomic-embed-text", Dims: 768, BaseURL: "http://localhost:11434",
			APIKey: "k", MaxInputs: 32, Timeout: 90 * time.Second, MaxTokensPerCall: 5000, MaxConcurrency: 3,
		}
		cfg.Backends[1].Text.Fields = []string{}
		cfg.Sources[0].Enabled = true
		cfg.Sources[0].Schedule = "0 3 * * *"
		cfg.Sources[0].Geo.Email = "ops@example.org"
		cfg.Sources = append(cfg.Sources, DefaultSource("gds", SourceKindGeoEntrez))
		cfg.Sources[1].Geo.RecordType = GeoRecordTypeGDS
		cfg.Sources[1].Enabled = false
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}

		data, err := cfg.YAML()
		if err != nil {
			t.Fatal(err)
		}
		got := mustLoad(t, LoadOpts{File: writeConfig(t, string(data))})
		if !reflect.DeepEqual(got, cfg) {
			t.Fatalf("YAML()\n%s\nloads to %+v, want %+v", data, got, cfg)
		}
	})
}
