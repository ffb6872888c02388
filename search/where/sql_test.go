package where

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/osa-archive/osa/internal/pgtest"
)

// TestSQL runs every operator against records on PostgreSQL and checks which match, including
// arrays, nested fields, missing fields, JSON null and stored values of the wrong type.
func TestSQL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.New(t)
	rows := []struct {
		label, source string
		metadata      map[string]any
	}{
		{"a", "geo", map[string]any{"organism": "Mus musculus", "sample_count": 12, "pub_date": "2023/05/01",
			"platform": []string{"GPL1", "GPL2"}, "open_access": true, "sample": map[string]any{"tissue": "liver"}}},
		{"b", "geo", map[string]any{"organism": "Homo sapiens", "sample_count": 5, "pub_date": "2021-12-31",
			"platform": "GPL1", "open_access": false, "sample": map[string]any{"tissue": []string{"brain", "liver"}}}},
		{"c", "other", map[string]any{"organism": "Mus musculus", "sample_count": "ten", "pub_date": "soon",
			"platform": 570, "open_access": "yes", "sample": "liver"}},
		{"d", "", map[string]any{}},
		{"e", "geo", map[string]any{"organism": nil, "sample_count": 10.0, "pub_date": "2022-01-01T10:00:00",
			"gds_type": "expression", "platform": []any{1, "GPL3"}}},
	}
	for i, r := range rows {
		r.metadata["label"] = r.label
		md, _ := json.Marshal(r.metadata)
		var src, srcID any
		if r.source != "" {
			src, srcID = r.source, r.label
		}
		if _, err := pool.Exec(ctx, `INSERT INTO records (id, version, metadata, source, source_id)
			VALUES (gen_random_uuid(), 1, $1, $2, $3)`, md, src, srcID); err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
	}
	for _, c := range []struct{ src, want string }{
		// keyword
		{`organism = "Mus musculus"`, "a c"},
		{`organism != "Mus musculus"`, "b"},
		{`NOT organism = "Mus musculus"`, "b d e"},
		{`organism IN ["Homo sapiens", "Danio rerio"]`, "b"},
		{`organism EXISTS`, "a b c"},
		{`NOT organism EXISTS`, "d e"},
		// keyword arrays: = is "is or contains"
		{`platform = "GPL1"`, "a b"},
		{`platform = "GPL2"`, "a"},
		{`platform = "GPL3"`, "e"},
		{`platform != "GPL2"`, "b e"},
		{`platform IN ["GPL2", "GPL9"]`, "a"},
		{`platform = "570"`, ""},
		// nested
		{`sample.tissue = "liver"`, "a b"},
		{`sample.tissue = "brain"`, "b"},
		{`sample.tissue EXISTS`, "a b"},
		{`sample.tissue != "brain"`, "a"},
		// number, with a stored "ten"
		{`sample_count = 10`, "e"},
		{`sample_count != 10`, "a b"},
		{`sample_count > 5`, "a e"},
		{`sample_count >= 5`, "a b e"},
		{`sample_count < 10`, "b"},
		{`sample_count <= 10`, "b e"},
		{`sample_count IN [5, 12]`, "a b"},
		{`sample_count >= 1e1`, "a e"},
		{`NOT sample_count >= 10`, "b c d"},
		{`sample_count EXISTS`, "a b c e"},
		// date: GEO's YYYY/MM/DD and ISO stored, "soon" stored
		{`pub_date = 2023-05-01`, "a"},
		{`pub_date = 2023/05/01`, "a"},
		{`pub_date != 2023-05-01`, "b e"},
		{`pub_date >= 2022-01-01`, "a e"},
		{`pub_date > 2022-01-01`, "a"},
		{`pub_date < 2022/01/01`, "b"},
		{`pub_date <= "2022-01-01"`, "b e"},
		{`pub_date IN [2021/12/31, 2022-01-01]`, "b e"},
		// boolean, with a stored "yes"
		{`open_access = true`, "a"},
		{`open_access = false`, "b"},
		{`open_access != true`, "b"},
		{`open_access IN [true, false]`, "a b"},
		// the source column
		{`source = "geo"`, "a b e"},
		{`source != "geo"`, "c"},
		{`source IN ["other", "x"]`, "c"},
		{`source EXISTS`, "a b c e"},
		{`NOT source EXISTS`, "d"},
		// logic and precedence
		{`organism = "Homo sapiens" OR organism = "Mus musculus" AND sample_count >= 10`, "a b"},
		{`(organism = "Homo sapiens" OR organism = "Mus musculus") AND sample_count >= 10`, "a"},
		{`NOT (organism = "Mus musculus" OR source = "geo")`, "d"},
		{`organism = "Mus musculus" AND sample_count >= 10 AND pub_date >= 2022-01-01`, "a"},
		{`NOT NOT organism = "Mus musculus"`, "a c"},
	} {
		e, err := Parse(c.src, testFields)
		if err != nil {
			t.Fatalf("%s: %v", c.src, err)
		}
		cond, args := e.SQL("r", 2)
		var got []string
		rows, err := pool.Query(ctx, `SELECT r.metadata->>'label' FROM records r WHERE r.version = $1 AND `+cond,
			append([]any{1}, args...)...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.src, err, cond)
		}
		for rows.Next() {
			var l string
			if err := rows.Scan(&l); err != nil {
				t.Fatal(err)
			}
			got = append(got, l)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("%s: %v\n%s", c.src, err, cond)
		}
		slices.Sort(got)
		if strings.Join(got, " ") != c.want {
			t.Errorf("%s: got %q, want %q\n%s", c.src, strings.Join(got, " "), c.want, cond)
		}
	}
}
