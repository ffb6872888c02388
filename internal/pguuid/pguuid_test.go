package pguuid_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/osa-archive/osa/internal/pgtest"
	"github.com/osa-archive/osa/internal/pguuid"
)

// A UUID, an array of them and a nil one reach PostgreSQL as the same values with the wrapper as
// through uuid.UUID's driver.Valuer; a UUID reads back unchanged.
func TestRegister(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.NewURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	pguuid.Register(conn.TypeMap())

	ids := []uuid.UUID{uuid.New(), uuid.New(), uuid.Nil}
	var texts []string
	if err := conn.QueryRow(ctx, `SELECT array_agg(u::text ORDER BY o) FROM unnest($1::uuid[]) WITH ORDINALITY AS x (u, o)`, ids).Scan(&texts); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if texts[i] != id.String() {
			t.Errorf("element %d: PostgreSQL read %s, want %s", i, texts[i], id)
		}
	}

	var text string
	var back uuid.UUID
	if err := conn.QueryRow(ctx, `SELECT $1::uuid::text, $1::uuid`, ids[0]).Scan(&text, &back); err != nil {
		t.Fatal(err)
	}
	if text != ids[0].String() || back != ids[0] {
		t.Errorf("read %s and %s, want %s", text, back, ids[0])
	}

	var null *uuid.UUID
	var isNull bool
	if err := conn.QueryRow(ctx, `SELECT $1::uuid IS NULL`, null).Scan(&isNull); err != nil {
		t.Fatal(err)
	}
	if !isNull {
		t.Error("a nil *uuid.UUID did not reach PostgreSQL as NULL")
	}
}
