package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"connectrpc.com/connect"
	"github.com/spf13/cobra"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
)

// Defaults of the client commands.
const (
	serverDefault       = "http://localhost:8080"
	harvestPollDefault  = time.Second
	plainProgressPeriod = 5 * time.Second // between two progress lines when output is not a terminal
	progressBarWidth    = 30
)

// harvestFlags are the flags of `osa harvest`.
type harvestFlags struct {
	chunkSize int32
	interval  time.Duration
	limit     int64
	server    string
	since     string
	token     string
	wait      bool
}

func newHarvestCmd() *cobra.Command {
	f := &harvestFlags{}
	cmd := &cobra.Command{
		Use:   "harvest SOURCE",
		Short: "Start a harvest of a source on a running server, and follow it with --wait",
		Long: `harvest asks the server at --server to harvest SOURCE (see the sources: list of its
configuration): the server fetches the source's records in chunks and publishes them as upserts,
so records that did not change get no new version. It prints the harvest's id and returns, or,
with --wait, follows the harvest until it ends: a progress bar (fetched / total, records/s) on a
terminal, a line every few seconds otherwise. The exit status is 1 when the harvest failed.

A source is harvested by one harvest at a time; asking for a second one while the first runs
fails with already_exists and names the running one.`,
		Example: `  osa harvest geo --limit 1000 --wait
  osa harvest geo --since 2024-01-01 --server https://osa.example.org --token "$OSA_TOKEN"`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return runHarvest(c.Context(), c.OutOrStdout(), args[0], f)
		},
	}
	cmd.Flags().StringVar(&f.server, "server", cmp.Or(os.Getenv("OSA_SERVER"), serverDefault), "URL of the OSA server (default $OSA_SERVER)")
	cmd.Flags().StringVar(&f.token, "token", os.Getenv("OSA_TOKEN"), "bearer token with the sources:run scope (default $OSA_TOKEN)")
	cmd.Flags().Int64Var(&f.limit, "limit", 0, "most records to fetch; 0 means all")
	cmd.Flags().StringVar(&f.since, "since", "", "only records published on or after this day, YYYY-MM-DD")
	cmd.Flags().Int32Var(&f.chunkSize, "chunk-size", 0, "records per chunk; 0 means the source's page_size")
	cmd.Flags().BoolVar(&f.wait, "wait", false, "follow the harvest until it ends; exit 1 if it failed")
	cmd.Flags().DurationVar(&f.interval, "interval", harvestPollDefault, "how often --wait asks for progress")
	return cmd
}

// sourceClient returns a SourceService client of server that sends token, if any.
func sourceClient(server, token string) osav1connect.SourceServiceClient {
	var opts []connect.ClientOption
	if token != "" {
		opts = append(opts, connect.WithInterceptors(connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
			return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
				req.Header().Set("Authorization", "Bearer "+token)
				return next(ctx, req)
			}
		})))
	}
	return osav1connect.NewSourceServiceClient(http.DefaultClient, strings.TrimSuffix(server, "/"), opts...)
}

func runHarvest(ctx context.Context, out io.Writer, source string, f *harvestFlags) error {
	if f.interval <= 0 {
		return fmt.Errorf("--interval %v is not a positive duration", f.interval)
	}
	client := sourceClient(f.server, f.token)
	resp, err := client.StartHarvest(ctx, connect.NewRequest(&osav1.StartHarvestRequest{
		Source: source, Limit: f.limit, Since: f.since, ChunkSize: f.chunkSize,
	}))
	if err != nil {
		return err
	}
	h := resp.Msg.Harvest
	fmt.Fprintf(out, "harvest %d of %s started (%s)\n", h.Id, h.Source, describeParams(h))
	if !f.wait {
		fmt.Fprintln(out, "the server harvests in the background; add --wait to follow it")
		return nil
	}

	p := newProgress(out)
	tick := time.NewTicker(f.interval)
	defer tick.Stop()
	for h.State == osav1.HarvestState_HARVEST_STATE_RUNNING {
		select {
		case <-ctx.Done():
			p.finish()
			return fmt.Errorf("stopped following harvest %d; it goes on on the server", h.Id)
		case <-tick.C:
		}
		got, err := client.GetHarvest(ctx, connect.NewRequest(&osav1.GetHarvestRequest{Id: h.Id}))
		if err != nil {
			p.finish()
			if ctx.Err() != nil {
				return fmt.Errorf("stopped following harvest %d; it goes on on the server", h.Id)
			}
			return err
		}
		h = got.Msg.Harvest
		p.update(h)
	}
	p.finish()
	fmt.Fprintf(out, "harvest %d %s: %d fetched, %d published, %d unchanged, %d skipped in %s\n", h.Id, stateName(h.State),
		h.Fetched, h.Published, h.Unchanged, h.Skipped, p.elapsed().Round(100*time.Millisecond))
	if h.State != osav1.HarvestState_HARVEST_STATE_SUCCEEDED {
		return fmt.Errorf("harvest %d failed: %s", h.Id, cmp.Or(h.Error, "no error reported"))
	}
	return nil
}

// describeParams renders a harvest's parameters: "limit 1000, since 2024-01-01, chunks of 100".
func describeParams(h *osav1.Harvest) string {
	limit := "no limit"
	if h.Limit > 0 {
		limit = fmt.Sprintf("limit %d", h.Limit)
	}
	since := "all dates"
	if h.Since != "" {
		since = "since " + h.Since
	}
	return fmt.Sprintf("%s, %s, chunks of %d", limit, since, h.ChunkSize)
}

func stateName(s osav1.HarvestState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "HARVEST_STATE_"))
}

// progress shows how a harvest advances: a bar redrawn in place on a terminal, plain lines every
// few seconds otherwise (a log file or a CI job).
type progress struct {
	out      io.Writer
	tty      bool
	start    time.Time
	lastLine time.Time
	drawn    bool
}

func newProgress(out io.Writer) *progress {
	now := time.Now()
	return &progress{out: out, tty: isTerminal(out), start: now, lastLine: now}
}

func (p *progress) elapsed() time.Duration { return time.Since(p.start) }

// update shows h's counters.
func (p *progress) update(h *osav1.Harvest) {
	rate := float64(h.Fetched) / max(p.elapsed().Seconds(), 0.001)
	total := "?"
	if h.Total > 0 {
		total = fmt.Sprint(h.Total)
	}
	if p.tty {
		// \r redraws the line in place; ESC[K clears what a longer previous line left.
		fmt.Fprintf(p.out, "\r%s %d/%s %5.1f records/s\x1b[K", bar(h.Fetched, h.Total), h.Fetched, total, rate)
		p.drawn = true
		return
	}
	if time.Since(p.lastLine) >= plainProgressPeriod && h.State == osav1.HarvestState_HARVEST_STATE_RUNNING {
		fmt.Fprintf(p.out, "harvest %d: %d/%s fetched, %.1f records/s\n", h.Id, h.Fetched, total, rate)
		p.lastLine = time.Now()
	}
}

// finish ends the bar's line.
func (p *progress) finish() {
	if p.drawn {
		fmt.Fprintln(p.out)
		p.drawn = false
	}
}

// bar draws [#####.....] for done of total; an unknown total draws an empty bar.
func bar(done, total int64) string {
	n := 0
	if total > 0 {
		n = int(min(done, total) * progressBarWidth / total)
	}
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", progressBarWidth-n) + "]"
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
