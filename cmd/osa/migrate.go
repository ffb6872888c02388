package main

import (
	"errors"
	"fmt"
	"log/slog"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/osa-archive/osa/migrations"
)

func newMigrateCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply or inspect the database schema (OSA's and River's)",
		Long: `migrate applies OSA's and River's migrations to the database at database.url. Any number
of processes may migrate at once: they take one advisory lock. osa serve and osa dev migrate at
start unless database.auto_migrate is false.`,
	}
	cmd.PersistentFlags().String("database-url", "", "PostgreSQL URL (database.url)")

	open := func(c *cobra.Command) (*pgxpool.Pool, *slog.Logger, error) {
		cfg, logger, err := g.load(c.ErrOrStderr(), namedFlags(c, map[string]string{"database-url": "database.url"})...)
		if err != nil {
			return nil, nil, err
		}
		if cfg.Database.URL == "" {
			return nil, nil, errors.New("database.url is required (set OSA_DATABASE__URL or --database-url)")
		}
		pc, err := cfg.Database.PoolConfig(cfg.Database.URL)
		if err != nil {
			return nil, nil, fmt.Errorf("database.url: %w", err)
		}
		pool, err := pgxpool.NewWithConfig(c.Context(), pc)
		if err != nil {
			return nil, nil, fmt.Errorf("database.url: %w", err)
		}
		return pool, logger, nil
	}

	cmd.AddCommand(&cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			pool, logger, err := open(c)
			if err != nil {
				return err
			}
			defer pool.Close()
			if err := migrations.Up(c.Context(), pool, logger); err != nil {
				return err
			}
			fmt.Fprintln(c.OutOrStdout(), "schema is current")
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "List every migration and whether it is applied",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			pool, _, err := open(c)
			if err != nil {
				return err
			}
			defer pool.Close()
			all, err := migrations.List(c.Context(), pool)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(c.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "COMPONENT\tVERSION\tNAME\tAPPLIED")
			pending := 0
			for _, m := range all {
				applied := "pending"
				switch {
				case m.Applied && !m.AppliedAt.IsZero():
					applied = m.AppliedAt.Local().Format("2006-01-02 15:04:05")
				case m.Applied:
					applied = "yes"
				default:
					pending++
				}
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", m.Component, m.Version, m.Name, applied)
			}
			w.Flush()
			fmt.Fprintf(c.OutOrStdout(), "%d applied, %d pending\n", len(all)-pending, pending)
			return nil
		},
	})
	return cmd
}
