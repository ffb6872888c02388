package records

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/events"
)

// Priorities of the jobs a change enqueues: River works priority 1 first.
const (
	// PriorityInteractive is for records a user publishes through the API.
	PriorityInteractive = 1
	// PriorityBulk is for harvests and other bulk loads, which must not delay interactive work.
	PriorityBulk = 3
)

// Defaults and bounds of the store.
const (
	MaxBatchDefault     = 1000
	PageSizeDefault     = 100
	PageSizeMax         = 1000
	DomainDefault       = "localhost"
	listPageTokenPrefix = "v1:"
)

// Record is one record at its current version (or, from [Store.Get] with a version, at that one).
type Record struct {
	ID        uuid.UUID
	Version   int
	Metadata  json.RawMessage
	Source    string
	SourceID  string
	CreatedAt time.Time
	UpdatedAt time.Time
	// DeletedAt is set on a tombstone.
	DeletedAt *time.Time
}

// Change is one committed change of a record that the backends must follow: a new version, a
// delete or an undelete. The store hands every change to its [EnqueueFunc] inside the
// transaction that made it.
type Change struct {
	RecordID uuid.UUID
	Version  int
}

// EnqueueFunc enqueues the fan-out of changes in tx, at priority. It runs in the transaction of
// the change, so a change and its jobs commit together or not at all.
type EnqueueFunc func(ctx context.Context, tx pgx.Tx, changes []Change, priority int) error

// PublishParams is one record to publish.
type PublishParams struct {
	// Metadata is the record's metadata, a JSON object (validated by [ValidateMetadata]).
	Metadata []byte
	// Source and SourceID, both set, make the publish an upsert by (Source, SourceID).
	Source   string
	SourceID string
}

// PublishResult is the outcome of publishing one record.
type PublishResult struct {
	Record Record
	// Unchanged is set when an upsert found identical metadata: no new version, no jobs.
	Unchanged bool
}

// StoreConfig configures a [Store].
type StoreConfig struct {
	// Domain is the SRN domain (node.domain). Defaults to "localhost".
	Domain string
	// Limits bound each record's metadata. Defaults to [DefaultLimits].
	Limits Limits
	// MaxBatch is the most records one Publish call takes (records.max_batch). Defaults to 1000.
	MaxBatch int
	// ReadPool, when set, returns the pool the reads (Get, List, IndexStatus, Versions) run on,
	// from their context: the replica the server pinned to the request (package replicas), or
	// the primary. Writes always run on the store's pool. Nil: the store's pool.
	ReadPool func(context.Context) *pgxpool.Pool
}

// Store reads and writes records. Every change writes its event to the changefeed (package
// events) and enqueues its fan-out in the same transaction.
type Store struct {
	cfg     StoreConfig
	enqueue EnqueueFunc
	pool    *pgxpool.Pool
}

// WithDefaults returns c with every zero setting replaced by its default.
func (c StoreConfig) WithDefaults() StoreConfig {
	if c.Domain == "" {
		c.Domain = DomainDefault
	}
	if c.Limits == (Limits{}) {
		c.Limits = DefaultLimits()
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = MaxBatchDefault
	}
	return c
}

// NewStore returns a store on pool that hands every change to enqueue; cfg gets its defaults.
func NewStore(pool *pgxpool.Pool, enqueue EnqueueFunc, cfg StoreConfig) *Store {
	return &Store{cfg: cfg.WithDefaults(), enqueue: enqueue, pool: pool}
}

// readPool returns the pool a read of ctx runs on (StoreConfig.ReadPool).
func (s *Store) readPool(ctx context.Context) *pgxpool.Pool {
	if s.cfg.ReadPool != nil {
		return s.cfg.ReadPool(ctx)
	}
	return s.pool
}

// Config returns the store's configuration, with its defaults.
func (s *Store) Config() StoreConfig { return s.cfg }

// Domain returns the SRN domain of the store's records.
func (s *Store) Domain() string { return s.cfg.Domain }

// SRN returns the SRN of r at its version.
func (s *Store) SRN(r Record) SRN { return SRN{Domain: s.cfg.Domain, ID: r.ID, Version: r.Version} }

// Publish validates params and publishes them in one transaction, all or nothing; field names
// in errors are "records[i].…", however many records there are. Results are in the order of
// params.
func (s *Store) Publish(ctx context.Context, params []PublishParams, priority int) ([]PublishResult, error) {
	if err := s.validate(params, indexedField); err != nil {
		return nil, err
	}
	return s.publish(ctx, params, priority)
}

// PublishOne is [Publish] of one record, whose field names in errors are the record's own
// ("metadata", "source_id"), as a call about one record names them.
func (s *Store) PublishOne(ctx context.Context, p PublishParams, priority int) (PublishResult, error) {
	params := []PublishParams{p}
	if err := s.validate(params, func(_ int, name string) string { return name }); err != nil {
		return PublishResult{}, err
	}
	res, err := s.publish(ctx, params, priority)
	if err != nil {
		return PublishResult{}, err
	}
	return res[0], nil
}

// indexedField names field name of record i of a batch: "records[i].name".
func indexedField(i int, name string) string { return fmt.Sprintf("records[%d].%s", i, name) }

// publish publishes validated params in one transaction.
func (s *Store) publish(ctx context.Context, params []PublishParams, priority int) ([]PublishResult, error) {
	var results []PublishResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		results, err = s.publishTx(ctx, tx, params, priority)
		return err
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// PublishTx is [Publish] inside the caller's transaction (a harvest chunk publishes and enqueues
// its next chunk in one transaction).
func (s *Store) PublishTx(ctx context.Context, tx pgx.Tx, params []PublishParams, priority int) ([]PublishResult, error) {
	if err := s.validate(params, indexedField); err != nil {
		return nil, err
	}
	return s.publishTx(ctx, tx, params, priority)
}

// validate checks params, naming field name of record i as field(i, name) in its errors.
func (s *Store) validate(params []PublishParams, field func(i int, name string) string) error {
	switch {
	case len(params) == 0:
		return domainerr.Invalid("records", "must not be empty")
	case len(params) > s.cfg.MaxBatch:
		return domainerr.Invalid("records", "%d records is over the limit of %d per call (records.max_batch)", len(params), s.cfg.MaxBatch)
	}
	for i, p := range params {
		if (p.Source == "") != (p.SourceID == "") {
			return domainerr.Invalid(field(i, "source_id"), "source and source_id must be set together")
		}
		if err := ValidateSource(field(i, "source"), p.Source); err != nil {
			return err
		}
		if err := checkText(field(i, "source_id"), p.SourceID, 500); err != nil {
			return err
		}
		m, err := ValidateMetadata(field(i, "metadata"), p.Metadata, s.cfg.Limits)
		if err != nil {
			return err
		}
		// Store the canonical form: the same document always has the same bytes.
		if params[i].Metadata, err = CanonicalJSON(m); err != nil {
			return err
		}
	}
	return nil
}

// publishSQL inserts a record, or — for an existing (source, source_id) — makes a new version
// when the metadata differs or the record was deleted. Nothing is returned by the upsert when the
// stored record is identical; the second branch then reports the current row as unchanged.
const publishSQL = `
WITH up AS (
    INSERT INTO records AS cur (id, version, metadata, source, source_id)
    VALUES ($1, 1, $2, NULLIF($3, ''), NULLIF($4, ''))
    ON CONFLICT (source, source_id) DO UPDATE
        SET version = cur.version + 1, metadata = EXCLUDED.metadata, updated_at = now(), deleted_at = NULL
        WHERE cur.metadata IS DISTINCT FROM EXCLUDED.metadata OR cur.deleted_at IS NOT NULL
    RETURNING cur.id, cur.version, cur.metadata, cur.created_at, cur.updated_at
), ver AS (
    INSERT INTO record_versions (record_id, version, metadata) SELECT id, version, metadata FROM up
)
SELECT id, version, metadata, created_at, updated_at, false FROM up
UNION ALL
SELECT id, version, metadata, created_at, updated_at, true FROM records
WHERE source = NULLIF($3, '') AND source_id = NULLIF($4, '') AND NOT EXISTS (SELECT 1 FROM up)`

// lockSourceSQL locks the record of a (source, source_id) before its upsert and says whether
// it is deleted, so the upsert's event can tell a restore from a new version (RETURNING shows
// only the row after the update). Locked first, the row cannot change in between.
const lockSourceSQL = `SELECT deleted_at IS NOT NULL FROM records WHERE source = $1 AND source_id = $2 FOR UPDATE`

// publishManySQL is publishSQL for every record of a call at once: one statement, whose rows
// are the records in the order of the call. A record's key, to find its upsert's row, is its
// source and source_id joined by a control character neither can hold, or else its new id.
// It needs the (source, source_id) pairs of a call to be distinct, as one statement cannot
// upsert a row twice; the records of a source were locked first (lockSourcesSQL).
const publishManySQL = `
WITH input AS (
    SELECT u.ord, u.id, u.metadata, NULLIF(u.source, '') AS source, NULLIF(u.source_id, '') AS source_id,
           COALESCE(NULLIF(u.source, '') || E'\x1f' || NULLIF(u.source_id, ''), u.id::text) AS key
    FROM unnest($1::uuid[], $2::jsonb[], $3::text[], $4::text[]) WITH ORDINALITY AS u (id, metadata, source, source_id, ord)
), up AS (
    INSERT INTO records AS cur (id, version, metadata, source, source_id)
    SELECT id, 1, metadata, source, source_id FROM input ORDER BY ord
    ON CONFLICT (source, source_id) DO UPDATE
        SET version = cur.version + 1, metadata = EXCLUDED.metadata, updated_at = now(), deleted_at = NULL
        WHERE cur.metadata IS DISTINCT FROM EXCLUDED.metadata OR cur.deleted_at IS NOT NULL
    RETURNING cur.id, cur.version, cur.metadata, cur.created_at, cur.updated_at,
              COALESCE(cur.source || E'\x1f' || cur.source_id, cur.id::text) AS key
), ver AS (
    INSERT INTO record_versions (record_id, version, metadata) SELECT id, version, metadata FROM up
)
SELECT COALESCE(up.id, r.id), COALESCE(up.version, r.version), COALESCE(up.metadata, r.metadata),
       COALESCE(up.created_at, r.created_at), COALESCE(up.updated_at, r.updated_at), up.id IS NULL
FROM input i
LEFT JOIN up USING (key)
LEFT JOIN records r ON up.id IS NULL AND r.source = i.source AND r.source_id = i.source_id
ORDER BY i.ord`

// lockSourcesSQL is lockSourceSQL for every record of a call that has a source, in id order.
const lockSourcesSQL = `
SELECT r.source, r.source_id, r.deleted_at IS NOT NULL FROM records r
WHERE (r.source, r.source_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
ORDER BY r.id FOR UPDATE`

func (s *Store) publishTx(ctx context.Context, tx pgx.Tx, params []PublishParams, priority int) ([]PublishResult, error) {
	var (
		results []PublishResult
		deleted []bool // of each record, whether its publish restores a deleted record
		err     error
	)
	if distinctSources(params) {
		results, deleted, err = s.publishMany(ctx, tx, params)
	} else {
		results, deleted, err = s.publishEach(ctx, tx, params)
	}
	if err != nil {
		return nil, err
	}
	var (
		changes []Change
		evs     []events.Change
	)
	for i, r := range results {
		if r.Unchanged {
			continue
		}
		changes = append(changes, Change{RecordID: r.Record.ID, Version: r.Record.Version})
		typ := events.TypePublished
		if deleted[i] {
			typ = events.TypeRestored
		}
		evs = append(evs, events.Change{Type: typ, RecordID: r.Record.ID, Version: r.Record.Version, Source: r.Record.Source,
			SourceID: r.Record.SourceID})
	}
	if len(changes) > 0 {
		if err := events.InsertTx(ctx, tx, evs); err != nil {
			return nil, err
		}
		if err := s.enqueue(ctx, tx, changes, priority); err != nil {
			return nil, fmt.Errorf("error enqueuing the fan-out: %w", err)
		}
	}
	return results, nil
}

// distinctSources says whether no two of params share a (source, source_id): then the call can
// be published by one statement ([Store.publishMany]).
func distinctSources(params []PublishParams) bool {
	seen := make(map[[2]string]bool, len(params))
	for _, p := range params {
		if p.Source == "" {
			continue
		}
		k := [2]string{p.Source, p.SourceID}
		if seen[k] {
			return false
		}
		seen[k] = true
	}
	return true
}

// publishMany publishes params, whose sources are distinct, in one round trip of two
// statements: the lock of the records of a source, then one upsert of every record.
func (s *Store) publishMany(ctx context.Context, tx pgx.Tx, params []PublishParams) ([]PublishResult, []bool, error) {
	n := len(params)
	ids, metas := make([]uuid.UUID, n), make([][]byte, n)
	srcs, srcIDs := make([]string, n), make([]string, n)
	var lockSrcs, lockIDs []string
	for i, p := range params {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, nil, err
		}
		ids[i], metas[i], srcs[i], srcIDs[i] = id, p.Metadata, p.Source, p.SourceID
		if p.Source != "" {
			lockSrcs, lockIDs = append(lockSrcs, p.Source), append(lockIDs, p.SourceID)
		}
	}
	batch := &pgx.Batch{}
	if len(lockSrcs) > 0 {
		batch.Queue(lockSourcesSQL, lockSrcs, lockIDs)
	}
	batch.Queue(publishManySQL, ids, metas, srcs, srcIDs)
	br := tx.SendBatch(ctx, batch)
	defer br.Close()
	wasDeleted := map[[2]string]bool{}
	if len(lockSrcs) > 0 {
		rows, err := br.Query()
		if err != nil {
			return nil, nil, fmt.Errorf("error publishing records: %w", err)
		}
		var (
			k   [2]string
			del bool
		)
		if _, err := pgx.ForEachRow(rows, []any{&k[0], &k[1], &del}, func() error {
			wasDeleted[k] = del
			return nil
		}); err != nil {
			return nil, nil, fmt.Errorf("error publishing records: %w", err)
		}
	}
	rows, err := br.Query()
	if err != nil {
		return nil, nil, fmt.Errorf("error publishing records: %w", err)
	}
	results, deleted := make([]PublishResult, 0, n), make([]bool, 0, n)
	for rows.Next() {
		i := len(results)
		if i == n {
			rows.Close()
			return nil, nil, fmt.Errorf("error publishing records: more results than the %d records", n)
		}
		var (
			r  PublishResult
			id *uuid.UUID // NULL when the record another transaction committed meanwhile is not visible yet
		)
		if err := rows.Scan(&id, &r.Record.Version, &r.Record.Metadata, &r.Record.CreatedAt, &r.Record.UpdatedAt, &r.Unchanged); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("error publishing record %d: %w", i, err)
		}
		if id == nil {
			rows.Close()
			return nil, nil, fmt.Errorf("error publishing record %d: %w", i, pgx.ErrNoRows)
		}
		r.Record.ID, r.Record.Source, r.Record.SourceID = *id, params[i].Source, params[i].SourceID
		results = append(results, r)
		deleted = append(deleted, wasDeleted[[2]string{params[i].Source, params[i].SourceID}])
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("error publishing records: %w", err)
	}
	if len(results) != n {
		return nil, nil, fmt.Errorf("error publishing records: %d results for %d records", len(results), n)
	}
	return results, deleted, nil
}

// publishEach publishes params one statement each (in one round trip): a call that names a
// (source, source_id) twice, whose second publish must see the first.
func (s *Store) publishEach(ctx context.Context, tx pgx.Tx, params []PublishParams) ([]PublishResult, []bool, error) {
	batch := &pgx.Batch{}
	for _, p := range params {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, nil, err
		}
		if p.Source != "" {
			batch.Queue(lockSourceSQL, p.Source, p.SourceID)
		}
		batch.Queue(publishSQL, id, p.Metadata, p.Source, p.SourceID)
	}
	br := tx.SendBatch(ctx, batch)
	results := make([]PublishResult, len(params))
	deleted := make([]bool, len(params))
	for i, p := range params {
		r := &results[i]
		if p.Source != "" {
			if err := br.QueryRow().Scan(&deleted[i]); err != nil && !errors.Is(err, pgx.ErrNoRows) {
				br.Close()
				return nil, nil, fmt.Errorf("error publishing record %d: %w", i, err)
			}
		}
		err := br.QueryRow().Scan(&r.Record.ID, &r.Record.Version, &r.Record.Metadata, &r.Record.CreatedAt,
			&r.Record.UpdatedAt, &r.Unchanged)
		if err != nil {
			br.Close()
			return nil, nil, fmt.Errorf("error publishing record %d: %w", i, err)
		}
		r.Record.Source, r.Record.SourceID = p.Source, p.SourceID
	}
	if err := br.Close(); err != nil {
		return nil, nil, fmt.Errorf("error publishing records: %w", err)
	}
	return results, deleted, nil
}

const recordColumns = `id, version, metadata, COALESCE(source, ''), COALESCE(source_id, ''), created_at, updated_at, deleted_at`

func scanRecord(row pgx.Row) (Record, error) {
	var r Record
	err := row.Scan(&r.ID, &r.Version, &r.Metadata, &r.Source, &r.SourceID, &r.CreatedAt, &r.UpdatedAt, &r.DeletedAt)
	return r, err
}

// Get returns the record srn names: its current version when srn has none, else that version
// (deleted_at reflects the record now). A record of another domain, or absent, is [ErrNotFound].
func (s *Store) Get(ctx context.Context, srn SRN) (Record, error) {
	if srn.Domain != s.cfg.Domain {
		return Record{}, otherDomain(srn, s.cfg.Domain)
	}
	r, err := scanRecord(s.readPool(ctx).QueryRow(ctx, `SELECT `+recordColumns+` FROM records WHERE id = $1`, srn.ID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Record{}, ErrNotFound
	}
	if err != nil {
		return r, err
	}
	// A delete moves records.updated_at (the pipeline's change time); UpdatedAt is when the
	// version was published, which record_versions keeps.
	if (srn.Version == 0 || srn.Version == r.Version) && r.DeletedAt == nil {
		return r, nil
	}
	if srn.Version == 0 {
		srn.Version = r.Version
	}
	err = s.readPool(ctx).QueryRow(ctx, `SELECT version, metadata, created_at FROM record_versions WHERE record_id = $1 AND version = $2`,
		srn.ID, srn.Version).Scan(&r.Version, &r.Metadata, &r.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Record{}, ErrNotFound
	}
	return r, err
}

// ListParams selects a page of [Store.List].
type ListParams struct {
	// PageSize is the most records returned. Defaults to 100; at most 1000.
	PageSize int
	// PageToken continues a listing: the NextPageToken of the previous page.
	PageToken string
	// Source, when set, lists only records of that source.
	Source string
	// Where, when not nil, lists only records meeting it (a parsed filter expression).
	Where Condition
}

// List returns live records in id order (UUIDv7: publication order) and the token of the next
// page, "" on the last.
func (s *Store) List(ctx context.Context, p ListParams) ([]Record, string, error) {
	switch {
	case p.PageSize < 0 || p.PageSize > PageSizeMax:
		return nil, "", domainerr.Invalid("page_size", "must be between 0 and %d, got %d", PageSizeMax, p.PageSize)
	case p.PageSize == 0:
		p.PageSize = PageSizeDefault
	}
	after := uuid.Nil
	if p.PageToken != "" {
		var err error
		if after, err = decodePageToken(p.PageToken); err != nil {
			return nil, "", err
		}
	}
	cond, args := "true", []any{after, p.Source, p.PageSize + 1}
	if p.Where != nil {
		var whereArgs []any
		cond, whereArgs = p.Where.SQL("r", len(args)+1)
		args = append(args, whereArgs...)
	}
	rows, err := s.readPool(ctx).Query(ctx, `SELECT `+recordColumns+` FROM records r
		WHERE deleted_at IS NULL AND id > $1 AND ($2 = '' OR source = $2) AND `+cond+`
		ORDER BY id LIMIT $3`, args...)
	if err != nil {
		return nil, "", err
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Record, error) { return scanRecord(row) })
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(out) > p.PageSize {
		out = out[:p.PageSize]
		next = encodePageToken(out[len(out)-1].ID)
	}
	return out, next, nil
}

func encodePageToken(id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(listPageTokenPrefix + id.String()))
}

func decodePageToken(tok string) (uuid.UUID, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil && len(b) > len(listPageTokenPrefix) && string(b[:len(listPageTokenPrefix)]) == listPageTokenPrefix {
		if id, err := uuid.Parse(string(b[len(listPageTokenPrefix):])); err == nil {
			return id, nil
		}
	}
	return uuid.Nil, domainerr.Invalid("page_token", "is not a token this server returned")
}

// Delete marks the record srn names as deleted and enqueues the delete to every backend. The
// version in srn, if any, is ignored: a delete removes the record. Deleting a deleted record is
// a no-op; an unknown record is [ErrNotFound].
func (s *Store) Delete(ctx context.Context, srn SRN) error {
	if srn.Domain != s.cfg.Domain {
		return otherDomain(srn, s.cfg.Domain)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			version          int
			already          bool
			source, sourceID string
		)
		err := tx.QueryRow(ctx, `
			WITH old AS (SELECT id, deleted_at IS NOT NULL AS deleted FROM records WHERE id = $1 FOR UPDATE)
			UPDATE records r SET deleted_at = COALESCE(r.deleted_at, now()), updated_at = CASE WHEN old.deleted THEN r.updated_at ELSE now() END
			FROM old WHERE r.id = old.id
			RETURNING r.version, old.deleted, COALESCE(r.source, ''), COALESCE(r.source_id, '')`, srn.ID).Scan(&version, &already, &source, &sourceID)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil || already {
			return err
		}
		err = events.InsertTx(ctx, tx, []events.Change{{Type: events.TypeDeleted, RecordID: srn.ID, Version: version, Source: source, SourceID: sourceID}})
		if err != nil {
			return err
		}
		return s.enqueue(ctx, tx, []Change{{RecordID: srn.ID, Version: version}}, PriorityInteractive)
	})
}

// Current is the state of a record as the indexers see it.
type Current struct {
	ID       uuid.UUID
	Version  int
	Metadata json.RawMessage
	Deleted  bool
}

// LoadCurrent returns the current state of the records ids names, in one query, keyed by id.
// Records that do not exist are absent from the map.
func LoadCurrent(ctx context.Context, q Querier, ids []uuid.UUID) (map[uuid.UUID]Current, error) {
	rows, err := q.Query(ctx, `SELECT id, version, metadata, deleted_at IS NOT NULL FROM records WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]Current, len(ids))
	var c Current
	_, err = pgx.ForEachRow(rows, []any{&c.ID, &c.Version, &c.Metadata, &c.Deleted}, func() error {
		out[c.ID] = c
		c.Metadata = nil // the next row must not scan into this row's buffer
		return nil
	})
	return out, err
}

// Querier is what [LoadCurrent] needs: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// checkText validates an identifier-like field: valid UTF-8, no control characters, at most max bytes.
func checkText(field, v string, max int) error {
	switch {
	case len(v) > max:
		return domainerr.Invalid(field, "is %d bytes, over the limit of %d", len(v), max)
	case !utf8.ValidString(v):
		return domainerr.Invalid(field, "is not valid UTF-8")
	case strings.ContainsFunc(v, unicode.IsControl):
		return domainerr.Invalid(field, "must not contain control characters")
	}
	return nil
}
