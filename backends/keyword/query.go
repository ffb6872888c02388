package keyword

import (
	"strings"
	"unicode"
)

// parsedQuery is a query as people type it, split into what finds and ranks records and what
// only filters them. Words are left as text: PostgreSQL turns them into lexemes with the
// backend's text search configuration, as it does the documents.
type parsedQuery struct {
	// Text holds every word that ranks: the plain words and those of the phrases, with the
	// phrases' quotes removed. A record matching any of its lexemes is a candidate.
	Text string
	// Phrases are the quoted phrases, each of which a hit must contain, in order.
	Phrases []string
	// Excluded are the words and phrases after a leading "-", which no hit may contain.
	Excluded []string
}

// parseQuery reads a query the way people type it:
//
//   - words are alternatives, not requirements: a record with some of them is found, and the
//     ranking puts those with more, and rarer, words first;
//   - "quoted phrases" must appear as written (an unclosed quote runs to the end), unless no
//     record has them: then their words count as plain words ([Backend.Search]);
//   - a "-" at the start of a word or phrase excludes it (-mouse, -"cell line");
//   - OR between words is what words mean anyway, and is dropped;
//   - anything else, a stand-alone "-" or stray punctuation included, only separates words.
//     Hyphenated forms are left to the text search parser, which indexes "G-quadruplex" as the
//     whole and as its parts, so the query matches both.
func parseQuery(q string) parsedQuery {
	var (
		p     parsedQuery
		words []string
	)
	rs := []rune(q)
	for i := 0; i < len(rs); {
		r := rs[i]
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '"' || (r == '-' && i+1 < len(rs) && rs[i+1] == '"'):
			exclude := r == '-'
			if exclude {
				i++
			}
			end := i + 1
			for end < len(rs) && rs[end] != '"' {
				end++
			}
			phrase := strings.TrimSpace(string(rs[i+1 : end]))
			i = end + 1
			switch {
			case phrase == "":
			case exclude:
				p.Excluded = append(p.Excluded, phrase)
			default:
				p.Phrases = append(p.Phrases, phrase)
				words = append(words, phrase)
			}
		default:
			end := i
			for end < len(rs) && !unicode.IsSpace(rs[end]) && rs[end] != '"' {
				end++
			}
			word := string(rs[i:end])
			i = end
			switch {
			case word == "OR":
			case len(word) > 1 && word[0] == '-' && isWordRune([]rune(word)[1]):
				p.Excluded = append(p.Excluded, word[1:])
			default:
				words = append(words, word)
			}
		}
	}
	p.Text = strings.Join(words, " ")
	return p
}

// isWordRune reports whether r can start a word: after a "-", it makes the "-" an exclusion
// rather than a separator or a sign ("-1" stays a number).
func isWordRune(r rune) bool { return unicode.IsLetter(r) }

// quoteLexeme returns lex as a tsquery operand that matches exactly that lexeme: quoted, with
// quotes and backslashes doubled, so no character of it is read as an operator.
func quoteLexeme(lex string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(lex) + "'"
}
