package devpg

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// StandbyConfig describes a streaming standby of a running cluster ([Cluster.StartStandby]).
type StandbyConfig struct {
	// Dir holds the standby as [Config.Dir] holds a cluster: data/, run/ and postgres.log. It
	// must not hold a data directory yet. Required.
	Dir string
	// Port is the standby's TCP port on 127.0.0.1. Zero picks a free one.
	Port int
	// Settings are server settings (-c name=value) over the primary's own: a hot standby
	// refuses to start with a max_connections (and a few others) below its primary's.
	Settings map[string]string
}

// StartStandby makes a streaming replica of c, as an operator would: pg_basebackup copies the
// running cluster over the replication protocol with -R, which writes standby.signal and the
// primary_conninfo that has the copy stream the primary's WAL, and the copy is started on its
// own port as a hot standby (read-only queries while it replays). It runs as the postgres user
// when we are root, like the rest of this package, and returns once the standby accepts
// connections. The primary needs wal_level replica or logical (PostgreSQL's default),
// max_wal_senders of at least one spare sender (default 10) and a pg_hba.conf line that lets
// 127.0.0.1 connect for replication (initdb writes one).
func (c *Cluster) StartStandby(ctx context.Context, cfg StandbyConfig) (*Cluster, error) {
	if cfg.Dir == "" {
		return nil, errors.New("devpg: StandbyConfig.Dir is required")
	}
	if err := c.checkReplication(ctx); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	if _, err := os.Stat(data); err == nil {
		return nil, fmt.Errorf("devpg: %s exists: a standby is made in an empty directory", data)
	}
	for _, d := range []string{dir, filepath.Join(dir, "run")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("devpg: %w", err)
		}
	}
	if err := chownToPostgres(dir); err != nil {
		return nil, err
	}
	// -X stream streams the WAL written during the copy too; -c fast starts it without waiting
	// for a checkpoint; -N skips the fsync of a throw-away copy.
	out, err := run(ctx, c.cfg.BinDir, "pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", "postgres",
		"-D", data, "-R", "-X", "stream", "-c", "fast", "-N")
	if err != nil {
		return nil, fmt.Errorf("devpg: pg_basebackup of the server on port %d failed: %w\n%s", c.port, err, out)
	}
	settings := maps.Clone(c.cfg.Settings)
	if settings == nil {
		settings = map[string]string{}
	}
	maps.Copy(settings, cfg.Settings)
	sb := &Cluster{cfg: Config{BinDir: c.cfg.BinDir, Dir: dir, Port: cfg.Port, Settings: settings}, port: cfg.Port}
	if sb.port == 0 {
		if sb.port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if err := sb.start(ctx); err != nil {
		return nil, err
	}
	return sb, sb.waitReady(ctx)
}

// checkReplication checks that c can feed a streaming standby, naming the setting to change
// when it cannot.
func (c *Cluster) checkReplication(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("devpg: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var level string
	var senders int
	if err := conn.QueryRow(ctx, "SELECT current_setting('wal_level'), current_setting('max_wal_senders')::int").Scan(&level, &senders); err != nil {
		return fmt.Errorf("devpg: %w", err)
	}
	switch {
	case level == "minimal":
		return errors.New("devpg: the primary runs with wal_level = minimal: a standby needs replica (the default) or logical")
	case senders < 1:
		return errors.New("devpg: the primary runs with max_wal_senders = 0: a standby needs a WAL sender (the default is 10)")
	}
	return nil
}
