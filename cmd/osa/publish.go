package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/osa-archive/osa/sdk"
)

// publishLineMax is the longest line osa publish reads; a record's metadata is at most
// records.max_metadata_bytes (256 KiB by default), so this leaves room for any configuration.
const publishLineMax = 64 << 20

func newPublishCmd() *cobra.Command {
	var (
		cf          clientFlags
		onError     string
		progressArg string
		wait        bool
		waitTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "publish FILE|-",
		Short: "Publish records from a JSON Lines file or standard input",
		Long: `publish reads JSON Lines (one JSON object per line; blank lines are ignored) and publishes
every line as a record, in chunks of 1000, in order.

A line is either the record's metadata itself:
  {"title": "Zebrafish heart atlas", "organism": "Danio rerio"}
or an envelope with the metadata and an optional source and source_id:
  {"metadata": {"title": "Zebrafish heart atlas"}, "source": "lab", "source_id": "ZH-1"}
A line is an envelope when it has a "metadata" object and no keys but metadata, source and
source_id; any other object is metadata. With source and source_id a record is an upsert: the
same metadata published again keeps its version, so a file can be published again safely. A
source is a lower-case letter, then up to 39 lower-case letters, digits or underscores
("my_lab", not "My Lab!"); the server rejects another.

A malformed line (not a JSON object, or rejected by the server) is reported with its line
number on standard error. With --on-error skip (the default) the other lines are published.
With --on-error abort, publish stops at the first bad line and reads nothing after it; the lines
before it are published (and, for a line the server rejected, the rest of its chunk of 1000).
Either way the exit status is 1 when any line was not published.

On a terminal, standard error shows a progress bar with records/s; otherwise a line of counts
every second. Standard output gets a summary, or with --json one JSON object per record
({"line":1,"srn":"urn:osa:...@1","version":1,"unchanged":false} or {"line":2,"error":"..."}).
With --wait, each chunk's call answers once every backend that searches use has indexed its
records (the server's wait_indexed), so that a search right after publish finds them; the next
chunk is sent after that, which costs throughput on large files. A chunk waits at most
--wait-timeout (0: the server's records.wait_timeout_default, 10s unless configured; the server
refuses more than records.wait_timeout_max, 1m unless configured). Then every record that is not
indexed yet, or that a backend failed to index or found no text in, is reported by line number
on standard error, with --json also in its object ("indexed", "not_indexed"), and the summary
counts them. The exit status is 1 when a record is not indexed yet or failed; a record without
text to index is reported but is not a failure.`,
		Example: `  osa publish records.jsonl
  osa publish records.jsonl --wait --server https://osa.example.org --token "$OSA_TOKEN"
  zcat dump.jsonl.gz | osa publish - --on-error abort
  osa publish records.jsonl --json | jq -r .srn > srns.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if onError != "skip" && onError != "abort" {
				return fmt.Errorf("--on-error: want skip or abort, got %q", onError)
			}
			switch {
			case waitTimeout < 0:
				return fmt.Errorf("--wait-timeout: %s is negative; 0 means the server's default", waitTimeout)
			case waitTimeout > 0 && !wait:
				return errors.New("--wait-timeout: only with --wait")
			}
			mode, err := progressMode(progressArg, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			client, err := cf.client()
			if err != nil {
				return err
			}
			in, size, closeIn, err := openInput(cmd, args[0])
			if err != nil {
				return err
			}
			defer closeIn()
			r := &publishRun{
				client: client, out: cmd.OutOrStdout(), errw: cmd.ErrOrStderr(), json: cf.json, abort: onError == "abort",
				prog: newCountProgress(cmd.ErrOrStderr(), mode, size),
			}
			if wait {
				r.wait = &sdk.PublishOpts{WaitIndexed: true, WaitTimeout: waitTimeout}
			}
			err = r.run(cmd.Context(), in)
			if werr := r.waitError(); werr != nil && err != nil {
				err = fmt.Errorf("%w; %w", err, werr)
			} else if werr != nil {
				err = werr
			}
			return cf.explain(err)
		},
	}
	cf.add(cmd)
	cmd.Flags().StringVar(&onError, "on-error", "skip", "what a malformed line does: skip (report it, go on) or abort")
	cmd.Flags().StringVar(&progressArg, "progress", "auto", "progress display: auto (a bar on a terminal, else plain), bar, plain or none")
	cmd.Flags().BoolVar(&wait, "wait", false, "answer once every backend searches use has indexed the records, or say which have not")
	cmd.Flags().DurationVar(&waitTimeout, "wait-timeout", 0,
		"with --wait, how long each chunk of 1000 waits at most (0: the server's records.wait_timeout_default)")
	return cmd
}

// openInput opens FILE, or standard input for "-", and returns its size when known (0 if not).
func openInput(cmd *cobra.Command, name string) (io.Reader, int64, func(), error) {
	if name == "-" {
		return cmd.InOrStdin(), 0, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, nil, err
	}
	var size int64
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
		size = fi.Size()
	}
	return f, size, func() { f.Close() }, nil
}

// publishRun is one run of osa publish.
type publishRun struct {
	abort  bool
	client *sdk.Client
	errw   io.Writer // line errors, progress, and the summary with --json
	json   bool
	out    io.Writer // summary, or one JSON object per record with --json
	prog   *countProgress
	wait   *sdk.PublishOpts // nil without --wait

	abortLine int // the line that stopped the run with --on-error abort
	batch     []publishEntry
	bytesRead int64
	failed    int
	published int
	records   int // non-blank lines
	start     time.Time
	unchanged int
	// With --wait, how the records published (or unchanged) stand: indexed on every backend, not
	// indexed yet on some when the wait ran out, failed on some, or without text to index on
	// some (and indexed on the others).
	indexed, notYet, indexFailed, noText int
}

// publishEntry is one non-blank line: a record to publish, or why the line is malformed.
type publishEntry struct {
	line   int
	params sdk.PublishParams
	err    error
}

// errAborted stops reading after a malformed line with --on-error abort.
var errAborted = errors.New("aborted")

func (r *publishRun) run(ctx context.Context, in io.Reader) error {
	r.start = time.Now()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), publishLineMax)
	line := 0
	var stop error
	for stop == nil && sc.Scan() {
		line++
		r.bytesRead += int64(len(sc.Bytes())) + 1
		e, ok := parseLine(line, sc.Bytes())
		if !ok {
			continue
		}
		r.records++
		r.batch = append(r.batch, e)
		if e.err != nil && r.abort {
			r.abortLine = line
			stop = r.flush(ctx)
			if stop == nil {
				stop = errAborted
			}
			break
		}
		if len(r.batch) == sdk.PublishChunkMax {
			stop = r.flush(ctx)
		}
	}
	if err := sc.Err(); err != nil && stop == nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("line %d: longer than %d MiB", line+1, publishLineMax>>20)
		}
		stop = err
	}
	if stop == nil {
		stop = r.flush(ctx)
	}
	r.prog.done(r.ok(), r.failed, r.bytesRead)
	r.summary()
	switch {
	case errors.Is(stop, errAborted):
		return fmt.Errorf("aborted at line %d (--on-error abort) with %d records published", r.abortLine, r.ok())
	case stop != nil:
		return stop
	case r.failed > 0:
		return &notPublishedError{failed: r.failed, records: r.records}
	}
	return nil
}

// notPublishedError ends a run in which some lines were skipped (--on-error skip); --wait
// still waits for the others.
type notPublishedError struct{ failed, records int }

func (e *notPublishedError) Error() string {
	return fmt.Sprintf("%d of %d records not published", e.failed, e.records)
}

func (r *publishRun) ok() int { return r.published + r.unchanged }

// summary prints the counts: to standard output, or standard error with --json.
func (r *publishRun) summary() {
	w := r.out
	if r.json {
		w = r.errw
	}
	el := time.Since(r.start)
	fmt.Fprintf(w, "%d records: %d published, %d unchanged, %d failed in %s (%.0f records/s)\n",
		r.records, r.published, r.unchanged, r.failed, el.Round(time.Millisecond), rate(r.ok(), el))
	if r.wait != nil {
		fmt.Fprintf(w, "%d of %d records indexed on every backend, %d not indexed yet, %d failed to index, %d without text to index\n",
			r.indexed, r.ok(), r.notYet, r.indexFailed, r.noText)
	}
}

// waitError is the error of a --wait run in which records are not indexed yet or failed.
func (r *publishRun) waitError() error {
	if r.wait == nil || r.notYet+r.indexFailed == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d records not indexed on every backend (%d not yet when the wait ran out, %d failed)",
		r.notYet+r.indexFailed, r.ok(), r.notYet, r.indexFailed)
}

// noteIndexing counts where a record published with --wait stands, and reports on standard
// error each backend that has not indexed it.
func (r *publishRun) noteIndexing(line int, res sdk.PublishResult) {
	if res.Indexed {
		r.indexed++
		return
	}
	var pending, failed, empty bool
	for _, st := range res.NotIndexed {
		why := ""
		if st.LastError != "" {
			why = ": " + st.LastError
		}
		switch st.State {
		case sdk.IndexFailed:
			failed = true
			r.prog.printf("line %d: backend %s failed to index %s%s\n", line, st.Backend, res.SRN, why)
		case sdk.IndexEmpty:
			empty = true
			r.prog.printf("line %d: no text for backend %s to index in %s%s\n", line, st.Backend, res.SRN, why)
		case sdk.IndexDeleted:
			r.prog.printf("line %d: %s was deleted meanwhile (backend %s)\n", line, res.SRN, st.Backend)
		default:
			pending = true
			r.prog.printf("line %d: not indexed yet by backend %s when the wait ran out%s\n", line, st.Backend, why)
		}
	}
	switch {
	case failed:
		r.indexFailed++
	case pending:
		r.notYet++
	case empty:
		r.noText++
	default: // deleted meanwhile: nothing left to index
		r.indexed++
	}
}

// flush publishes the batch and reports every entry of it, in line order. It returns an error
// when publishing must stop: the server refused the whole batch, or a record was rejected with
// --on-error abort.
func (r *publishRun) flush(ctx context.Context) error {
	if len(r.batch) == 0 {
		return nil
	}
	var (
		params []sdk.PublishParams
		at     []int // at[i] is the batch index of params[i]
	)
	for i, e := range r.batch {
		if e.err == nil {
			params = append(params, e.params)
			at = append(at, i)
		}
	}
	results := make([]sdk.PublishResult, len(r.batch))
	var fatal error
	if len(params) > 0 {
		res, err := r.client.PublishManyWithOpts(ctx, params, r.wait)
		var pe *sdk.PublishManyError
		if errors.As(err, &pe) && pe.Aborted {
			fatal = pe.Err
		}
		for i, pr := range res {
			results[at[i]] = pr
		}
	}
	rejected := false
	for i, e := range r.batch {
		res := results[i]
		if e.err != nil {
			res.Err = e.err
		}
		switch {
		case res.Err != nil && fatal != nil && res.Err == fatal:
			r.failed++ // reported once, below
		case res.Err != nil:
			r.failed++
			if e.err == nil && r.abort && r.abortLine == 0 {
				r.abortLine = e.line
				rejected = true
			}
			r.prog.printf("line %d: %s\n", e.line, lineError(res.Err))
		case res.Unchanged:
			r.unchanged++
		default:
			r.published++
		}
		if res.Err == nil && r.wait != nil {
			r.noteIndexing(e.line, res)
		}
		if r.json {
			r.printJSON(e.line, res)
		}
	}
	r.batch = r.batch[:0]
	r.prog.update(r.ok(), r.failed, r.bytesRead)
	switch {
	case fatal != nil:
		return fatal
	case rejected && r.abort:
		return errAborted
	}
	return nil
}

func (r *publishRun) printJSON(line int, res sdk.PublishResult) {
	type out struct {
		Line      int    `json:"line"`
		SRN       string `json:"srn,omitempty"`
		Version   int    `json:"version,omitempty"`
		Unchanged bool   `json:"unchanged,omitempty"`
		// Indexed and NotIndexed are set with --wait.
		Indexed    *bool               `json:"indexed,omitempty"`
		NotIndexed []sdk.BackendStatus `json:"not_indexed,omitempty"`
		Error      string              `json:"error,omitempty"`
	}
	o := out{Line: line, SRN: res.SRN, Version: res.Version, Unchanged: res.Unchanged, NotIndexed: res.NotIndexed}
	if r.wait != nil {
		o.Indexed = &res.Indexed
	}
	if res.Err != nil {
		o = out{Line: line, Error: lineError(res.Err)}
	}
	b, _ := json.Marshal(o)
	fmt.Fprintf(r.out, "%s\n", b)
}

// recordPrefix is the "records[i]." that names a record of a PublishRecords call; a line
// number says it better.
var recordPrefix = regexp.MustCompile(`^records\[\d+\]\.?`)

// lineError describes why a line was not published, without the batch index.
func lineError(err error) string {
	var e *sdk.Error
	if errors.As(err, &e) {
		msg := recordPrefix.ReplaceAllString(e.Message, "")
		if e.Code == sdk.CodeInvalidArgument {
			return msg
		}
		return string(e.Code) + ": " + msg
	}
	return err.Error()
}

// parseLine turns one line into a record; ok is false for a blank line.
func parseLine(line int, b []byte) (e publishEntry, ok bool) {
	e.line = line
	if len(trimSpace(b)) == 0 {
		return e, false
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		e.err = fmt.Errorf("not valid JSON: %v", err)
		return e, true
	}
	obj, isObj := v.(map[string]any)
	if !isObj {
		e.err = fmt.Errorf("want a JSON object, got %s", jsonKind(v))
		return e, true
	}
	if !isEnvelope(obj) {
		e.params = sdk.PublishParams{Metadata: obj}
		return e, true
	}
	e.params.Metadata = obj["metadata"].(map[string]any)
	for _, k := range []string{"source", "source_id"} {
		if v, ok := obj[k]; ok {
			s, isStr := v.(string)
			if !isStr {
				e.err = fmt.Errorf("%s: want a string, got %s", k, jsonKind(v))
				return e, true
			}
			if k == "source" {
				e.params.Source = s
			} else {
				e.params.SourceID = s
			}
		}
	}
	return e, true
}

// isEnvelope reports whether obj is {"metadata": {...}} with at most source and source_id
// besides.
func isEnvelope(obj map[string]any) bool {
	if _, ok := obj["metadata"].(map[string]any); !ok {
		return false
	}
	for k := range obj {
		if k != "metadata" && k != "source" && k != "source_id" {
			return false
		}
	}
	return true
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	}
	return "an object"
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

// rate returns n per second of el.
func rate(n int, el time.Duration) float64 {
	if el <= 0 {
		return 0
	}
	return float64(n) / el.Seconds()
}

// progressMode resolves --progress; auto is a bar on a terminal, else plain counts.
func progressMode(arg string, w io.Writer) (string, error) {
	switch arg {
	case "bar", "plain", "none":
		return arg, nil
	case "auto":
		if isTerminalWriter(w) {
			return "bar", nil
		}
		return "plain", nil
	}
	return "", fmt.Errorf("--progress: want auto, bar, plain or none, got %q", arg)
}

// countProgress shows how far a long command is: a bar redrawn in place (mode "bar"), a line of
// counts at most every plainEvery ("plain"), or nothing ("none").
type countProgress struct {
	last  time.Time
	mode  string
	noun  string // what the count counts: "records", "fetched"
	size  int64  // input bytes, 0 when unknown
	start time.Time
	total int // how many records there are to count, 0 when unknown (size gives the fraction)
	w     io.Writer
}

const (
	barEvery   = 100 * time.Millisecond
	barWidth   = 30
	plainEvery = time.Second
)

func newCountProgress(w io.Writer, mode string, size int64) *countProgress {
	now := time.Now()
	return &countProgress{last: now, mode: mode, noun: "records", size: size, start: now, w: w}
}

// update shows n records done and failed so far, read bytes of the input; it redraws at most
// every barEvery (bar) or plainEvery (plain).
func (p *countProgress) update(n, failed int, read int64) {
	now := time.Now()
	switch {
	case p.mode == "bar" && now.Sub(p.last) >= barEvery:
	case p.mode == "plain" && now.Sub(p.last) >= plainEvery:
	default:
		return
	}
	p.last = now
	p.show(n, failed, read)
}

// done shows the final counts (a bar's last state; nothing more for plain, whose caller prints
// a summary) and ends the bar's line.
func (p *countProgress) done(n, failed int, read int64) {
	if p.mode == "bar" {
		p.show(n, failed, read)
		fmt.Fprintln(p.w)
	}
}

// printf writes a message line to the progress output, first clearing a bar from its line;
// the next update draws the bar again below the message.
func (p *countProgress) printf(format string, args ...any) {
	if p.mode == "bar" {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, format, args...)
}

func (p *countProgress) show(n, failed int, read int64) {
	r := rate(n, time.Since(p.start))
	fails := ""
	if failed > 0 {
		fails = fmt.Sprintf("  %d failed", failed)
	}
	if p.mode == "plain" {
		fmt.Fprintf(p.w, "%d %s, %.0f records/s%s\n", n, p.noun, r, fails)
		return
	}
	gauge := ""
	if p.size > 0 || p.total > 0 {
		frac := float64(n+failed) / float64(max(p.total, 1))
		if p.size > 0 {
			frac = float64(read) / float64(p.size)
		}
		frac = min(frac, 1)
		fill := int(frac * barWidth)
		gauge = fmt.Sprintf("[%s%s] %3.0f%%  ", strings.Repeat("#", fill), strings.Repeat(".", barWidth-fill), frac*100)
	}
	// \r returns to the start of the line and \033[K clears what a longer line left behind.
	fmt.Fprintf(p.w, "\r\033[K%s%d %s  %.0f records/s%s", gauge, n, p.noun, r, fails)
}
