package backends

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		meta string
		cfg  TextConfig
		want string
	}{
		{
			name: "DefaultFieldsFirstThenOtherStringsSorted",
			meta: `{"zeta": "z", "summary": "S", "alpha": "a", "title": "T", "count": 3, "nested": {"x": "no"}}`,
			want: "T\nS\na\nz",
		},
		{
			name: "ConfiguredFieldsFormatted",
			meta: `{"organism": ["Homo sapiens", " Mus musculus ", ""], "samples": 12, "ratio": 0.25, "public": true, "title": "T"}`,
			cfg:  TextConfig{Fields: []string{"organism", "samples", "ratio", "public"}},
			want: "Homo sapiens, Mus musculus\n12\n0.25\ntrue\nT",
		},
		{
			name: "ConfiguredObjectsAndNullsSkipped",
			meta: `{"title": {"en": "x"}, "summary": null, "tags": ["a", {"b": 1}, ["c"], 2], "other": "o"}`,
			cfg:  TextConfig{Fields: []string{"title", "summary", "tags"}},
			want: "a, 2\no",
		},
		{
			name: "TrimmedAndEmptyPartsSkipped",
			meta: `{"title": "  T  ", "summary": " \n ", "b": "", "c": "\tC\n"}`,
			want: "T\nC",
		},
		{
			name: "NonStringOthersSkipped",
			meta: `{"a": 1, "b": [ "x" ], "c": true, "d": "D"}`,
			want: "D",
		},
		{
			name: "LargeNumberNotExponent",
			meta: `{"title": 12345678901234567890}`,
			want: "12345678901234567000",
		},
		{
			name: "NulAndInvalidUTF8Cleaned",
			meta: `{"title": "a\u0000b"}`,
			want: "ab",
		},
		{
			name: "Empty",
			meta: `{"n": 1}`,
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Text(decode(t, tt.meta), tt.cfg); got != tt.want {
				t.Fatalf("Text = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTextCap(t *testing.T) {
	t.Parallel()

	t.Run("DefaultIs8000Runes", func(t *testing.T) {
		t.Parallel()
		got := Text(map[string]any{"title": strings.Repeat("é", 9000)}, TextConfig{})
		if n := utf8.RuneCountInString(got); n != TextMaxCharsDefault {
			t.Fatalf("len = %d runes, want %d", n, TextMaxCharsDefault)
		}
	})

	t.Run("NeverSplitsARune", func(t *testing.T) {
		t.Parallel()
		for n := 1; n <= 12; n++ {
			got := Text(map[string]any{"title": "aé🙂b€ c"}, TextConfig{MaxChars: n})
			if !utf8.ValidString(got) || utf8.RuneCountInString(got) > n {
				t.Fatalf("MaxChars %d: %q", n, got)
			}
		}
		if got := Text(map[string]any{"title": "aé🙂b"}, TextConfig{MaxChars: 3}); got != "aé🙂" {
			t.Fatalf("got %q, want %q", got, "aé🙂")
		}
	})

	t.Run("CutAcrossParts", func(t *testing.T) {
		t.Parallel()
		got := Text(map[string]any{"title": "abc", "summary": "defgh"}, TextConfig{MaxChars: 6})
		if got != "abc\nde" {
			t.Fatalf("got %q", got)
		}
	})

	t.Run("InvalidUTF8", func(t *testing.T) {
		t.Parallel()
		got := Text(map[string]any{"title": "a\xffb"}, TextConfig{})
		if got != "a\uFFFDb" {
			t.Fatalf("got %q", got)
		}
	})
}

func TestTextConfigValidate(t *testing.T) {
	t.Parallel()

	if err := (TextConfig{}).WithDefaults().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	err := TextConfig{Fields: []string{"title", " "}, MaxChars: -1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "text.fields[1]") || !strings.Contains(err.Error(), "text.max_chars") {
		t.Fatalf("err = %v", err)
	}
}

func TestTextConfigWithDefaults(t *testing.T) {
	t.Parallel()

	cfg := TextConfig{}.WithDefaults()
	if strings.Join(cfg.Fields, ",") != "title,summary" || cfg.MaxChars != 8000 {
		t.Fatalf("defaults = %+v", cfg)
	}
	cfg.Fields[0] = "changed"
	if TextFieldsDefault()[0] != "title" || (TextConfig{}).WithDefaults().Fields[0] != "title" {
		t.Fatal("WithDefaults shares the default slice")
	}
}

func TestTextParts(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		meta      string
		maxChars  int
		wantTitle string
		wantRest  string
	}{
		{"TitleAndRest", `{"title": "T", "summary": "S", "x": "X"}`, 0, "T", "S\nX"},
		{"SummaryBecomesTitle", `{"title": " ", "summary": "S", "x": "X"}`, 0, "S", "X"},
		{"NoTitle", `{"x": "X", "y": "Y"}`, 0, "", "X\nY"},
		{"CapInTitle", `{"title": "abcdef", "summary": "S"}`, 3, "abc", ""},
		{"CapAtNewline", `{"title": "abc", "summary": "S"}`, 4, "abc", ""},
		{"CapInRest", `{"title": "abc", "summary": "STU"}`, 6, "abc", "ST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			meta := decode(t, tt.meta)
			cfg := TextConfig{MaxChars: tt.maxChars}
			title, rest := TextParts(meta, cfg)
			if title != tt.wantTitle || rest != tt.wantRest {
				t.Fatalf("TextParts = %q, %q; want %q, %q", title, rest, tt.wantTitle, tt.wantRest)
			}
			if got := joinNonEmpty(title, []string{rest}[:min(1, len(rest))]); got != Text(meta, cfg) {
				t.Fatalf("title+rest = %q, Text = %q", got, Text(meta, cfg))
			}
			if got := Title(meta, cfg); got != tt.wantTitle {
				t.Fatalf("Title = %q, want %q", got, tt.wantTitle)
			}
		})
	}
}

func TestTitle(t *testing.T) {
	t.Parallel()

	cfg := TextConfig{Fields: []string{"name", "title"}}
	if got := Title(map[string]any{"name": "", "title": "T", "a": "A"}, cfg); got != "T" {
		t.Fatalf("Title = %q, want T", got)
	}
	if got := Title(map[string]any{"a": "A"}, cfg); got != "" {
		t.Fatalf("Title = %q, want empty (other fields are never the title)", got)
	}
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("decoding %s: %v", s, err)
	}
	return m
}
