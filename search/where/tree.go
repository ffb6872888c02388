package where

// Node is a node of a parsed expression: [*And], [*Or], [*Not], [*Compare], [*In] or [*Exists].
type Node interface{ node() }

// And is true when both sides are.
type And struct{ Left, Right Node }

// Or is true when either side is.
type Or struct{ Left, Right Node }

// Not is true when X is not.
type Not struct{ X Node }

// Compare is field Op value.
type Compare struct {
	Field Field
	// Op is one of = != > >= < <=.
	Op    string
	Value Value
}

// In is true when the field equals (or, for an array, contains) one of Values.
type In struct {
	Field  Field
	Values []Value
}

// Exists is true when the record has the field, not JSON null.
type Exists struct{ Field Field }

// Value is a literal, normalised for its field: a keyword's string, a number's text as written
// (an exact decimal), a date as YYYY-MM-DD, a boolean as true or false.
type Value struct {
	Text string
}

func (*And) node()     {}
func (*Or) node()      {}
func (*Not) node()     {}
func (*Compare) node() {}
func (*In) node()      {}
func (*Exists) node()  {}
