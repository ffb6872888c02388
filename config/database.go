package config

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/internal/pguuid"
	"github.com/osa-archive/osa/replicas"
)

// Defaults and bounds of the read replicas (database.replica_urls).
const (
	ReplicaURLsMax              = 16
	MaxReplicaLagDefault        = replicas.MaxLagDefault
	MaxReplicaLagMin            = 100 * time.Millisecond
	MaxReplicaLagMax            = time.Hour
	ReplicaProbeIntervalDefault = replicas.ProbeIntervalDefault
	ReplicaProbeIntervalMin     = 50 * time.Millisecond
	ReplicaProbeIntervalMax     = time.Minute
)

// PoolConfig returns the configuration of a pool on url (database.url, or listen_url) with d's
// settings applied, but not its size. Its AfterConnect has pgx send uuid.UUID as its 16 bytes
// (internal/pguuid); a caller that sets its own AfterConnect calls this one first.
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
	pc.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		pguuid.Register(conn.TypeMap())
		return nil
	}
	return pc, nil
}

// validateReplicas checks database.replica_urls, max_replica_lag and replica_probe_interval.
func (d *Database) validateReplicas(p *problems) {
	if len(d.ReplicaURLs) > ReplicaURLsMax {
		p.add("database.replica_urls", "lists %d replicas, over the limit of %d", len(d.ReplicaURLs), ReplicaURLsMax)
	}
	for i, u := range d.ReplicaURLs {
		key := fmt.Sprintf("database.replica_urls[%d]", i)
		if _, err := pgconn.ParseConfig(u); err != nil {
			p.add(key, "not a valid Postgres connection string: %s", parseConfigProblem(err))
		}
		if j := slices.Index(d.ReplicaURLs, u); j < i {
			p.add(key, "is also database.replica_urls[%d]; list each replica once", j)
		}
	}
	lagOK := d.MaxReplicaLag >= MaxReplicaLagMin && d.MaxReplicaLag <= MaxReplicaLagMax
	if l := d.MaxReplicaLag; !lagOK {
		p.add("database.max_replica_lag", "%s is out of range (%s..%s)", formatDuration(l),
			formatDuration(MaxReplicaLagMin), formatDuration(MaxReplicaLagMax))
	}
	switch i := d.ReplicaProbeInterval; {
	case i < ReplicaProbeIntervalMin || i > ReplicaProbeIntervalMax:
		p.add("database.replica_probe_interval", "%s is out of range (%s..%s)", formatDuration(i),
			formatDuration(ReplicaProbeIntervalMin), formatDuration(ReplicaProbeIntervalMax))
	case lagOK && i > d.MaxReplicaLag:
		p.add("database.replica_probe_interval", "%s is longer than database.max_replica_lag (%s): a replica would be "+
			"measured less often than it may lag", formatDuration(i), formatDuration(d.MaxReplicaLag))
	}
}
