package records

// Condition is a compiled filter on a record (a parsed where expression, see package
// search/where), written into the statement of [Store.List].
type Condition interface {
	// SQL returns the condition on the records row aliased alias, its parameters numbered from
	// $first on, and their values.
	SQL(alias string, first int) (string, []any)
}
