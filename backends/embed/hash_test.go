package embed

import (
	"context"
	"errors"
	"hash/fnv"
	"math"
	"strings"
	"testing"

	"github.com/osa-archive/osa/backends/indexerr"
)

func TestHash(t *testing.T) {
	t.Parallel()

	embedOne := func(t *testing.T, h *Hash, text string) []float32 {
		t.Helper()
		vecs, errs := h.Embed(context.Background(), []string{text})
		if errs[0] != nil {
			t.Fatalf("Embed(%q): %v", text, errs[0])
		}
		return vecs[0]
	}

	t.Run("CallsCounted", func(t *testing.T) {
		t.Parallel()
		h := NewHash(HashConfig{})
		h.Embed(context.Background(), []string{"a", "b"})
		h.Embed(context.Background(), []string{"c"})
		h.Embed(context.Background(), nil)
		if got := h.Calls(); got != 2 {
			t.Fatalf("Calls() = %d, want 2", got)
		}
	})

	t.Run("CaseAndPunctuationIgnored", func(t *testing.T) {
		t.Parallel()
		h := NewHash(HashConfig{})
		a := embedOne(t, h, "Café au lait, s'il vous plaît!")
		b := embedOne(t, h, "CAFÉ AU LAIT S IL VOUS PLAÎT")
		if !equalVec(a, b) {
			t.Fatal("case and punctuation changed the vector")
		}
	})

	t.Run("ContextDone", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		vecs, errs := NewHash(HashConfig{}).Embed(ctx, []string{"a", "b"})
		for i := range errs {
			if !errors.Is(errs[i], context.Canceled) || vecs[i] != nil {
				t.Fatalf("text %d: vec %v, err %v; want nil, context.Canceled", i, vecs[i], errs[i])
			}
		}
	})

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		h := NewHash(HashConfig{})
		if h.Model() != "hash-v2" || h.Dims() != 384 {
			t.Fatalf("Model, Dims = %q, %d; want hash-v2, 384", h.Model(), h.Dims())
		}
		if got := len(embedOne(t, h, "hello")); got != 384 {
			t.Fatalf("len = %d, want 384", got)
		}
	})

	t.Run("Deterministic", func(t *testing.T) {
		t.Parallel()
		text := "The quick brown fox jumps over the lazy dog"
		a := embedOne(t, NewHash(HashConfig{}), text)
		b := embedOne(t, NewHash(HashConfig{}), text)
		if !equalVec(a, b) {
			t.Fatal("two embedders gave different vectors")
		}
	})

	t.Run("Dims", func(t *testing.T) {
		t.Parallel()
		h := NewHash(HashConfig{Model: "m", Dims: 64})
		if h.Model() != "m" || h.Dims() != 64 {
			t.Fatalf("Model, Dims = %q, %d; want m, 64", h.Model(), h.Dims())
		}
		if got := len(embedOne(t, h, "hello world")); got != 64 {
			t.Fatalf("len = %d, want 64", got)
		}
	})

	t.Run("Golden", func(t *testing.T) {
		t.Parallel()
		// Pins the hashing across processes, platforms and Go versions. If this fails, the
		// hashing changed: every stored vector is stale, so name a new model as well.
		for model, want := range map[string][]float32{HashModelV1: goldenHelloWorld, HashModelV2: goldenHelloWorldV2} {
			v := embedOne(t, NewHash(HashConfig{Model: model, Dims: 16}), "Hello, world")
			for j := range v {
				if math.Abs(float64(v[j]-want[j])) > 1e-6 {
					t.Fatalf("%s: vector = %v, want %v", model, v, want)
				}
			}
		}
	})

	t.Run("MarksContinueWords", func(t *testing.T) {
		t.Parallel()
		h := NewHash(HashConfig{})
		// हिन्दी contains combining vowel signs and a virama; it must stay one word.
		one := embedOne(t, h, "हिन्दी")
		split := embedOne(t, h, "ह न द")
		if cosine(one, split) > 0.5 {
			t.Fatalf("cosine = %v: combining marks split the word", cosine(one, split))
		}
	})

	t.Run("MatchesReference", func(t *testing.T) {
		t.Parallel()
		// The features of "Hello, world" are the unigrams hello and world and the bigram
		// "hello world", each ±1 in the bucket given by FNV-1a and the MurmurHash3 finaliser.
		want := make([]float32, 16)
		for _, feature := range []string{"hello", "world", "hello world"} {
			f := fnv.New64a()
			f.Write([]byte(feature))
			x := mix64(f.Sum64())
			j := (x & math.MaxUint32) * 16 >> 32
			if x>>63 == 0 {
				want[j]++
			} else {
				want[j]--
			}
		}
		n := float32(norm(want))
		for j := range want {
			want[j] /= n
		}
		v := embedOne(t, NewHash(HashConfig{Model: HashModelV1, Dims: 16}), "Hello, world")
		for j := range v {
			if math.Abs(float64(v[j]-want[j])) > 1e-6 {
				t.Fatalf("vector = %v, want %v", v, want)
			}
		}
	})

	t.Run("MatchesReferenceV2", func(t *testing.T) {
		t.Parallel()
		// The features of "The cells, the cells and a cell" are the stem cell, three times
		// (+1 + ln 3), no stop word; of "The the", the stop word the twice, having no other.
		for text, feature := range map[string]string{"The cells, the cells and a cell": "cell", "The the": "the"} {
			want := make([]float32, 16)
			f := fnv.New64a()
			f.Write([]byte(feature))
			x := mix64(f.Sum64())
			j := (x & math.MaxUint32) * 16 >> 32
			want[j] = 1
			if x>>63 != 0 {
				want[j] = -1
			}
			v := embedOne(t, NewHash(HashConfig{Dims: 16}), text)
			for j := range v {
				if math.Abs(float64(v[j]-want[j])) > 1e-6 {
					t.Fatalf("%q: vector = %v, want %v", text, v, want)
				}
			}
		}
	})

	t.Run("SharesWord", func(t *testing.T) {
		t.Parallel()
		v1, v2 := NewHash(HashConfig{Model: HashModelV1}), NewHash(HashConfig{})
		for _, tt := range []struct {
			a, b   string
			v1, v2 bool
		}{
			{"zebrafish heart", "Heart regeneration", true, true},
			{"regenerating hearts", "heart regenerated", false, true}, // stems
			{"the effect of qwertyuiop", "the effect of diet", true, true},
			{"the qwertyuiop", "the diet", true, false}, // a stop word alone is no match for v2
			{"qwertyuiop", "Zebrafish heart", false, false},
		} {
			if got := v1.SharesWord(tt.a)(tt.b); got != tt.v1 {
				t.Errorf("hash-v1 SharesWord(%q, %q) = %v", tt.a, tt.b, got)
			}
			if got := v2.SharesWord(tt.a)(tt.b); got != tt.v2 {
				t.Errorf("hash-v2 SharesWord(%q, %q) = %v", tt.a, tt.b, got)
			}
		}
	})

	t.Run("NoWordsIsPermanent", func(t *testing.T) {
		t.Parallel()
		texts := []string{"", "   \n\t", "!!! --- ???", "\u0301"}
		vecs, errs := NewHash(HashConfig{}).Embed(context.Background(), texts)
		for i := range texts {
			if vecs[i] != nil || !indexerr.IsPermanent(errs[i]) {
				t.Fatalf("text %q: vec %v, err %v; want a permanent error", texts[i], vecs[i], errs[i])
			}
			if !strings.Contains(errs[i].Error(), "no words") {
				t.Fatalf("text %q: err %q does not say why", texts[i], errs[i])
			}
		}
	})

	t.Run("SimilarTextsCloser", func(t *testing.T) {
		t.Parallel()
		h := NewHash(HashConfig{})
		base := embedOne(t, h, "Soil moisture measurements from the Amazon rainforest, 2019 field campaign")
		similar := embedOne(t, h, "Amazon rainforest soil moisture measurements, 2020 field campaign")
		unrelated := embedOne(t, h, "Protein crystal structures of bacterial ribosomes at low temperature")
		if cs, cu := cosine(base, similar), cosine(base, unrelated); cs <= cu || cs < 0.5 {
			t.Fatalf("cosine(similar) = %v, cosine(unrelated) = %v", cs, cu)
		}
	})

	t.Run("UnitNorm", func(t *testing.T) {
		t.Parallel()
		h := NewHash(HashConfig{})
		for _, text := range []string{"a", "hello hello hello", strings.Repeat("data set ", 500), "日本語のテキスト 123"} {
			v := embedOne(t, h, text)
			if n := norm(v); math.Abs(n-1) > 1e-5 {
				t.Fatalf("text %q: norm = %v, want 1", text, n)
			}
		}
	})
}

// goldenHelloWorld and goldenHelloWorldV2 are the 16-dimension vectors of "Hello, world" in
// hash-v1 and hash-v2.
var (
	goldenHelloWorld   = []float32{0, 0, 0, 0, 0, 0, 0, 0, -0.57735026, 0.57735026, 0, 0, 0, 0, 0, -0.57735026}
	goldenHelloWorldV2 = []float32{0, 0, 0, 0, 0, 0, 0, 0, -0.70710677, 0, 0, 0, 0, 0, 0, -0.70710677}
)

func BenchmarkHash(b *testing.B) {
	h := NewHash(HashConfig{})
	text := benchText(1000)
	texts := []string{text}
	ctx := context.Background()
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		if _, errs := h.Embed(ctx, texts); errs[0] != nil {
			b.Fatal(errs[0])
		}
	}
}

// benchText returns n bytes of record-like English text.
func benchText(n int) string {
	const para = "Daily soil moisture and temperature readings from 42 stations across the " +
		"Amazon basin, collected during the 2019 field campaign. Values are quality-controlled, " +
		"gap-filled and reported at 5 cm, 20 cm and 50 cm depth, with station metadata. "
	var sb strings.Builder
	for sb.Len() < n {
		sb.WriteString(para)
	}
	return sb.String()[:n]
}

func cosine(a, b []float32) float64 {
	var dot float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
	}
	return dot / (norm(a) * norm(b))
}

func equalVec(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}
