package where

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds of an expression.
const (
	// MaxChars is the longest expression, in characters.
	MaxChars = 4096
	// MaxDepth is the deepest nesting of parentheses and NOT.
	MaxDepth = 32
)

// Expr is a parsed, type-checked expression.
type Expr struct {
	// Root is the expression's tree.
	Root Node
	// Source is the text it was parsed from.
	Source string
}

// Parse parses src against the declared fields. Errors are an [*Error].
func Parse(src string, fields Fields) (*Expr, error) {
	if !utf8.ValidString(src) {
		return nil, errorf(1, "the expression is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(src); n > MaxChars {
		return nil, errorf(MaxChars+1, "the expression is %d characters, over the limit of %d", n, MaxChars)
	}
	p := &parser{lex: lexer{src: src, pos: 1}, fields: fields}
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind == tokEOF {
		return nil, errorf(p.tok.pos, "expected a condition, such as organism = \"Mus musculus\"")
	}
	root, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, errorf(p.tok.pos, "expected AND, OR or the end, got %s", p.tok)
	}
	return &Expr{Root: root, Source: src}, nil
}

// parser is a recursive-descent parser with one token of lookahead.
type parser struct {
	lex    lexer
	tok    token
	fields Fields
	depth  int
}

// advance reads the next token.
func (p *parser) advance() error {
	t, err := p.lex.next()
	p.tok = t
	return err
}

// or = and { OR and }
func (p *parser) or() (Node, error) {
	left, err := p.and()
	for err == nil && p.tok.keyword("OR") {
		if err = p.advance(); err != nil {
			break
		}
		var right Node
		if right, err = p.and(); err == nil {
			left = &Or{Left: left, Right: right}
		}
	}
	return left, err
}

// and = unary { AND unary }
func (p *parser) and() (Node, error) {
	left, err := p.unary()
	for err == nil && p.tok.keyword("AND") {
		if err = p.advance(); err != nil {
			break
		}
		var right Node
		if right, err = p.unary(); err == nil {
			left = &And{Left: left, Right: right}
		}
	}
	return left, err
}

// unary = NOT unary | primary
func (p *parser) unary() (Node, error) {
	if p.depth++; p.depth > MaxDepth {
		return nil, errorf(p.tok.pos, "the expression nests deeper than %d", MaxDepth)
	}
	defer func() { p.depth-- }()
	if p.tok.keyword("NOT") {
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &Not{X: x}, nil
	}
	return p.primary()
}

// primary = "(" expr ")" | field condition
func (p *parser) primary() (Node, error) {
	if p.tok.kind == tokLParen {
		open := p.tok.pos
		if err := p.advance(); err != nil {
			return nil, err
		}
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tokRParen {
			return nil, errorf(p.tok.pos, "expected \")\" to close the \"(\" at %d, got %s", open, p.tok)
		}
		return x, p.advance()
	}
	if p.tok.kind != tokIdent || isReserved(p.tok.text) {
		return nil, errorf(p.tok.pos, "expected a field name, NOT or \"(\", got %s", p.tok)
	}
	name := p.tok
	if !ValidName(name.text) {
		return nil, errorf(name.pos, "%q is not a field name: [a-z_][a-z0-9_]*, lower case, with . for nesting", name.text)
	}
	f, ok := p.fields.Lookup(name.text)
	if !ok {
		return nil, errorf(name.pos, "unknown field %q; %s", name.text, p.fields.declared())
	}
	if err := p.advance(); err != nil {
		return nil, err
	}
	switch op := p.tok; {
	case op.keyword("EXISTS"):
		return &Exists{Field: f}, p.advance()
	case op.keyword("IN"):
		return p.in(f)
	case op.kind == tokOp:
		if f.Type == TypeKeyword || f.Type == TypeBoolean {
			if op.text != "=" && op.text != "!=" {
				return nil, errorf(op.pos, "%s is a %s: it takes =, !=, IN and EXISTS, not %s", f.Name, f.Type, op.text)
			}
		}
		if err := p.advance(); err != nil {
			return nil, err
		}
		v, err := p.value(f, fmt.Sprintf("after %q", op.text))
		if err != nil {
			return nil, err
		}
		return &Compare{Field: f, Op: op.text, Value: v}, nil
	default:
		return nil, errorf(op.pos, "expected an operator (=, !=, >, >=, <, <=, IN or EXISTS) after %s, got %s", f.Name, op)
	}
}

// in = IN "[" value { "," value } "]", the IN being the current token.
func (p *parser) in(f Field) (Node, error) {
	if err := p.advance(); err != nil {
		return nil, err
	}
	if p.tok.kind != tokLBracket {
		return nil, errorf(p.tok.pos, "expected \"[\" after IN, got %s", p.tok)
	}
	n := &In{Field: f}
	for {
		if err := p.advance(); err != nil {
			return nil, err
		}
		where := `after "["`
		if len(n.Values) > 0 {
			where = `after ","`
		}
		v, err := p.value(f, where)
		if err != nil {
			return nil, err
		}
		n.Values = append(n.Values, v)
		switch p.tok.kind {
		case tokComma:
			continue
		case tokRBracket:
			return n, p.advance()
		}
		return nil, errorf(p.tok.pos, "expected \",\" or \"]\" in the list of IN, got %s", p.tok)
	}
}

// value reads the current token as a value of f's type and moves past it; where says what it
// follows, for errors.
func (p *parser) value(f Field, where string) (Value, error) {
	t := p.tok
	var v Value
	switch {
	case t.kind == tokString || t.kind == tokNumber || t.kind == tokDate || t.keyword("TRUE") || t.keyword("FALSE"):
		var err error
		if v, err = typed(f, t); err != nil {
			return Value{}, err
		}
	default:
		return Value{}, errorf(t.pos, "expected a value %s, got %s", where, t)
	}
	return v, p.advance()
}

// typed returns t as a value of f's type, or the error that it is not one.
func typed(f Field, t token) (Value, error) {
	shown := t.String()
	isBool := t.keyword("TRUE") || t.keyword("FALSE")
	if isBool {
		shown = strings.ToLower(t.text)
	}
	wrong := func() error { return errorf(t.pos, "%s is a %s; %s is not", f.Name, f.Type, shown) }
	switch f.Type {
	case TypeKeyword:
		if t.kind != tokString {
			return Value{}, errorf(t.pos, "%s is a %s; %s is not (quote it: %s)", f.Name, f.Type, shown, quote(strings.ToLower(t.text)))
		}
		return Value{Text: t.text}, nil
	case TypeNumber:
		if t.kind != tokNumber {
			return Value{}, wrong()
		}
		if f, err := strconv.ParseFloat(t.text, 64); err != nil || math.IsInf(f, 0) {
			return Value{}, errorf(t.pos, "%s is out of range", t.text)
		}
		return Value{Text: t.text}, nil
	case TypeDate:
		if t.kind != tokDate && t.kind != tokString {
			return Value{}, wrong()
		}
		d, ok := normaliseDate(t.text)
		if !ok {
			if t.kind == tokString {
				return Value{}, wrong()
			}
			return Value{}, errorf(t.pos, "%s is not a date (YYYY-MM-DD)", t.text)
		}
		return Value{Text: d}, nil
	case TypeBoolean:
		if !isBool {
			return Value{}, wrong()
		}
		return Value{Text: strings.ToLower(t.text)}, nil
	}
	return Value{}, wrong()
}

// normaliseDate returns s, YYYY-MM-DD or YYYY/MM/DD, as YYYY-MM-DD, if it is a real date.
func normaliseDate(s string) (string, bool) {
	if !isDate(s) {
		return "", false
	}
	d := strings.ReplaceAll(s, "/", "-")
	if _, err := time.Parse(time.DateOnly, d); err != nil {
		return "", false
	}
	return d, true
}

// isReserved reports whether s is a keyword of the language.
func isReserved(s string) bool {
	switch strings.ToUpper(s) {
	case "AND", "OR", "NOT", "IN", "EXISTS", "TRUE", "FALSE":
		return true
	}
	return false
}
