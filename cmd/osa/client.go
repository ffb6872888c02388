package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/osa-archive/osa/sdk"
)

// clientServerDefault is the server the client commands talk to without --server or OSA_SERVER.
const clientServerDefault = "http://localhost:8080"

// clientFlags are the flags every client command (publish, get, search, status, reindex) takes.
type clientFlags struct {
	json   bool
	server string
	token  string
}

// add registers the flags on cmd.
func (f *clientFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.server, "server", "", "server URL (default $OSA_SERVER, else "+clientServerDefault+")")
	cmd.Flags().StringVar(&f.token, "token", "", "bearer token (default $OSA_TOKEN)")
	cmd.Flags().BoolVar(&f.json, "json", false, "print JSON for scripts instead of tables: the API's answer, as curl of the API shows it")
}

// serverURL returns --server, else $OSA_SERVER, else clientServerDefault; "host:port" means http.
func (f *clientFlags) serverURL() string {
	u := f.server
	if u == "" {
		u = os.Getenv("OSA_SERVER")
	}
	if u == "" {
		u = clientServerDefault
	}
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	return u
}

// client returns an SDK client of the server with the token of the flags or environment.
func (f *clientFlags) client(opts ...sdk.Option) (*sdk.Client, error) {
	tok := f.token
	if tok == "" {
		tok = os.Getenv("OSA_TOKEN")
	}
	opts = append([]sdk.Option{sdk.WithToken(tok), sdk.WithUserAgent("osa-cli")}, opts...)
	c, err := sdk.New(f.serverURL(), opts...)
	if err != nil {
		return nil, fmt.Errorf("--server: %w", err)
	}
	return c, nil
}

// explain adds a hint to the errors a user can fix from the command line.
func (f *clientFlags) explain(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sdk.ErrUnavailable):
		return fmt.Errorf("%w (is the server running at %s? set --server or OSA_SERVER)", err, f.serverURL())
	case errors.Is(err, sdk.ErrUnauthenticated):
		return fmt.Errorf("%w (pass a token with --token or OSA_TOKEN)", err)
	}
	return err
}

// newTable returns a tab writer for aligned columns; call Flush when done.
func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// formatTime formats t for tables: UTC, to the second; "-" for the zero time or nil.
func formatTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// isTerminalWriter reports whether w is a terminal, where progress bars may redraw a line.
func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
