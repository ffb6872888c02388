package config

import (
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PoolConfig returns the configuration of a pool on url (database.url, or listen_url) with d's
// settings applied, but not its size.
//
// With d.TransactionPooler, queries run in pgx's cache_describe mode: each is parsed, bound and
// executed as the unnamed statement in one round trip, so no named prepared statement is left
// on a server connection that the pooler hands to another client. The parameter and result
// types of a query are cached on the client connection; after a schema change, a stale entry
// fails once and is dropped, as a cached prepared statement does in pgx's default mode. pgx's
// exec mode, which sends parameters untyped, is not used: it cannot send []byte as jsonb or an
// array of UUIDs, both of which OSA's queries pass.
func (d Database) PoolConfig(url string) (*pgxpool.Config, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, err
	}
	if d.TransactionPooler {
		pc.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	}
	return pc, nil
}
