package where

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// kind is the kind of a token.
type kind int

const (
	tokEOF kind = iota
	tokIdent
	tokString
	tokNumber
	tokDate
	tokOp // = != > >= < <=
	tokLParen
	tokRParen
	tokLBracket
	tokRBracket
	tokComma
)

// token is one lexeme; pos is its 1-based position in characters.
type token struct {
	kind kind
	text string // the source text; for a string, its unescaped value
	pos  int
}

// String returns the token as error messages quote it.
func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "the end"
	case tokString:
		return quote(t.text)
	default:
		return `"` + t.text + `"`
	}
}

// keyword reports whether t is the keyword kw (upper case), in any case.
func (t token) keyword(kw string) bool {
	return t.kind == tokIdent && strings.EqualFold(t.text, kw)
}

// lexer splits an expression into tokens.
type lexer struct {
	src string
	off int // byte offset
	pos int // 1-based character position of off
}

// next returns the next token.
func (l *lexer) next() (token, error) {
	for l.off < len(l.src) {
		r, n := utf8.DecodeRuneInString(l.src[l.off:])
		if !unicode.IsSpace(r) {
			break
		}
		l.advance(n)
	}
	start := token{pos: l.pos}
	if l.off == len(l.src) {
		start.kind = tokEOF
		return start, nil
	}
	c := l.src[l.off]
	single := map[byte]kind{'(': tokLParen, ')': tokRParen, '[': tokLBracket, ']': tokRBracket, ',': tokComma, '=': tokOp}
	switch {
	case single[c] != 0:
		start.kind, start.text = single[c], string(c)
		l.advance(1)
		return start, nil
	case c == '!' || c == '<' || c == '>':
		l.advance(1)
		start.kind, start.text = tokOp, string(c)
		if l.off < len(l.src) && l.src[l.off] == '=' {
			l.advance(1)
			start.text += "="
		} else if c == '!' {
			return token{}, errorf(start.pos, `expected "!=", got "!"`)
		}
		return start, nil
	case c == '"':
		return l.string(start)
	case c == '-' || c == '+' || c == '.' || (c >= '0' && c <= '9'):
		return l.number(start)
	case c == '_' || (c|0x20 >= 'a' && c|0x20 <= 'z'):
		i := l.off
		for i < len(l.src) && isIdentByte(l.src[i]) {
			i++
		}
		start.kind, start.text = tokIdent, l.src[l.off:i]
		l.advance(i - l.off)
		return start, nil
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.off:])
	return token{}, errorf(start.pos, "unexpected character %q", r)
}

// string reads a double-quoted string with \" and \\ escapes.
func (l *lexer) string(t token) (token, error) {
	l.advance(1)
	var b strings.Builder
	for {
		if l.off == len(l.src) {
			return token{}, errorf(t.pos, "unterminated string: expected a closing \"")
		}
		r, n := utf8.DecodeRuneInString(l.src[l.off:])
		switch {
		case r == utf8.RuneError && n == 1:
			return token{}, errorf(l.pos, "the expression is not valid UTF-8")
		case r == '"':
			l.advance(1)
			t.kind, t.text = tokString, b.String()
			return t, nil
		case r == '\\':
			if l.off+1 == len(l.src) || (l.src[l.off+1] != '"' && l.src[l.off+1] != '\\') {
				return token{}, errorf(l.pos, `expected \" or \\ after \ in a string`)
			}
			b.WriteByte(l.src[l.off+1])
			l.advance(2)
		default:
			b.WriteRune(r)
			l.advance(n)
		}
	}
}

// number reads a number (-12, 3.5, 1e6) or a date (2022-01-01, 2022/01/01).
func (l *lexer) number(t token) (token, error) {
	i := l.off
	for i < len(l.src) && (isIdentByte(l.src[i]) || strings.IndexByte("+-./", l.src[i]) >= 0) {
		i++
	}
	t.text = l.src[l.off:i]
	l.advance(i - l.off)
	switch {
	case isDate(t.text):
		t.kind = tokDate
	case isNumber(t.text):
		t.kind = tokNumber
	default:
		return token{}, errorf(t.pos, "%q is not a number or a date (YYYY-MM-DD)", t.text)
	}
	return t, nil
}

// advance moves n bytes on.
func (l *lexer) advance(n int) {
	l.pos += utf8.RuneCountInString(l.src[l.off : l.off+n])
	l.off += n
}

// isIdentByte reports whether c may be part of an identifier (field names are checked later).
func isIdentByte(c byte) bool {
	return c == '_' || c == '.' || (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

// isNumber reports whether s is -?digits[.digits][e[+-]digits].
func isNumber(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := func() bool {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i > j
	}
	if !digits() {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if !digits() {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			i++
		}
		if !digits() {
			return false
		}
	}
	return i == len(s)
}

// isDate reports whether s looks like a date, DDDD-DD-DD or DDDD/DD/DD (checked later).
func isDate(s string) bool {
	if len(s) != 10 || (s[4] != '-' && s[4] != '/') || s[7] != s[4] {
		return false
	}
	for i, c := range []byte(s) {
		if i != 4 && i != 7 && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// quote returns s double-quoted with " and \ escaped, as the syntax writes it.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
