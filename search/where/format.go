package where

import "strings"

// String returns the expression fully parenthesised, values in their normalised form
// (dates as YYYY-MM-DD): Parse(e.String()) gives the same tree.
func (e *Expr) String() string {
	var b strings.Builder
	format(&b, e.Root)
	return b.String()
}

func format(b *strings.Builder, n Node) {
	switch n := n.(type) {
	case *And:
		b.WriteString("(")
		format(b, n.Left)
		b.WriteString(" AND ")
		format(b, n.Right)
		b.WriteString(")")
	case *Or:
		b.WriteString("(")
		format(b, n.Left)
		b.WriteString(" OR ")
		format(b, n.Right)
		b.WriteString(")")
	case *Not:
		b.WriteString("NOT ")
		format(b, n.X)
	case *Exists:
		b.WriteString(n.Field.Name + " EXISTS")
	case *Compare:
		b.WriteString(n.Field.Name + " " + n.Op + " " + formatValue(n.Field, n.Value))
	case *In:
		b.WriteString(n.Field.Name + " IN [")
		for i, v := range n.Values {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(formatValue(n.Field, v))
		}
		b.WriteString("]")
	}
}

// formatValue writes v as the syntax does for f's type.
func formatValue(f Field, v Value) string {
	if f.Type == TypeKeyword {
		return quote(v.Text)
	}
	return v.Text
}
