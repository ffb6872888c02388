// Package where parses filter expressions over declared search fields and compiles them to SQL
// with parameters.
//
// # Syntax
//
//	expr    = or
//	or      = and { OR and }
//	and     = unary { AND unary }
//	unary   = NOT unary | primary
//	primary = "(" expr ")" | field op value | field IN "[" value { "," value } "]" | field EXISTS
//	op      = "=" | "!=" | ">" | ">=" | "<" | "<="
//
// Keywords are case-insensitive. A field is [a-z_][a-z0-9_]* with "." for nesting
// (sample.tissue is metadata -> 'sample' -> 'tissue'). A value is a double-quoted string (\" and
// \\ escape), a number, a date (2022-01-01, or GEO's 2022/01/01) or true/false. For example:
//
//	organism = "Mus musculus" AND sample_count >= 10 AND pub_date >= 2022-01-01
//
// # Fields and types
//
// Only declared fields ([Field]) can be used, each with a [Type]: keyword (a string, or an array
// of strings: = means "is or contains"), number, date or boolean. Keyword and boolean fields take
// =, !=, IN and EXISTS; number and date fields every operator. A value of the wrong type for its
// field, an undeclared field and a syntax error are an [*Error] with the position (1-based, in
// characters) and what was expected.
//
// # Semantics
//
// A comparison is true only when the record has the field with a value of the field's type: a
// missing field, JSON null, or a stored value of another type (a sample_count of "ten") matches
// no comparison, including !=. NOT negates what is inside it, so NOT sample_count >= 10 also
// matches the records without a numeric sample_count. EXISTS is true when the field is present
// and not JSON null.
//
// # SQL
//
// [Expr.SQL] writes a condition on alias.metadata (or on a record column, [Field.Column]). Every
// value is a parameter; field names are written into the statement as literals, which is safe
// because they are declared names matching [a-z_][a-z0-9_]*, and is what lets PostgreSQL use an
// index on the same expression:
//
//   - keyword and boolean = and IN are jsonb containment (metadata @> {"organism": "x"} OR
//     metadata @> {"organism": ["x"]}), which the GIN index on records.metadata answers;
//   - number comparisons read CASE WHEN jsonb_typeof(v) = 'number' THEN (v #>> '{}')::numeric
//     END, so a non-numeric stored value is NULL (no match) instead of a cast error, and the
//     expression is immutable, so a btree expression index on it serves ranges. jsonpath
//     (jsonb_path_exists with vars) would be as safe, but no index serves its range filters;
//   - dates are compared as text 'YYYY-MM-DD': a stored string starting with a date in either
//     form (2023/05/01 or 2023-05-01, optionally followed by a time) is normalised with
//     translate(), and the value is normalised in Go; anything else is NULL. Text comparison of
//     ISO dates is date order, and never fails on an impossible stored date such as 2023/02/30.
//
// Inside NOT, a NULL (unknown) operand is taken as false (NOT COALESCE(x, false)), so that the
// language is two-valued.
package where
