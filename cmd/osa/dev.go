package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/osa-archive/osa/internal/devpg"
)

// devDatabase is the database osa dev creates in its private cluster.
const devDatabase = "osa"

func newDevCmd(g *globalFlags) *cobra.Command {
	var (
		addr string
		stop bool
	)
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run everything locally on a private PostgreSQL (what `make run` does)",
		Long: `dev runs a complete OSA on this machine with no set-up: it installs PostgreSQL and pgvector
when they are missing (as root, from Debian's packages; it builds pgvector from Debian's source
package when no binary package exists), starts a private cluster under dev.data_dir (default .osa/)
on dev.port, migrates it, and runs the server with every role on http.addr. Ctrl-C (SIGINT),
SIGTERM and SIGHUP stop the server, then the cluster, whatever happened to the output (a closed
pipe, as with make run | tee log, does not stop it early).

A cluster left running in dev.data_dir by an earlier run that did not stop it (killed, say) is
reported, adopted and stopped on exit; one that another running osa dev owns is used and left to
it. osa dev --stop stops the cluster of dev.data_dir, whoever started it, and exits.

With database.url set, dev uses that database instead and starts no cluster.`,
		Example: `  osa dev
  osa dev --addr :9090
  osa dev --stop                   # stop a cluster left running in .osa/
  OSA_DEV__PORT=0 osa dev          # private cluster on any free port`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, logger, err := g.load(cmd.ErrOrStderr(), namedFlags(cmd, map[string]string{"addr": "http.addr"})...)
			if err != nil {
				return err
			}
			if stop {
				return stopDevCluster(ctx, cmd.ErrOrStderr(), cfg.Dev.DataDir)
			}
			if cfg.Database.URL == "" {
				cluster, err := startDevCluster(ctx, cmd.ErrOrStderr(), cfg.Dev.DataDir, cfg.Dev.Port, map[string]string{
					"shared_buffers":       cfg.Dev.SharedBuffers,
					"maintenance_work_mem": cfg.Dev.MaintenanceWorkMem,
					"work_mem":             cfg.Dev.WorkMem,
				})
				if err != nil {
					return err
				}
				defer func() {
					if cluster.Found() == devpg.FoundShared {
						fmt.Fprintf(cmd.ErrOrStderr(), "osa dev: leaving PostgreSQL running for its owner (pid %d)\n", cluster.Owner())
						return
					}
					fmt.Fprintln(cmd.ErrOrStderr(), "osa dev: stopping PostgreSQL")
					if err := cluster.Stop(context.WithoutCancel(ctx)); err != nil {
						fmt.Fprintln(cmd.ErrOrStderr(), "osa dev:", err)
					}
				}()
				cfg.Database.URL = cluster.URL(devDatabase)
			}
			return runServer(ctx, cfg, logger, func(a net.Addr) {
				base := "http://" + browsable(a)
				fmt.Fprintf(cmd.ErrOrStderr(), `
OSA is running.
  API (Connect, gRPC, gRPC-Web)  %[1]s
  River UI                       %[1]s/riverui/
  Health                         %[1]s/healthz  %[1]s/readyz
  PostgreSQL                     %[2]s
Try: curl %[1]s/readyz
Press Ctrl-C to stop.

`, base, cfg.Redacted().Database.URL)
			})
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "", "listen address (http.addr; default :8080)")
	cmd.Flags().BoolVar(&stop, "stop", false, "stop the cluster running in dev.data_dir and exit")
	return cmd
}

// stopDevCluster stops the cluster of dir, if one runs there.
func stopDevCluster(ctx context.Context, w io.Writer, dir string) error {
	binDir, err := devpg.Provision(ctx, w)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if !devpg.Running(ctx, binDir, abs) {
		fmt.Fprintf(w, "osa dev: no PostgreSQL runs in %s\n", abs)
		return nil
	}
	fmt.Fprintf(w, "osa dev: stopping PostgreSQL in %s\n", abs)
	return devpg.StopDir(ctx, binDir, abs)
}

// startDevCluster provisions PostgreSQL + pgvector if needed and starts the private cluster.
func startDevCluster(ctx context.Context, w io.Writer, dir string, port int, settings map[string]string) (*devpg.Cluster, error) {
	fmt.Fprintln(w, "osa dev: checking PostgreSQL + pgvector")
	binDir, err := devpg.Provision(ctx, w)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(w, "osa dev: starting PostgreSQL in %s\n", abs)
	cluster, err := devpg.Start(ctx, devpg.Config{BinDir: binDir, Dir: abs, Port: port, Settings: settings})
	if err != nil {
		return nil, fmt.Errorf("dev.data_dir %s: %w", dir, err)
	}
	switch cluster.Found() {
	case devpg.FoundLeftover:
		fmt.Fprintf(w, "osa dev: PostgreSQL was already running in %s on port %d, left by an earlier run that did not "+
			"stop it; adopting it (it is stopped on exit)\n", abs, cluster.Port())
	case devpg.FoundShared:
		fmt.Fprintf(w, "osa dev: PostgreSQL in %s belongs to another running osa dev (pid %d); using it and leaving it "+
			"running on exit\n", abs, cluster.Owner())
	}
	if err := cluster.CreateDatabase(ctx, devDatabase); err != nil {
		_ = cluster.Stop(ctx)
		return nil, err
	}
	return cluster, nil
}

// browsable turns a listen address such as [::]:8080 into one a browser can open.
func browsable(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
