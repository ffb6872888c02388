package records

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/osa-archive/osa/domainerr"
)

// nested returns a JSON object nested depth levels deep: {} for 1,
// {"a":{}} for 2, and so on.
func nested(depth int) []byte {
	return []byte(strings.Repeat(`{"a":`, depth-1) + "{}" + strings.Repeat("}", depth-1))
}

// objectOfSize returns a JSON object of exactly n ≥ 8 bytes.
func objectOfSize(n int) []byte {
	return []byte(`{"a":"` + strings.Repeat("x", n-8) + `"}`)
}

func TestCanonicalJSON(t *testing.T) {
	t.Parallel()

	t.Run("Deterministic", func(t *testing.T) {
		t.Parallel()

		m, err := ValidateMetadata("metadata", []byte(` { "z" : [ 1.50 , {"b":true,"a":null} ], "a<&>": "x\u00e9\/" } `), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := CanonicalJSON(m)
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"a<&>":"xé/","z":[1.50,{"a":null,"b":true}]}`; string(got) != want {
			t.Fatalf("CanonicalJSON = %s, want %s", got, want)
		}
	})

	t.Run("Nil", func(t *testing.T) {
		t.Parallel()

		got, err := CanonicalJSON(nil)
		if err != nil || string(got) != "null" {
			t.Fatalf("CanonicalJSON(nil) = %s, %v; want null", got, err)
		}
	})

	t.Run("Unencodable", func(t *testing.T) {
		t.Parallel()

		if got, err := CanonicalJSON(map[string]any{"n": math.NaN()}); err == nil {
			t.Fatalf("CanonicalJSON(NaN) = %s, want an error", got)
		}
		if got, err := CanonicalJSON(map[string]any{"n": json.Number("1x")}); err == nil {
			t.Fatalf("CanonicalJSON(json.Number(1x)) = %s, want an error", got)
		}
	})
}

func TestDefaultLimits(t *testing.T) {
	t.Parallel()

	// The same values as config.MaxMetadataBytesDefault and MaxDepthDefault.
	if got, want := DefaultLimits(), (Limits{MaxMetadataBytes: 262144, MaxDepth: 32}); got != want {
		t.Fatalf("DefaultLimits() = %+v, want %+v", got, want)
	}
}

func TestValidateMetadata(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		raw    []byte
		limits Limits
		want   map[string]any
	}{
		{"ArraysCountAsDepth", []byte(`{"a":[[1]]}`), Limits{MaxDepth: 3}, map[string]any{"a": []any{[]any{json.Number("1")}}}},
		{"DepthAtLimit", nested(32), Limits{}, nil},
		{"EmptyArray", []byte(`{"a":[]}`), Limits{}, map[string]any{"a": []any{}}},
		{"EmptyObject", []byte(`{}`), Limits{}, map[string]any{}},
		{"EscapedKey", []byte(`{"\u00e9":1}`), Limits{}, map[string]any{"é": json.Number("1")}},
		{"NumbersAsWritten", []byte(`{"f":1.50,"big":12345678901234567890,"e":1E+2}`), Limits{}, map[string]any{
			"big": json.Number("12345678901234567890"), "e": json.Number("1E+2"), "f": json.Number("1.50"),
		}},
		{"Object", []byte(`{"title":"Ω","tags":["a","b"],"n":1,"ok":true,"none":null,"sub":{"x":{}}}`), Limits{}, map[string]any{
			"n": json.Number("1"), "none": nil, "ok": true, "sub": map[string]any{"x": map[string]any{}},
			"tags": []any{"a", "b"}, "title": "Ω",
		}},
		{"SizeAtDefaultLimit", objectOfSize(262144), Limits{}, nil},
		{"SizeAtLimit", objectOfSize(100), Limits{MaxMetadataBytes: 100}, map[string]any{"a": strings.Repeat("x", 92)}},
		{"Whitespace", []byte(" \t\r\n{ \"a\" : 1 } \n"), Limits{}, map[string]any{"a": json.Number("1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got, err := ValidateMetadata("metadata", tt.raw, tt.limits)
			if err != nil {
				t.Fatalf("ValidateMetadata: %v", err)
			}
			if tt.want != nil && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ValidateMetadata = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestValidateMetadataError(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		field  string
		raw    []byte
		limits Limits
		want   string
	}{
		{"Array", "metadata", []byte(`[1]`), Limits{}, `metadata: must be a JSON object, got array`},
		{"Boolean", "metadata", []byte(`true`), Limits{}, `metadata: must be a JSON object, got boolean`},
		{"DepthExample", "metadata", nested(40), Limits{}, `metadata: nested 40 levels deep, over records.max_depth (32)`},
		{"DepthOverLimit", "metadata", nested(33), Limits{}, `metadata: nested 33 levels deep, over records.max_depth (32)`},
		{"DepthOverLimitArrays", "metadata", []byte(`{"a":[[1]]}`), Limits{MaxDepth: 2}, `metadata: nested 3 levels deep, over records.max_depth (2)`},
		{"DepthOverLimitThenBroken", "metadata", []byte(`{"a":{"b":{"c":`), Limits{MaxDepth: 2}, `metadata: nested at least 3 levels deep, over records.max_depth (2)`},
		{"DuplicateKey", "metadata", []byte(`{"a":1,"a":1}`), Limits{}, `metadata.a: appears more than once`},
		{"DuplicateKeyNested", "metadata", []byte(`{"x y":[0,{"b":{},"b":2}]}`), Limits{}, `metadata["x y"][1].b: appears more than once`},
		{"Empty", "metadata", []byte{}, Limits{}, `metadata: is required`},
		{"EmptyKey", "metadata", []byte(`{"":1}`), Limits{}, `metadata: has an empty key`},
		{"EmptyKeyNested", "records[3].metadata", []byte(`{"authors":[{"name":"x"},{"":1}]}`), Limits{}, `records[3].metadata.authors[1]: has an empty key`},
		{"FieldDefault", "", []byte(`[]`), Limits{}, `metadata: must be a JSON object, got array`},
		{"FieldNamed", "records[3].metadata", []byte(`[]`), Limits{}, `records[3].metadata: must be a JSON object, got array`},
		{"InvalidUTF8InKey", "metadata", []byte("{\"\xc3\":1}"), Limits{}, `metadata: is not valid UTF-8 (at byte 2)`},
		{"InvalidUTF8InValue", "metadata", []byte("{\"a\":\"x\xffy\"}"), Limits{}, `metadata: is not valid UTF-8 (at byte 7)`},
		{"MissingColon", "metadata", []byte(`{"a" 1}`), Limits{}, `metadata: is not valid JSON: invalid character '1' after object key (at byte 5)`},
		{"Nil", "metadata", nil, Limits{}, `metadata: is required`},
		{"Null", "metadata", []byte(`null`), Limits{}, `metadata: must be a JSON object, got null`},
		{"Number", "metadata", []byte(`1.5`), Limits{}, `metadata: must be a JSON object, got number`},
		{"OnlyWhitespace", "metadata", []byte(" \n\t"), Limits{}, `metadata: is required`},
		{"String", "metadata", []byte(`"abc"`), Limits{}, `metadata: must be a JSON object, got string`},
		{"TrailingComma", "metadata", []byte(`{"a":1,}`), Limits{}, `metadata: is not valid JSON: invalid character '}' looking for beginning of object key string (at byte 7)`},
		{"TrailingGarbage", "metadata", []byte(`{"a":1} x`), Limits{}, `metadata: has data after the JSON object (at byte 8)`},
		{"TrailingObject", "metadata", []byte(`{}{}`), Limits{}, `metadata: has data after the JSON object (at byte 2)`},
		{"Unterminated", "metadata", []byte(`{"a":[1,2`), Limits{}, `metadata: is not valid JSON: unexpected end of input`},
		{"UnterminatedString", "metadata", []byte(`{"a":"b`), Limits{}, `metadata: is not valid JSON: unexpected end of input`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got, err := ValidateMetadata(tt.field, tt.raw, tt.limits)
			if err == nil {
				t.Fatalf("ValidateMetadata(%q) = %v, want error %q", tt.raw, got, tt.want)
			}
			if err.Error() != tt.want {
				t.Fatalf("ValidateMetadata(%q) error:\n got %s\nwant %s", tt.raw, err, tt.want)
			}
			var ve *domainerr.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %#v is not a *domainerr.ValidationError", err)
			}
			if got != nil {
				t.Fatalf("ValidateMetadata returned %v with an error, want nil", got)
			}
		})
	}
}

func TestValidateMetadataLimitError(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		raw    []byte
		limits Limits
		want   domainerr.LimitError
	}{
		{"DefaultOverLimit", objectOfSize(300000), Limits{}, domainerr.LimitError{
			Field: "metadata", Limit: "records.max_metadata_bytes", Reason: "300000 bytes is over records.max_metadata_bytes (262144)",
		}},
		{"OneOverLimit", objectOfSize(101), Limits{MaxMetadataBytes: 100}, domainerr.LimitError{
			Field: "metadata", Limit: "records.max_metadata_bytes", Reason: "101 bytes is over records.max_metadata_bytes (100)",
		}},
		// Size is checked first, before the bytes are even looked at.
		{"OverLimitAndInvalid", []byte("[\xff\xff"), Limits{MaxMetadataBytes: 2}, domainerr.LimitError{
			Field: "metadata", Limit: "records.max_metadata_bytes", Reason: "3 bytes is over records.max_metadata_bytes (2)",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got, err := ValidateMetadata("metadata", tt.raw, tt.limits)
			var le *domainerr.LimitError
			if !errors.As(err, &le) {
				t.Fatalf("ValidateMetadata error = %v, want a *domainerr.LimitError", err)
			}
			if *le != tt.want {
				t.Fatalf("ValidateMetadata error = %+v, want %+v", *le, tt.want)
			}
			if want := tt.want.Field + ": " + tt.want.Reason; err.Error() != want {
				t.Fatalf("Error() = %q, want %q", err.Error(), want)
			}
			if got != nil {
				t.Fatalf("ValidateMetadata returned %v with an error, want nil", got)
			}
		})
	}
}

// TestValidateMetadataNestingBomb checks that 100,000 levels of nesting
// neither overflow the stack nor take long: within the default size limit,
// the depth walk is linear and stops decoding at records.max_depth.
func TestValidateMetadataNestingBomb(t *testing.T) {
	t.Parallel()

	const depth = 100_000

	tests := []struct {
		name string
		raw  []byte
		want string
	}{
		{"Array", []byte(strings.Repeat("[", depth)), `metadata: must be a JSON object, got array`},
		{"InObject", []byte(`{"a":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}`), `metadata: nested 100001 levels deep, over records.max_depth (32)`},
		{"InObjectUnclosed", []byte(`{"a":` + strings.Repeat("[", depth)), `metadata: nested at least 100001 levels deep, over records.max_depth (32)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			start := time.Now()
			_, err := ValidateMetadata("metadata", tt.raw, Limits{})
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("ValidateMetadata took %s", elapsed)
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("ValidateMetadata error = %v, want %s", err, tt.want)
			}
		})
	}
}

// fuzzLimits are small so that the fuzzer reaches both limits.
var fuzzLimits = Limits{MaxMetadataBytes: 1024, MaxDepth: 8}

func FuzzValidateMetadata(f *testing.F) {
	for _, s := range []string{
		``,
		` `,
		`{}`,
		`{"a":1}`,
		`{"title":"Ω","tags":["a","b"],"n":-1.5e3,"ok":true,"none":null,"sub":{"x":{}}}`,
		`{"a":1,"a":2}`,
		`{"":1}`,
		`{"a":[1,2,]}`,
		`{"a":1} x`,
		`{}{}`,
		`[1]`,
		`"s"`,
		`null`,
		"{\"a\":\"\xff\"}",
		`{"a":"\ud800\u2028<&>"}`,
		string(nested(8)),
		string(nested(9)),
		`{"a":[[[[[[[[[[`,
		string(objectOfSize(1024)),
		string(objectOfSize(1025)),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := ValidateMetadata("metadata", raw, fuzzLimits)
		if err != nil {
			var ve *domainerr.ValidationError
			var le *domainerr.LimitError
			if !errors.As(err, &ve) && !errors.As(err, &le) {
				t.Fatalf("error %#v is neither a *domainerr.ValidationError nor a *domainerr.LimitError", err)
			}
			// Messages travel in protobuf strings, which must be UTF-8.
			if !utf8.ValidString(err.Error()) {
				t.Fatalf("error %q is not valid UTF-8", err)
			}
			// The streaming walk must not be stricter about syntax than
			// encoding/json.
			if ve != nil && json.Valid(raw) && (strings.HasPrefix(ve.Reason, "is not valid JSON") || strings.HasPrefix(ve.Reason, "has data after")) {
				t.Fatalf("json.Valid(%q) but ValidateMetadata: %v", raw, err)
			}
			if m != nil {
				t.Fatalf("ValidateMetadata returned %v with an error", m)
			}
			return
		}

		// Whatever the walk accepts, encoding/json decodes to the same map.
		if !json.Valid(raw) {
			t.Fatalf("ValidateMetadata accepted %q, which json.Valid rejects", raw)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var want map[string]any
		if err := dec.Decode(&want); err != nil || !reflect.DeepEqual(m, want) {
			t.Fatalf("ValidateMetadata(%q) = %#v; encoding/json: %#v, %v", raw, m, want, err)
		}

		canon, err := CanonicalJSON(m)
		if err != nil {
			t.Fatalf("CanonicalJSON(%#v): %v", m, err)
		}
		// The canonical form can be larger than the input (U+2028 and U+2029
		// are always escaped), so size isn't rechecked here.
		again, err := ValidateMetadata("metadata", canon, Limits{MaxMetadataBytes: max(len(canon), fuzzLimits.MaxMetadataBytes), MaxDepth: fuzzLimits.MaxDepth})
		if err != nil {
			t.Fatalf("canonical %s of %q does not validate: %v", canon, raw, err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("canonical %s decodes to %#v, want %#v", canon, again, m)
		}
		if canon2, err := CanonicalJSON(again); err != nil || !bytes.Equal(canon2, canon) {
			t.Fatalf("CanonicalJSON is not a fixed point: %s then %s, %v", canon, canon2, err)
		}
	})
}

func TestValidateSource(t *testing.T) {
	t.Parallel()
	t.Run("Valid", func(t *testing.T) {
		t.Parallel()
		for _, name := range []string{"", "geo", "my_lab", "lab2", "a" + strings.Repeat("b", 39)} {
			if err := ValidateSource("source", name); err != nil {
				t.Errorf("ValidateSource(%q) = %v, want nil", name, err)
			}
		}
	})
	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		const rule = `: send a lower-case letter, then up to 39 lower-case letters, digits or underscores ([a-z][a-z0-9_]{0,39})`
		tests := []struct {
			name, field, source, want string
		}{
			{"Digit", "source", "2lab", `source: "2lab" is not a valid source name` + rule + `, e.g. "lab"`},
			{"FieldDefault", "", "Lab", `source: "Lab" is not a valid source name` + rule + `, e.g. "lab"`},
			{"FieldIndexed", "records[1].source", "my-lab", `records[1].source: "my-lab" is not a valid source name` + rule + `, e.g. "my_lab"`},
			{"Long", "source", "a" + strings.Repeat("b", 40), `source: "a` + strings.Repeat("b", 40) + `" is not a valid source name` + rule + `, e.g. "a` + strings.Repeat("b", 39) + `"`},
			{"NoSuggestion", "source", "!!", `source: "!!" is not a valid source name` + rule},
			{"Spaces", "source", "My Lab!", `source: "My Lab!" is not a valid source name` + rule + `, e.g. "my_lab"`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				err := ValidateSource(tt.field, tt.source)
				var ve *domainerr.ValidationError
				if !errors.As(err, &ve) || err.Error() != tt.want {
					t.Fatalf("ValidateSource(%q) = %v, want a ValidationError %q", tt.source, err, tt.want)
				}
				if want := cmp.Or(tt.field, "source"); ve.Field != want {
					t.Fatalf("field %q, want %q", ve.Field, want)
				}
			})
		}
	})
}
