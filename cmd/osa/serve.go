package main

import (
	"github.com/spf13/cobra"
)

func newServeCmd(g *globalFlags) *cobra.Command {
	var role, addr, dbURL string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run one OSA process on an existing PostgreSQL",
		Long: `serve runs one process of an OSA deployment against the database at database.url.

Roles: "all" serves the API and runs the workers; "api" serves the API and inserts jobs but runs
no workers; "worker" runs the workers and serves only /healthz, /readyz and grpc.health.v1.
Any number of api and worker processes can share one database.`,
		Example: `  OSA_DATABASE__URL=postgres://osa@db/osa osa serve
  osa serve --role api --addr :8080 --database-url postgres://osa@db/osa
  osa serve --role worker --config /etc/osa/osa.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, logger, err := g.load(cmd.ErrOrStderr(), namedFlags(cmd, map[string]string{
				"role": "node.role", "addr": "http.addr", "database-url": "database.url",
			})...)
			if err != nil {
				return err
			}
			return runServer(cmd.Context(), cfg, logger, nil)
		},
	}
	cmd.Flags().StringVar(&role, "role", "", "process role: all, api or worker (node.role; default all)")
	cmd.Flags().StringVar(&addr, "addr", "", "listen address (http.addr; default :8080)")
	cmd.Flags().StringVar(&dbURL, "database-url", "", "PostgreSQL URL (database.url)")
	return cmd
}

// namedFlags turns the flags the user set into "key=value" config overrides; keys maps flag
// names to config keys. Flags left unset are not included, so they do not mask the file or env.
func namedFlags(cmd *cobra.Command, keys map[string]string) []string {
	var out []string
	for flag, key := range keys {
		if f := cmd.Flags().Lookup(flag); f != nil && f.Changed {
			out = append(out, key+"="+f.Value.String())
		}
	}
	return out
}
