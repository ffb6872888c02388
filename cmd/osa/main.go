// Command osa is the Open Science Archive server and its command line: `osa dev` runs everything
// on a private PostgreSQL, `osa serve` runs one process of a deployment, `osa migrate` manages the
// schema, and `osa config print` shows the effective configuration.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	// A write to a closed pipe (`osa dev | tee log`, whose tee a Ctrl-C also kills) fails with
	// EPIPE instead of killing the process, so that it still stops what it started.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "osa:", err)
		os.Exit(1)
	}
}

// globalFlags are the config flags every server command takes.
type globalFlags struct {
	configFile string
	set        []string
}

func newRootCmd() *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "osa",
		Short: "Open Science Archive: records in, search out, every index kept in sync",
		Long: `osa runs the Open Science Archive server and talks to it.

Configuration comes from built-in defaults, then a YAML file (--config or OSA_CONFIG_FILE),
then OSA_* environment variables (OSA_HTTP__ADDR=:9090 sets http.addr), then flags
(--set http.addr=:9090). See config/osa.example.yaml for every key.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.configFile, "config", "", "YAML config file (default $OSA_CONFIG_FILE)")
	root.PersistentFlags().StringArrayVar(&g.set, "set", nil, "override a config key, e.g. --set http.addr=:9090 (repeatable)")
	root.AddCommand(
		newBenchCmd(g),
		newConfigCmd(g),
		newDevCmd(g),
		newEventsCmd(),
		newExportCmd(),
		newGetCmd(),
		newHarvestCmd(),
		newHealthcheckCmd(),
		newImportCmd(),
		newMigrateCmd(g),
		newPublishCmd(),
		newReindexCmd(),
		newBackendsCmd(),
		newSearchCmd(),
		newSimilarCmd(),
		newServeCmd(g),
		newStatusCmd(),
		newTokenCmd(),
	)
	return root
}
