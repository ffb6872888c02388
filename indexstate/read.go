package indexstate

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Count is how many records of one backend are in each state. A record counts as pending once
// its fan-out has run.
type Count struct {
	Indexed, Pending, Failed, Empty int64
}

const countsSQL = `
SELECT backend,
       count(*) FILTER (WHERE state = 'indexed'),
       count(*) FILTER (WHERE state = 'pending'),
       count(*) FILTER (WHERE state = 'failed'),
       count(*) FILTER (WHERE state = 'empty')
FROM index_state GROUP BY backend`

// Counts returns the counts of every backend that has rows, by backend name.
func Counts(ctx context.Context, db DB) (map[string]Count, error) {
	rows, err := db.Query(ctx, countsSQL)
	if err != nil {
		return nil, fmt.Errorf("error counting index state: %w", err)
	}
	out := map[string]Count{}
	var (
		name string
		c    Count
	)
	if _, err := pgx.ForEachRow(rows, []any{&name, &c.Indexed, &c.Pending, &c.Failed, &c.Empty}, func() error {
		out[name] = c
		return nil
	}); err != nil {
		return nil, fmt.Errorf("error counting index state: %w", err)
	}
	return out, nil
}

// OfRecord returns the rows of the record id, by backend name. A backend its fan-out has not
// reached has none.
func OfRecord(ctx context.Context, db DB, id uuid.UUID) (map[string]Status, error) {
	rows, err := db.Query(ctx, `SELECT backend, state, version, COALESCE(indexed_version, 0), attempts,
		COALESCE(last_error, ''), indexed_at, updated_at FROM index_state WHERE record_id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("error reading index state: %w", err)
	}
	out := map[string]Status{}
	var st Status
	if _, err := pgx.ForEachRow(rows, []any{&st.Backend, &st.State, &st.Version, &st.IndexedVersion, &st.Attempts,
		&st.LastError, &st.IndexedAt, &st.UpdatedAt}, func() error {
		out[st.Backend] = st
		st = Status{} // the next row must not scan into this row's IndexedAt
		return nil
	}); err != nil {
		return nil, fmt.Errorf("error reading index state: %w", err)
	}
	return out, nil
}

// ofRecordsSQL reads the rows of some records in some backends: one index scan of the primary
// key per record.
const ofRecordsSQL = `SELECT record_id, backend, state, version, COALESCE(indexed_version, 0), attempts,
	COALESCE(last_error, ''), indexed_at, updated_at FROM index_state WHERE record_id = ANY($1) AND backend = ANY($2)`

// OfRecords returns the rows of the records ids in backends, by record id and backend name. A
// record and backend its fan-out has not reached has no row.
func OfRecords(ctx context.Context, db DB, ids []uuid.UUID, backends []string) (map[uuid.UUID]map[string]Status, error) {
	rows, err := db.Query(ctx, ofRecordsSQL, ids, backends)
	if err != nil {
		return nil, fmt.Errorf("error reading index state: %w", err)
	}
	out := map[uuid.UUID]map[string]Status{}
	var (
		id uuid.UUID
		st Status
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &st.Backend, &st.State, &st.Version, &st.IndexedVersion, &st.Attempts,
		&st.LastError, &st.IndexedAt, &st.UpdatedAt}, func() error {
		if out[id] == nil {
			out[id] = map[string]Status{}
		}
		out[id][st.Backend] = st
		st = Status{} // the next row must not scan into this row's IndexedAt
		return nil
	}); err != nil {
		return nil, fmt.Errorf("error reading index state: %w", err)
	}
	return out, nil
}
