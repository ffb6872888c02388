package devpg

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

//go:embed provision_pgbouncer.sh
var provisionPgBouncerScript []byte

// ProvisionPgBouncer makes sure PgBouncer is installed, installing Debian's package (as root)
// when it is not, and returns the path of its binary. Progress lines go to log.
func ProvisionPgBouncer(ctx context.Context, log io.Writer) (string, error) {
	return runProvision(ctx, provisionPgBouncerScript, log, "PgBouncer", "path")
}

// PgBouncerConfig describes a PgBouncer in front of a PostgreSQL server.
type PgBouncerConfig struct {
	// Bin is the pgbouncer binary. Required; see [ProvisionPgBouncer].
	Bin string
	// Dir holds its pgbouncer.ini and pgbouncer.log. Created when missing. Required.
	Dir string
	// Port is the TCP port on 127.0.0.1 it listens on. Zero picks a free one.
	Port int
	// ServerPort is the port of the PostgreSQL server on 127.0.0.1, where every database name
	// is passed through to. Required.
	ServerPort int
	// ServerUser is the role it connects to the server as, whatever the client's. Defaults to
	// postgres.
	ServerUser string
	// PoolMode is pool_mode: "session", "transaction" or "statement". Defaults to transaction.
	PoolMode string
	// PoolSize is default_pool_size, the server connections of a database and user. Defaults
	// to 20.
	PoolSize int
}

// PgBouncer is a running PgBouncer.
type PgBouncer struct {
	cfg  PgBouncerConfig
	cmd  *exec.Cmd
	done chan struct{}
}

// StartPgBouncer starts PgBouncer in the foreground, as the postgres user when we are root
// (PgBouncer refuses to run as root), and waits until it accepts connections. Clients may give
// any password: authentication is left to the server.
func StartPgBouncer(ctx context.Context, cfg PgBouncerConfig) (*PgBouncer, error) {
	if cfg.Bin == "" || cfg.Dir == "" || cfg.ServerPort == 0 {
		return nil, errors.New("devpg: PgBouncerConfig needs Bin, Dir and ServerPort")
	}
	if cfg.ServerUser == "" {
		cfg.ServerUser = "postgres"
	}
	if cfg.PoolMode == "" {
		cfg.PoolMode = "transaction"
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = 20
	}
	if cfg.Port == 0 {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		cfg.Port = port
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("devpg: %w", err)
	}
	ini := filepath.Join(cfg.Dir, "pgbouncer.ini")
	if err := os.WriteFile(ini, []byte(pgbouncerINI(cfg)), 0o644); err != nil {
		return nil, fmt.Errorf("devpg: %w", err)
	}
	if err := chownToPostgres(cfg.Dir); err != nil {
		return nil, err
	}
	name, args := cfg.Bin, []string{ini}
	if os.Geteuid() == 0 {
		name, args = "runuser", append([]string{"-u", "postgres", "--", cfg.Bin}, args...)
	}
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the test
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("devpg: starting pgbouncer: %w", err)
	}
	b := &PgBouncer{cfg: cfg, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(b.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.addr(), time.Second)
		if err == nil {
			c.Close()
			return b, nil
		}
		select {
		case <-b.done:
			return nil, fmt.Errorf("devpg: pgbouncer exited at start: %s%s", out.String(), b.LogTail(20))
		case <-ctx.Done():
			_ = b.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = b.Stop()
			return nil, fmt.Errorf("devpg: pgbouncer not accepting connections on %s after 10s: %s", b.addr(), b.LogTail(20))
		}
	}
}

// pgbouncerINI is the configuration of cfg: every database passed through to the server, as
// cfg.ServerUser, and the log in cfg.Dir.
func pgbouncerINI(cfg PgBouncerConfig) string {
	return fmt.Sprintf(`; written by internal/devpg
[databases]
* = host=127.0.0.1 port=%d user=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = any
pool_mode = %s
default_pool_size = %d
max_client_conn = 2000
logfile = %s
log_connections = 0
log_disconnections = 0
`, cfg.ServerPort, cfg.ServerUser, cfg.Port, cfg.PoolMode, cfg.PoolSize, filepath.Join(cfg.Dir, "pgbouncer.log"))
}

func (b *PgBouncer) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.cfg.Port)) }

// Port returns the port PgBouncer listens on.
func (b *PgBouncer) Port() int { return b.cfg.Port }

// URL returns the URL of database db through PgBouncer.
func (b *PgBouncer) URL(db string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", b.cfg.ServerUser, b.addr(), db)
}

// LogTail returns the last n lines of PgBouncer's log.
func (b *PgBouncer) LogTail(n int) string {
	data, err := os.ReadFile(filepath.Join(b.cfg.Dir, "pgbouncer.log"))
	if err != nil {
		return ""
	}
	return lastLines(string(data), n)
}

// Stop stops PgBouncer at once (SIGTERM: its clients' connections are closed) and waits for it.
func (b *PgBouncer) Stop() error {
	select {
	case <-b.done:
		return nil
	default:
	}
	// runuser passes SIGTERM on to pgbouncer.
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("devpg: stopping pgbouncer: %w", err)
	}
	select {
	case <-b.done:
		return nil
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
		return errors.New("devpg: pgbouncer did not stop within 10s of SIGTERM; killed")
	}
}
