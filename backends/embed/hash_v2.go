package embed

import (
	"math"
	"strings"
	"unicode"
)

// stopWords are the English words hash-v2 leaves out: Lucene's 33 and the other function words
// of scientific prose, which every text shares and which would otherwise make any two texts
// close.
var stopWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`a an and are as at be but by for if in into is it no not of on or such
		that the their then there these they this to was will with we were from has have had been which
		than its our also using used between`) {
		m[w] = true
	}
	return m
}()

// suffixes are the endings [stem] strips, longest first.
var suffixes = []string{"ations", "ation", "ings", "ing", "edly", "ed", "ies", "es", "s", "ly"}

// stem strips the first of suffixes that w ends with, when more than three letters remain:
// "regenerating" and "regenerated" become "regenerat", "cells" "cell". It is cruder than
// Porter's stemmer, and as deterministic.
func stem(w string) string {
	for _, suf := range suffixes {
		if len(w) > len(suf)+3 && strings.HasSuffix(w, suf) {
			return w[:len(w)-len(suf)]
		}
	}
	return w
}

// features returns the hash-v2 features of text with their counts: its words, lower-cased,
// without stop words, stemmed. A text made only of stop words keeps them, so that it still has
// a vector.
func features(text string) map[string]int {
	out := map[string]int{}
	var stops []string
	forEachWord(text, func(w string) {
		if stopWords[w] {
			stops = append(stops, w)
			return
		}
		out[stem(w)]++
	})
	if len(out) == 0 {
		for _, w := range stops {
			out[w]++
		}
	}
	return out
}

// embedV2 embeds text as hash-v2: every feature adds 1 + ln(count), with the bucket and sign of
// its FNV-1a hash.
func (h *Hash) embedV2(text string) ([]float32, error) {
	fs := features(text)
	if len(fs) == 0 {
		return nil, errNoWords
	}
	v := make([]float32, h.dims)
	for f, n := range fs {
		addWeighted(v, fnv64(f), float32(1+math.Log(float64(n))))
	}
	return normalize(v)
}

// SharesWord returns a test of whether a text has a feature of query: a word for hash-v1, a
// stemmed word that is not a stop word for hash-v2. Two texts without one can still be close
// under Hash, through hash collisions alone: a search tells those hits from matches with it.
func (h *Hash) SharesWord(query string) func(text string) bool {
	want := map[string]bool{}
	if h.v1 {
		forEachWord(query, func(w string) { want[w] = true })
	} else {
		for f := range features(query) {
			want[f] = true
		}
	}
	return func(text string) bool {
		shared := false
		forEachWord(text, func(w string) {
			if !shared && !h.v1 && !stopWords[w] {
				w = stem(w)
			}
			shared = shared || want[w]
		})
		return shared
	}
}

// forEachWord calls f with every word of text, lower-cased, as [Hash] splits words: maximal runs
// of letters and digits, combining marks continuing a word.
func forEachWord(text string, f func(string)) {
	start := -1
	inWord := false
	for i, r := range text {
		isWord := unicode.IsLetter(r) || unicode.IsDigit(r) || (inWord && unicode.IsMark(r))
		switch {
		case isWord && !inWord:
			start, inWord = i, true
		case !isWord && inWord:
			f(strings.ToLower(text[start:i]))
			inWord = false
		}
	}
	if inWord {
		f(strings.ToLower(text[start:]))
	}
}

// fnv64 is FNV-1a of s, 64 bits.
func fnv64(s string) uint64 {
	x := uint64(fnvOffset64)
	for i := 0; i < len(s); i++ {
		x = (x ^ uint64(s[i])) * fnvPrime64
	}
	return x
}
