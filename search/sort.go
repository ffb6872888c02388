package search

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/records"
	"github.com/osa-archive/osa/search/where"
)

// SortKeysMax is the most sort keys a request may give.
const SortKeysMax = 4

// sortKey is one key of a sort: a declared field and its direction.
type sortKey struct {
	field where.Field
	desc  bool
}

// spec is the key as a request writes it, "pub_date:desc".
func (k sortKey) spec() string {
	if k.desc {
		return k.field.Name + ":desc"
	}
	return k.field.Name + ":asc"
}

// orderSQL is the key's ORDER BY term on records alias: a record without a value of the field's
// type sorts last, in either direction.
func (k sortKey) orderSQL(alias string) string {
	dir := " ASC NULLS LAST"
	if k.desc {
		dir = " DESC NULLS LAST"
	}
	return where.ValueSQL(k.field, alias) + dir
}

// castSQL is the SQL cast that turns the text of a key's value back into its type.
func (k sortKey) castSQL() string {
	switch k.field.Type {
	case where.TypeNumber:
		return "::text::numeric"
	case where.TypeBoolean:
		return "::text::boolean"
	default:
		return "::text"
	}
}

// planSort parses req.Sort: each "field", "field:asc" or "field:desc", on a declared field.
func (s *Service) planSort(req *Request) ([]sortKey, error) {
	if len(req.Sort) > SortKeysMax {
		return nil, domainerr.Invalid("sort", "has %d keys, over the limit of %d", len(req.Sort), SortKeysMax)
	}
	keys := make([]sortKey, 0, len(req.Sort))
	for i, spec := range req.Sort {
		key := fmt.Sprintf("sort[%d]", i)
		name, dir, _ := strings.Cut(strings.TrimSpace(spec), ":")
		f, ok := s.fields.Lookup(name)
		if !ok {
			return nil, domainerr.Invalid(key, "%q is not a declared search field; send field, field:asc or field:desc with one of %s",
				name, fieldNames(s.fields.List()))
		}
		k := sortKey{field: f}
		switch strings.ToLower(dir) {
		case "", "asc":
		case "desc":
			k.desc = true
		default:
			return nil, domainerr.Invalid(key, "%q: the direction is asc or desc, not %q", spec, dir)
		}
		for _, prev := range keys {
			if prev.field.Name == f.Name {
				return nil, domainerr.Invalid(key, "%s is sorted on twice", f.Name)
			}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// sortHits orders hits (a query's matches, best first) by keys, ties kept in their order of
// relevance, then by record id.
func (s *Service) sortHits(ctx context.Context, hits []Hit, keys []sortKey) ([]Hit, error) {
	if len(keys) == 0 || len(hits) < 2 {
		return hits, nil
	}
	ids := make([]uuid.UUID, len(hits))
	at := make(map[uuid.UUID]int, len(hits))
	for i, h := range hits {
		ids[i], at[h.SRN.ID] = h.SRN.ID, i
	}
	order := make([]string, len(keys))
	for i, k := range keys {
		order[i] = k.orderSQL("r")
	}
	rows, err := s.readPool(ctx).Query(ctx, `SELECT u.id FROM unnest($1::uuid[]) WITH ORDINALITY AS u (id, rank)
JOIN records r ON r.id = u.id
ORDER BY `+strings.Join(order, ", ")+`, u.rank, u.id`, ids)
	if err != nil {
		return nil, fmt.Errorf("error sorting hits: %w", err)
	}
	sorted, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("error sorting hits: %w", err)
	}
	out := make([]Hit, 0, len(hits))
	for _, id := range sorted {
		out = append(out, hits[at[id]])
	}
	return out, nil
}

// pageToken is where a browse's next page starts: after the record id, whose sort values were
// values (as text; nil for none), under the sort spec sort. Encoded as base64url JSON, opaque to
// clients.
type pageToken struct {
	Sort   string    `json:"s"`
	Values []*string `json:"v"`
	ID     uuid.UUID `json:"id"`
}

func (t pageToken) encode() string {
	data, _ := json.Marshal(t) // strings and a UUID always marshal
	return base64.RawURLEncoding.EncodeToString(data)
}

// sortSpec is the sort as a page token records it.
func sortSpec(keys []sortKey) string {
	specs := make([]string, len(keys))
	for i, k := range keys {
		specs[i] = k.spec()
	}
	return strings.Join(specs, ",")
}

// decodePageToken reads a token made by a browse with the same sort.
func decodePageToken(s string, keys []sortKey) (*pageToken, error) {
	if s == "" {
		return nil, nil
	}
	var t pageToken
	data, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(data, &t)
	}
	if err != nil || len(t.Values) != len(keys) {
		return nil, domainerr.Invalid("page_token", "is not a token this server made: send the next_page_token of the previous page, or none for the first")
	}
	if t.Sort != sortSpec(keys) {
		return nil, domainerr.Invalid("page_token", "was made for the sort %q, not %q: a token pages only the browse that made it",
			t.Sort, sortSpec(keys))
	}
	return &t, nil
}

// afterSQL is the keyset condition "comes after the token's row" in the order of keys then id,
// on records alias, its parameters numbered from $first on. A missing value sorts last in either
// direction: after a row without a value come only rows without one.
func afterSQL(keys []sortKey, t *pageToken, alias string, first int) (string, []any) {
	var args []any
	param := func(v any, cast string) string {
		args = append(args, v)
		return "$" + strconv.Itoa(first+len(args)-1) + cast
	}
	// From the last key to the first: after(i) = key i strictly after, or equal and after(i+1).
	cond := alias + ".id > " + param(t.ID, "::uuid")
	for i := len(keys) - 1; i >= 0; i-- {
		k := keys[i]
		v := where.ValueSQL(k.field, alias)
		if t.Values[i] == nil {
			cond = "(" + v + " IS NULL AND " + cond + ")"
			continue
		}
		p := param(*t.Values[i], k.castSQL())
		op := " > "
		if k.desc {
			op = " < "
		}
		cond = "(" + v + op + p + " OR " + v + " IS NULL OR (" + v + " = " + p + " AND " + cond + "))"
	}
	return cond, args
}

// browse returns the page of live records meeting the match set's filter and condition, in the
// order of keys then record id, after the page token or offset; and the token of the next page
// when there may be one.
func (s *Service) browse(ctx context.Context, req Request, m matchSet, keys []sortKey, after *pageToken) ([]Hit, string, error) {
	cond, args := m.where()
	if after != nil {
		kc, kargs := afterSQL(keys, after, "r", len(args)+1)
		cond, args = cond+" AND "+kc, append(args, kargs...)
	}
	order, values := make([]string, 0, len(keys)+1), make([]string, len(keys))
	for i, k := range keys {
		order = append(order, k.orderSQL("r"))
		values[i] = "(" + where.ValueSQL(k.field, "r") + ")::text"
	}
	order = append(order, "r.id")
	sel := "r.id, r.version, r.metadata, COALESCE(r.source, '')"
	if len(values) > 0 {
		sel += ", ARRAY[" + strings.Join(values, ", ") + "]::text[]"
	} else {
		sel += ", '{}'::text[]"
	}
	args = append(args, req.Limit, req.Offset)
	sql := "SELECT " + sel + " FROM records r WHERE r.deleted_at IS NULL AND " + cond +
		" ORDER BY " + strings.Join(order, ", ") +
		" LIMIT $" + strconv.Itoa(len(args)-1) + " OFFSET $" + strconv.Itoa(len(args))
	rows, err := s.readPool(ctx).Query(ctx, sql, args...)
	if err != nil {
		return nil, "", fmt.Errorf("error browsing records: %w", err)
	}
	var (
		hits []Hit
		last pageToken
	)
	var (
		id     uuid.UUID
		ver    int
		meta   json.RawMessage
		source string
		vals   []*string
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &ver, &meta, &source, &vals}, func() error {
		hits = append(hits, Hit{SRN: records.SRN{Domain: s.cfg.Domain, ID: id, Version: ver}, Metadata: append(json.RawMessage(nil), meta...),
			Source: source})
		last = pageToken{Sort: sortSpec(keys), Values: vals, ID: id}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("error browsing records: %w", err)
	}
	next := ""
	if len(hits) == req.Limit {
		next = last.encode()
	}
	return hits, next, nil
}

// fieldNames lists the names of fs, comma-separated.
func fieldNames(fs []where.Field) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}
