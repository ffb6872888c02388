// Package devpg runs a private PostgreSQL cluster for development and tests: it provisions
// PostgreSQL and pgvector when they are missing (provision.sh), initialises a data directory,
// starts the server on a loopback port with the memory settings measured in shared/postgres.md,
// and stops it again. As root it runs the server through `runuser -u postgres`, because
// PostgreSQL refuses to run as root.
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
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

//go:embed provision.sh
var provisionScript []byte

// Provision makes sure PostgreSQL 15+ and pgvector are installed, installing them (as root, from
// the configured Debian sources) when they are not, and returns the server's bin directory.
// Progress lines go to log.
func Provision(ctx context.Context, log io.Writer) (string, error) {
	return runProvision(ctx, provisionScript, log, "PostgreSQL + pgvector", "bin directory")
}

// runProvision runs a provisioning script with bash, its progress lines going to log, and
// returns the last word it printed on stdout: what it provisioned (what) is found there, such
// as a directory or a binary (printed).
func runProvision(ctx context.Context, script []byte, log io.Writer, what, printed string) (string, error) {
	cmd := exec.CommandContext(ctx, "bash", "-s")
	cmd.Stdin = bytes.NewReader(script)
	cmd.Stderr = log
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("provisioning %s failed (see the lines above): %w", what, err)
	}
	words := strings.Fields(string(out))
	if len(words) == 0 {
		return "", fmt.Errorf("provisioning %s printed no %s", what, printed)
	}
	return words[len(words)-1], nil
}

// Config describes a private cluster.
type Config struct {
	// BinDir is the PostgreSQL bin directory (initdb, pg_ctl). Required; see [Provision].
	BinDir string
	// Dir holds the cluster: data/, the socket directory run/ and the server log postgres.log.
	// Created when missing. Required.
	Dir string
	// Port is the TCP port on 127.0.0.1. Zero picks a free one.
	Port int
	// Settings are extra server settings (-c name=value), e.g. shared_buffers.
	Settings map[string]string
}

// Cluster is a running private cluster.
type Cluster struct {
	cfg     Config
	port    int
	started bool // this process stops the server: it started it, or adopted a leftover one
	// found says how Start found the server: "" when it started it, FoundLeftover or FoundShared.
	found string
	owner int // with FoundShared, the pid of the process that owns the server
}

// How [Start] found a server already running on the data directory ([Cluster.Found]).
const (
	// FoundLeftover: a server no live process owns, left by a run that did not stop it (killed,
	// or its terminal closed); Start adopts it, and Stop stops it.
	FoundLeftover = "leftover"
	// FoundShared: a server another live process started; Stop leaves it running.
	FoundShared = "shared"
)

// ownerFile names the file, in the cluster's directory, holding the pid of the process that
// started (or adopted) the server and will stop it.
const ownerFile = "owner.pid"

// Found says how Start found the server: "" when it started it, [FoundLeftover] or
// [FoundShared].
func (c *Cluster) Found() string { return c.found }

// Owner returns, for a [FoundShared] server, the pid of the process that owns it.
func (c *Cluster) Owner() int { return c.owner }

// liveOwner returns the pid in dir's owner file when that process is alive and is not this one.
func liveOwner(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || pid == os.Getpid() {
		return 0, false
	}
	// Signal 0 checks that the process exists without touching it.
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0, false
	}
	return pid, true
}

// own records this process as the one that stops the server.
func (c *Cluster) own() error {
	c.started = true
	return os.WriteFile(filepath.Join(c.cfg.Dir, ownerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600)
}

// Start initialises the cluster's data directory when it has none, starts the server unless it is
// already running there, and waits until it accepts connections.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.BinDir == "" || cfg.Dir == "" {
		return nil, errors.New("devpg: BinDir and Dir are required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	cfg.Dir = dir
	data := filepath.Join(dir, "data")
	for _, d := range []string{dir, filepath.Join(dir, "run")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("devpg: %w", err)
		}
	}
	if err := chownToPostgres(dir); err != nil {
		return nil, err
	}

	if _, err := os.Stat(filepath.Join(data, "PG_VERSION")); err != nil {
		out, err := run(ctx, cfg.BinDir, "initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-instructions")
		if err != nil {
			return nil, fmt.Errorf("devpg: initdb failed: %w\n%s", err, out)
		}
	}

	c := &Cluster{cfg: cfg}
	if port, ok := c.runningPort(ctx); ok {
		c.port = port
		if pid, ok := liveOwner(dir); ok {
			c.found, c.owner = FoundShared, pid
		} else {
			c.found = FoundLeftover
			if err := c.own(); err != nil {
				return nil, fmt.Errorf("devpg: %w", err)
			}
		}
		return c, c.waitReady(ctx)
	}
	c.port = cfg.Port
	if c.port == 0 {
		if c.port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	return c, c.waitReady(ctx)
}

// start starts the server of the data directory on c.port and records this process as its owner.
func (c *Cluster) start(ctx context.Context) error {
	dir, data := c.cfg.Dir, filepath.Join(c.cfg.Dir, "data")
	opts := []string{
		"-p", strconv.Itoa(c.port),
		"-k", filepath.Join(dir, "run"),
		"-c", "listen_addresses=127.0.0.1",
	}
	for k, v := range c.cfg.Settings {
		opts = append(opts, "-c", k+"="+v)
	}
	out, err := run(ctx, c.cfg.BinDir, "pg_ctl", "-D", data, "-l", filepath.Join(dir, "postgres.log"), "-w", "-t", "60",
		"-o", shellJoin(opts), "start")
	if err != nil {
		tail, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
		return fmt.Errorf("devpg: pg_ctl start failed: %w\n%s\n%s", err, out, lastLines(string(tail), 10))
	}
	if err := c.own(); err != nil {
		return fmt.Errorf("devpg: %w", err)
	}
	return nil
}

// Restart stops the server with a fast shutdown (every session is disconnected) and starts it
// again on the same port with the same settings, then waits until it accepts connections. Only
// the process that stops the server may restart it: a [FoundShared] server is an error.
func (c *Cluster) Restart(ctx context.Context) error {
	if !c.started {
		return fmt.Errorf("devpg: the server in %s belongs to another process (pid %d); it cannot be restarted from here", c.cfg.Dir, c.owner)
	}
	if err := StopDir(ctx, c.cfg.BinDir, c.cfg.Dir); err != nil {
		return err
	}
	c.started = false
	if err := c.start(ctx); err != nil {
		return err
	}
	return c.waitReady(ctx)
}

// Start starts the server again after [Cluster.Stop], on the same port with the same settings,
// and waits until it accepts connections; a running server is left as it is. A [FoundShared]
// server is an error, as for Restart.
func (c *Cluster) Start(ctx context.Context) error {
	switch {
	case c.found == FoundShared:
		return fmt.Errorf("devpg: the server in %s belongs to another process (pid %d); it cannot be started from here", c.cfg.Dir, c.owner)
	case c.started:
		return nil
	}
	if err := c.start(ctx); err != nil {
		return err
	}
	return c.waitReady(ctx)
}

// Port returns the cluster's TCP port.
func (c *Cluster) Port() int { return c.port }

// URL returns a connection URL for database db as user postgres.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// CreateDatabase creates database name unless it exists.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return fmt.Errorf("devpg: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("devpg: %w", err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("devpg: creating database %s: %w", name, err)
	}
	return nil
}

// Stop stops the server with a fast shutdown, unless another live process owns it
// ([FoundShared]).
func (c *Cluster) Stop(ctx context.Context) error {
	if !c.started {
		return nil
	}
	if err := StopDir(ctx, c.cfg.BinDir, c.cfg.Dir); err != nil {
		return err
	}
	c.started = false
	return nil
}

// StopDir stops the server running on the cluster directory dir (osa dev --stop), whoever
// started it; a directory with no running server is left as it is.
func StopDir(ctx context.Context, binDir, dir string) error {
	data := filepath.Join(dir, "data")
	if _, err := run(ctx, binDir, "pg_ctl", "-D", data, "status"); err == nil {
		if out, err := run(ctx, binDir, "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"); err != nil {
			return fmt.Errorf("devpg: pg_ctl stop failed: %w\n%s", err, out)
		}
	}
	if err := os.Remove(filepath.Join(dir, ownerFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("devpg: %w", err)
	}
	return nil
}

// Running reports whether a server runs on the cluster directory dir.
func Running(ctx context.Context, binDir, dir string) bool {
	_, err := run(ctx, binDir, "pg_ctl", "-D", filepath.Join(dir, "data"), "status")
	return err == nil
}

// runningPort reports the port of a server already running on the data directory.
func (c *Cluster) runningPort(ctx context.Context) (int, bool) {
	data := filepath.Join(c.cfg.Dir, "data")
	if _, err := run(ctx, c.cfg.BinDir, "pg_ctl", "-D", data, "status"); err != nil {
		return 0, false
	}
	// postmaster.pid's fourth line is the port.
	pid, err := os.ReadFile(filepath.Join(data, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	lines := strings.Split(string(pid), "\n")
	if len(lines) < 4 {
		return 0, false
	}
	port, err := strconv.Atoi(strings.TrimSpace(lines[3]))
	return port, err == nil
}

func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, c.URL("postgres"))
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("devpg: server on port %d not ready: %w", c.port, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("devpg: finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// run runs a PostgreSQL program, through runuser as the postgres user when we are root.
func run(ctx context.Context, binDir, prog string, args ...string) ([]byte, error) {
	name := filepath.Join(binDir, prog)
	if os.Geteuid() == 0 {
		args = append([]string{"-u", "postgres", "--", name}, args...)
		name = "runuser"
	}
	cmd := exec.CommandContext(ctx, name, args...)
	// pg_ctl's server inherits these; keep them off our terminal and out of our pipes.
	cmd.Stdin = nil
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// chownToPostgres gives dir to the postgres user when we are root (PostgreSQL refuses to run as root).
func chownToPostgres(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("devpg: running as root needs the postgres user (install the postgresql package): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// The postgres user must be able to reach dir: add search (x) permission for others on any
	// ancestor that lacks it, as a clone under a mktemp -d folder (mode 0700) would.
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(p, fi.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("devpg: the postgres user cannot reach %s: %w", dir, err)
			}
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// shellJoin quotes args for pg_ctl -o, which passes its value through a shell.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
