package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

func newHealthcheckCmd() *cobra.Command {
	var url string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "Exit 0 when the server at --url answers 200 (for container health checks)",
		Long: `healthcheck GETs --url and exits 0 on 200, 1 otherwise. Container images without curl use it
as their health check: /readyz for readiness (database reachable, schema current), /healthz for
liveness.`,
		Example: `  osa healthcheck
  osa healthcheck --url http://localhost:8080/healthz`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			client := &http.Client{Timeout: timeout}
			resp, err := client.Get(url)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s answered %s", url, resp.Status)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "url", "http://localhost:8080/readyz", "URL to check")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "how long to wait for the answer")
	return cmd
}
