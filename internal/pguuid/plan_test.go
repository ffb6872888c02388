package pguuid

import (
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// After Register, a UUID (and each element of a UUID array) is encoded by this package's plan,
// not by pgx's driver.Valuer fallback, which formats it as text first.
func TestRegisterPlansUUIDs(t *testing.T) {
	if _, ok := pgtype.NewMap().PlanEncode(pgtype.UUIDOID, pgtype.BinaryFormatCode, uuid.UUID{}).(*encodePlan); ok {
		t.Fatal("pgx planned uuid.UUID with this package's plan without Register")
	}
	m := pgtype.NewMap()
	Register(m)
	if p := m.PlanEncode(pgtype.UUIDOID, pgtype.BinaryFormatCode, uuid.UUID{}); p == nil {
		t.Fatal("no plan for uuid.UUID")
	} else if _, ok := p.(*encodePlan); !ok {
		t.Fatalf("uuid.UUID planned with %T, want *encodePlan", p)
	}
	id := uuid.New()
	got, err := m.Encode(pgtype.UUIDOID, pgtype.BinaryFormatCode, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(id[:]) {
		t.Errorf("encoded %x, want the 16 bytes %x", got, id[:])
	}
}
