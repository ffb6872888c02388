// Package pguuid teaches pgx to send github.com/google/uuid's UUID as the 16 bytes it
// is, in PostgreSQL's binary format.
//
// uuid.UUID implements driver.Valuer, and pgx prefers it to the value's underlying [16]byte:
// each UUID is then formatted as text and parsed back into its 16 bytes, with a plan looked up
// for each element of an array. In the batched statements of the pipeline, whose arrays carry
// one UUID per record, that was a tenth of the osa process's CPU in osa bench ingest.
package pguuid

import (
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// Register makes m encode uuid.UUID as [16]byte, ahead of pgx's fallback to driver.Valuer. Call
// it on every connection's type map before its first query (a pool's AfterConnect): pgx
// remembers the plan of a type once it has made one. Scans are left alone: pgx asks a
// sql.Scanner before any wrapper, and they are the smaller part.
func Register(m *pgtype.Map) {
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{tryWrapEncode}, m.TryWrapEncodePlanFuncs...)
}

func tryWrapEncode(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
	if u, ok := value.(uuid.UUID); ok {
		return &encodePlan{}, [16]byte(u), true
	}
	return nil, nil, false
}

type encodePlan struct{ next pgtype.EncodePlan }

func (p *encodePlan) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *encodePlan) Encode(value any, buf []byte) ([]byte, error) {
	return p.next.Encode([16]byte(value.(uuid.UUID)), buf)
}
