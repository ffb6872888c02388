// Command withpg runs a command with a throw-away PostgreSQL + pgvector cluster: it provisions
// PostgreSQL and pgvector when they are missing, starts a private cluster in a temporary folder on
// a free loopback port, runs the command with OSA_TEST_DATABASE_URL pointing at the cluster's
// postgres database, then stops the cluster and removes the folder. `make test` runs
// `go run ./internal/cmd/withpg -- go test ./...`.
//
// The cluster trades durability for speed (fsync off): it is for tests only.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/osa-archive/osa/internal/devpg"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: withpg -- COMMAND [ARG...]")
		os.Exit(2)
	}
	code, err := run(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "withpg:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func run(args []string) (int, error) {
	ctx := context.Background()
	binDir, err := devpg.Provision(ctx, os.Stderr)
	if err != nil {
		return 1, err
	}
	dir, err := os.MkdirTemp("", "osa-test-pg-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(dir)
	cluster, err := devpg.Start(ctx, devpg.Config{
		BinDir: binDir,
		Dir:    dir,
		Settings: map[string]string{
			"shared_buffers":       envOr("OSA_TEST_PG_SHARED_BUFFERS", "1GB"),
			"maintenance_work_mem": "512MB",
			"work_mem":             "16MB",
			"max_connections":      "300",
			"fsync":                "off",
			"synchronous_commit":   "off",
			"full_page_writes":     "off",
		},
	})
	if err != nil {
		return 1, err
	}
	defer func() {
		if err := cluster.Stop(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "withpg:", err)
		}
	}()
	fmt.Fprintf(os.Stderr, "withpg: PostgreSQL test cluster on port %d\n", cluster.Port())

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "OSA_TEST_DATABASE_URL="+cluster.URL("postgres"))
	// The child gets the terminal's signals itself; withpg waits for it and then cleans up.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM)
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 1, err
	}
	return 0, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
