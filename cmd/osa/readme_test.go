package main

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/sources/geo/geotest"
)

// readmeSkipped are the README's shell commands a test cannot run, each with why: a command
// that starts with one of them is not run. Every entry must match a command of the README, so
// that a command removed from it is removed here too.
var readmeSkipped = map[string]string{
	"make run":  "provisions PostgreSQL and runs osa dev until Ctrl-C; cmd/osa TestDev* run osa dev",
	"make test": "runs every test",
	"osa events --follow": "follows the changefeed until Ctrl-C; cmd/osa TestEventsCommand runs it with --json " +
		"(osa events is run)",
	"grpcurl ": "grpcurl is not installed on the project's machines; server TestReflection covers reflection",
	"osa backends apply backends.yaml": "needs the reader's backends.yaml; cmd/osa TestBackendsCommands runs apply " +
		"(osa backends list is run)",
}

// readmeExpect are outputs the README promises: the output of the command that contains the
// key must contain the value. Every key must match a command.
var readmeExpect = map[string]string{
	// Quick start: the publish waits, so the searches right after it find the record.
	`"organism": "Danio rerio"}, "wait_indexed": true}'`:          `"indexed":true`,
	`"query": "heart regeneration", "limit": 5, "filter"`:         `Zebrafish heart regeneration atlas`,
	`%22query%22%3A%22zebrafish%22`:                               `Zebrafish heart regeneration atlas`,
	"curl localhost:8080/healthz":                                 "ok",
	"curl localhost:8080/readyz":                                  "ready",
	"osa publish records.jsonl --wait":                            "1 of 1 records indexed on every backend",
	`osa get "$SRN" --status`:                                     "Zebrafish heart atlas",
	"osa search heart regeneration --mode keyword":                "Zebrafish heart atlas",
	`"source_id": "ZH-1",` + "\n" + `       "wait_indexed": true`: `"indexed":true`,
	`-H "If-None-Match: $ETAG"`:                                   "304 Not Modified",
	"curl -si -X OPTIONS":                                         "Access-Control-Allow-Origin: http://localhost:5173",
	"osa harvest geo --limit 500 --wait":                          "succeeded",
	`"facets": ["organism", "pub_date"], "highlight": true}'`:     `"highlights":{"title":"Mouse <mark>heart</mark> regeneration"}`,
	`"sort": ["pub_date:desc"], "facets": ["sample_count"]`:       `Human heart atlas`,
	"osa search heart --facet organism --facet pub_date":          "organism  Mus musculus  2",
	`osa similar "$SRN"`:                                          "Mouse heart development",
	`-d '{"limit": 10}' | tee page.json`:                          `"nextCursor"`,
	"osa events --limit 10":                                       "next page: --after ",
	`osa events --after "$(cat cursor.txt)" --limit 100`:          "no events",
	"osa import archive.jsonl --wait":                             " unchanged, 0 skipped, 0 failed",
}

// connectError is how a Connect error answer starts: curl -s exits 0 on it.
var connectError = regexp.MustCompile(`\{"code":\s*"[a-z_]+"`)

// readmeCommand is one command of a ```sh block of the README: its lines joined.
type readmeCommand struct {
	line    int    // the README line it starts on
	section string // the "## " heading above it
	text    string
}

// readmeCommands returns the commands of every ```sh block of the README, in order: a line
// ending with \ or | continues on the next; comment and blank lines are no commands.
func readmeCommands(t *testing.T, path string) []readmeCommand {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out     []readmeCommand
		in      bool
		cur     *readmeCommand
		lineNum int
		quotes  int // single quotes in cur outside comments: odd inside a quoted string
		section string
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lineNum++
		l := sc.Text()
		switch {
		case !in && strings.HasPrefix(l, "```sh"):
			in = true
			continue
		case in && strings.HasPrefix(l, "```"):
			if cur != nil {
				t.Fatalf("README.md:%d: a block ends in a continued command", cur.line)
			}
			in = false
			continue
		case !in:
			if strings.HasPrefix(l, "## ") {
				section = strings.TrimPrefix(l, "## ")
			}
			continue
		}
		if cur == nil {
			if s := strings.TrimSpace(l); s == "" || strings.HasPrefix(s, "#") {
				continue
			}
			cur = &readmeCommand{line: lineNum, section: section}
		} else {
			cur.text += "\n"
		}
		cur.text += l
		code := strings.TrimRight(stripComment(l), " ")
		quotes += strings.Count(code, "'")
		if !strings.HasSuffix(code, `\`) && !strings.HasSuffix(code, "|") && quotes%2 == 0 {
			out = append(out, *cur)
			cur, quotes = nil, 0
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// stripComment drops a trailing "   # comment" (a # after spaces, outside quotes) from l.
func stripComment(l string) string {
	quote := rune(0)
	for i, r := range l {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote == 0 && (r == '\'' || r == '"'):
			quote = r
		case quote == 0 && r == '#' && i > 0 && l[i-1] == ' ':
			return l[:i]
		}
	}
	return l
}

// TestReadmeCommands runs every command of the README's ```sh blocks, as a reader following
// each "## " section from a fresh `make run` would: the commands of a section in order, in one
// shell in a temporary directory, against a server of its own on a fresh database (its port put
// for 8080), with a real osa binary built into bin/ (on PATH and OSA_SERVER set, as the README's
// "Command line" asks once; its own export puts $PWD/bin first), the
// http.cors origin of the README's CORS example, and the geo source enabled on a fake
// E-utilities. Each command must exit 0 and answer no Connect error; those of readmeExpect must
// print what the README promises. Only the commands of readmeSkipped are not run.
func TestReadmeCommands(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command builds the osa binary the README runs: %v", err)
	}
	build := exec.Command(goTool, "build", "-o", filepath.Join(bin, "osa"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	cmds := readmeCommands(t, "../../README.md")
	var (
		sections []string
		run      = map[string][]readmeCommand{}
		all      []string
	)
	used := map[string]bool{}
	for _, c := range cmds {
		if skip := skippedBy(c.text); skip != "" {
			used[skip] = true
			continue
		}
		if run[c.section] == nil {
			sections = append(sections, c.section)
		}
		run[c.section] = append(run[c.section], c)
		all = append(all, c.text)
	}
	for prefix := range readmeSkipped {
		if !used[prefix] {
			t.Errorf("readmeSkipped has %q, which no README command starts with: remove it", prefix)
		}
	}
	for key := range readmeExpect {
		if !strings.Contains(strings.Join(all, "\n"), key) {
			t.Errorf("readmeExpect has %q, which no README command that runs contains", key)
		}
	}
	if len(all) < 30 {
		t.Fatalf("only %d README commands found: is the parser broken?", len(all))
	}
	t.Logf("%d README commands in %d sections (%d skipped)", len(all), len(sections), len(cmds)-len(all))
	for _, section := range sections {
		t.Run(section, func(t *testing.T) {
			t.Parallel()
			runReadmeSection(t, bin, run[section])
		})
	}
}

// runReadmeSection runs cmds in one shell against a server of their own, with the osa binary of
// the folder bin, and checks each.
func runReadmeSection(t *testing.T, bin string, cmds []readmeCommand) {
	dir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(dir, "bin")); err != nil {
		t.Fatal(err)
	}
	fake := geotest.New(t, geotest.Series(20))
	base := startClientServer(t, func(cfg *config.Config) {
		cfg.HTTP.CORS.AllowedOrigins = []string{"http://localhost:5173"}
		src := config.DefaultSource("geo", config.SourceKindGeoEntrez)
		src.Enabled = true
		src.Geo.Email = "ops@example.org"
		src.Geo.APIKey = "test-key"
		src.Geo.BaseURL = fake.URL()
		src.Geo.Timeout = time.Second
		cfg.Sources = []config.Source{src}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	var script strings.Builder
	for i, c := range cmds {
		text := strings.ReplaceAll(c.text, "localhost:8080", "localhost:"+u.Port())
		fmt.Fprintf(&script, "printf '\\n@@begin %d\\n'\n%s\nprintf '\\n@@end %d %%d\\n' \"$?\"\n", i, text, i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sh := exec.CommandContext(ctx, "sh", "-c", script.String())
	sh.Dir = dir
	// What the README's "Command line" asks a reader to set up once: osa on PATH, OSA_SERVER.
	sh.Env = []string{"PATH=" + os.Getenv("PATH") + string(os.PathListSeparator) + bin, "OSA_SERVER=http://localhost:" + u.Port(),
		"HOME=" + dir, "PWD=" + dir, "LANG=C.UTF-8"}
	start := time.Now()
	outBytes, err := sh.CombinedOutput()
	t.Logf("%d commands ran in %s", len(cmds), time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("the README's commands: %v\n%s", err, outBytes)
	}
	outputs := splitOutputs(t, string(outBytes), len(cmds))
	for i, c := range cmds {
		o := outputs[i]
		switch {
		case o.status != 0:
			t.Errorf("README.md:%d exited %d:\n%s\n--- output:\n%s", c.line, o.status, c.text, o.text)
		case connectError.MatchString(o.text):
			t.Errorf("README.md:%d answered an error:\n%s\n--- output:\n%s", c.line, c.text, o.text)
		}
		for key, want := range readmeExpect {
			if strings.Contains(c.text, key) && !strings.Contains(o.text, want) {
				t.Errorf("README.md:%d printed no %q:\n%s\n--- output:\n%s", c.line, want, c.text, o.text)
			}
		}
	}
}

// skippedBy returns the entry of readmeSkipped that command starts with, or "".
func skippedBy(command string) string {
	for prefix := range readmeSkipped {
		if strings.HasPrefix(command, prefix) {
			return prefix
		}
	}
	return ""
}

// commandOutput is what one command printed and its exit status.
type commandOutput struct {
	text   string
	status int
}

// splitOutputs cuts the script's output at its @@begin and @@end markers.
func splitOutputs(t *testing.T, all string, n int) []commandOutput {
	t.Helper()
	out := make([]commandOutput, n)
	marker := regexp.MustCompile(`(?s)\n@@begin (\d+)\n(.*?)\n@@end (\d+) (\d+)\n`)
	found := 0
	for _, m := range marker.FindAllStringSubmatch(all, -1) {
		var i, j, status int
		fmt.Sscan(m[1], &i)
		fmt.Sscan(m[3], &j)
		fmt.Sscan(m[4], &status)
		if i != j || i >= n {
			t.Fatalf("garbled markers in the script's output:\n%s", all)
		}
		out[i] = commandOutput{text: m[2], status: status}
		found++
	}
	if found != n {
		t.Fatalf("%d of %d commands reported; the script's output:\n%s", found, n, all)
	}
	return out
}
