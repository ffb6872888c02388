package embed

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/osa-archive/osa/backends/indexerr"
)

// Models of [Hash]: each names one way of hashing, so that vectors stored by another are
// detected as stale.
const (
	// HashModelV1 hashes every word and word bigram, stop words included, each occurrence ±1.
	HashModelV1 = "hash-v1"
	// HashModelV2 hashes the words without stop words, lightly stemmed, each ±(1 + ln tf),
	// without bigrams: on SciFact's train split its vector search has nDCG@10 0.43 against
	// hash-v1's 0.26 (bench/results/relevance-train.md), and texts that share only "the" and
	// "of" are no longer close.
	HashModelV2 = "hash-v2"
	// HashModelDefault is the model of a [HashConfig] that names none.
	HashModelDefault = HashModelV2
)

// HashConfig configures a [Hash] embedder.
type HashConfig struct {
	// Model names the model stored beside every vector: HashModelV1 hashes as hash-v1 did, any
	// other name as [HashModelV2]. Defaults to "hash-v2".
	Model string

	// Dims is the length of every vector. Zero means the default; negative panics in [NewHash].
	// Defaults to 384.
	Dims int
}

// WithDefaults returns a copy of c with zero fields set to their defaults.
func (c HashConfig) WithDefaults() HashConfig {
	if c.Model == "" {
		c.Model = HashModelDefault
	}
	if c.Dims == 0 {
		c.Dims = DimsDefault
	}
	return c
}

// Hash is an offline, deterministic [Embedder] based on signed feature hashing: each feature is
// hashed to one of Dims buckets and adds its weight there, with a sign that also comes from the
// hash (so collisions tend to cancel rather than pile up), and the vector is L2-normalised. The
// features of hash-v2, the default, are the lower-cased words less English stop words, lightly
// stemmed ([stem]), weighted 1 + ln(occurrences) (hash_v2.go); those of hash-v1 are every word
// unigram and bigram, ±1 an occurrence.
//
// Hash captures lexical similarity only, not semantic similarity: texts score close when they
// share words and word pairs, and "car" is as far from "automobile" as from "banana". It needs no
// network and no model download, which makes it the default and the embedder for tests.
//
// Words are maximal runs of Unicode letters and digits (combining marks continue a word, so
// scripts such as Devanagari stay whole); everything else separates words, and bigrams run across
// punctuation. The same text gives the same vector in every run and process: nothing depends on
// map order or a random seed. A text without a word is a permanent error, because a zero vector
// has no cosine distance.
//
// Hash is safe for concurrent use.
type Hash struct {
	calls atomic.Int64
	dims  int
	model string
	v1    bool // hash as hash-v1
}

// NewHash returns a [Hash] embedder. Panics if cfg.Dims is negative.
func NewHash(cfg HashConfig) *Hash {
	cfg = cfg.WithDefaults()
	if cfg.Dims < 0 {
		panic(fmt.Sprintf("embed: HashConfig.Dims must be positive, got %d", cfg.Dims))
	}
	return &Hash{dims: cfg.Dims, model: cfg.Model, v1: cfg.Model == HashModelV1}
}

// Calls returns how many times Embed was called with at least one text, the counterpart of the
// HTTP calls of [OpenAI.Calls] and [Ollama.Calls].
func (h *Hash) Calls() int64 { return h.calls.Load() }

// Dims implements [Embedder].
func (h *Hash) Dims() int { return h.dims }

// Embed implements [Embedder]. It fails only for texts without a word (permanent) and, for every
// text, when ctx is already done.
func (h *Hash) Embed(ctx context.Context, texts []string) ([][]float32, []error) {
	vecs := make([][]float32, len(texts))
	errs := make([]error, len(texts))
	if len(texts) == 0 {
		return vecs, errs
	}
	h.calls.Add(1)
	if err := ctx.Err(); err != nil {
		fillErr(errs, err)
		return vecs, errs
	}
	for i, text := range texts {
		if h.v1 {
			vecs[i], errs[i] = h.embedOne(text)
		} else {
			vecs[i], errs[i] = h.embedV2(text)
		}
	}
	return vecs, errs
}

// Model implements [Embedder].
func (h *Hash) Model() string { return h.model }

// FNV-1a, 64 bits, written out so hashing a token allocates nothing.
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// bigramSep joins the two words of a bigram before hashing. Words never contain a space, so a
// bigram never hashes like a unigram.
const bigramSep = ' '

func (h *Hash) embedOne(text string) ([]float32, error) {
	v := make([]float32, h.dims)
	var (
		uni     uint64 // FNV state of the current word
		bi      uint64 // FNV state of previous word + bigramSep + current word
		prev    uint64 // FNV state of previous word + bigramSep
		hasPrev bool
		inWord  bool
		words   int
		buf     [utf8.UTFMax]byte
	)
	endWord := func() {
		h.add(v, uni)
		if hasPrev {
			h.add(v, bi)
		}
		prev = (uni ^ bigramSep) * fnvPrime64
		hasPrev = true
		inWord = false
		words++
	}
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			// ASCII fast path: most text is mostly ASCII.
			i++
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			default:
				if inWord {
					endWord()
				}
				continue
			}
			if !inWord {
				uni, bi, inWord = fnvOffset64, prev, true
			}
			uni = (uni ^ uint64(c)) * fnvPrime64
			bi = (bi ^ uint64(c)) * fnvPrime64
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !(inWord && unicode.IsMark(r)) {
			if inWord {
				endWord()
			}
			continue
		}
		if !inWord {
			uni, bi, inWord = fnvOffset64, prev, true
		}
		n := utf8.EncodeRune(buf[:], unicode.ToLower(r))
		for _, b := range buf[:n] {
			uni = (uni ^ uint64(b)) * fnvPrime64
			bi = (bi ^ uint64(b)) * fnvPrime64
		}
	}
	if inWord {
		endWord()
	}
	if words == 0 {
		return nil, errNoWords
	}
	return normalize(v)
}

// errNoWords is the error of a text without a word to embed.
var errNoWords = indexerr.Permanentf("text has no words to embed")

// normalize scales v to unit length, in place.
func normalize(v []float32) ([]float32, error) {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		// Every bucket cancelled out: astronomically unlikely, and as deterministic as the rest.
		return nil, indexerr.Permanentf("text hashes to a zero vector")
	}
	scale := 1 / math.Sqrt(sum)
	for j, x := range v {
		v[j] = float32(float64(x) * scale)
	}
	return v, nil
}

// add adds the feature whose FNV state is f to v with weight 1.
func (h *Hash) add(v []float32, f uint64) { addWeighted(v, f, 1) }

// addWeighted adds the feature whose FNV state is f to v with weight w: bucket and sign come from
// a mixed copy of f, because FNV's low bits alone spread poorly.
func addWeighted(v []float32, f uint64, w float32) {
	f = mix64(f)
	// Lemire's multiply-shift maps the low 32 bits onto [0, dims) without a division.
	j := (f & math.MaxUint32) * uint64(len(v)) >> 32
	if f>>63 == 0 {
		v[j] += w
	} else {
		v[j] -= w
	}
}

// mix64 is the finaliser of MurmurHash3.
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// fillErr sets every element of errs to err.
func fillErr(errs []error, err error) {
	for i := range errs {
		errs[i] = err
	}
}
