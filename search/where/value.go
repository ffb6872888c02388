package where

// PathSQL returns the field's stored JSON value on the record aliased alias (alias.metadata ->
// 'a' -> 'b'), or its column's text for a [Field.Column] field: for statements that read fields
// beside a condition (facet counts, sorting). Names are declared names, safe as literals.
func PathSQL(f Field, alias string) string {
	c := &compiler{alias: alias}
	if f.Column != "" {
		return c.column(f)
	}
	return c.path(f)
}

// ValueSQL returns the field's value on the record aliased alias as a scalar of its type, NULL
// when the record has no value of that type: a keyword's string as text (NULL for an array), a
// number as numeric, a date as 'YYYY-MM-DD' text and a boolean as boolean. These are the
// expressions conditions compare, so an expression index on one serves both.
func ValueSQL(f Field, alias string) string {
	c := &compiler{alias: alias}
	if f.Column != "" {
		return c.column(f)
	}
	p := c.path(f)
	switch f.Type {
	case TypeNumber:
		return c.number(f)
	case TypeDate:
		return c.date(f)
	case TypeBoolean:
		return "(CASE WHEN jsonb_typeof(" + p + ") = 'boolean' THEN (" + p + ")::boolean END)"
	default:
		return "(CASE WHEN jsonb_typeof(" + p + ") = 'string' THEN " + p + " #>> '{}' END)"
	}
}
