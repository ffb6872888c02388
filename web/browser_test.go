package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/internal/browsertest"
	"github.com/osa-archive/osa/internal/servertest"
	"github.com/osa-archive/osa/sdk"
)

// adminToken is the status page's token in the browser tests.
const adminToken = "osa_browser_admin_3c9e"

// startServer runs a server with tokens (anyone may read; /status needs adminToken) and publishes
// records for the pages: heart studies of three organisms, and one record of hostile metadata.
// It returns the server's address and the SRN of the hostile record.
func startServer(t *testing.T) (string, string) {
	t.Helper()
	sum := sha256.Sum256([]byte(adminToken))
	base := servertest.Start(t, func(cfg *config.Config) {
		cfg.Auth.Tokens = []config.Token{{Name: "admin", SHA256: hex.EncodeToString(sum[:]), Scopes: []string{config.ScopeAdmin}}}
	})

	client, err := sdk.New(base, sdk.WithToken(adminToken))
	if err != nil {
		t.Fatal(err)
	}
	var recs []sdk.PublishParams
	organisms := []string{"Mus musculus", "Homo sapiens", "Danio rerio"}
	topics := []string{"regeneration", "development", "fibrosis", "atlas"}
	for i := range 12 {
		recs = append(recs, sdk.PublishParams{Metadata: map[string]any{
			"title":        fmt.Sprintf("%s heart %s study %d", organisms[i%3], topics[i%4], i),
			"summary":      fmt.Sprintf("Single-cell profiling of the %s heart during %s, series %d.", organisms[i%3], topics[i%4], i),
			"organism":     organisms[i%3],
			"pub_date":     fmt.Sprintf("20%02d/%02d/01", 15+i%9, 1+i%12),
			"sample_count": float64(4 + 3*i),
			"accession":    fmt.Sprintf("GSE%d", 200000+i),
			"entry_type":   "GSE",
		}})
	}
	recs = append(recs, sdk.PublishParams{Metadata: map[string]any{
		"title":    `<script>alert("pwned")</script> heart ` + "\u202eexe.gnp" + strings.Repeat(" long", 10000),
		"summary":  `<img src=x onerror=alert(1)> javascript:alert(2)`,
		"homepage": "javascript:alert(3)", "accession": `GSE1"><script>alert(4)</script>`, "organism": "Homo sapiens",
	}})
	res, err := client.PublishManyWithOpts(context.Background(), recs, &sdk.PublishOpts{WaitIndexed: true, WaitTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return base, res[len(recs)-1].SRN
}

// shots saves a screenshot of every page a test visits into a temporary folder, kept (and
// named in the log) when the test fails.
type shots struct {
	t   *testing.T
	dir string
	n   int
}

func newShots(t *testing.T) *shots {
	dir, err := os.MkdirTemp("", "osa-browser-")
	if err != nil {
		t.Fatal(err)
	}
	s := &shots{t: t, dir: dir}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("screenshots of the pages visited: %s", dir)
		} else {
			os.RemoveAll(dir)
		}
	})
	return s
}

func (s *shots) take(ctx context.Context, name string) {
	s.n++
	if err := browsertest.Screenshot(ctx, filepath.Join(s.dir, fmt.Sprintf("%02d-%s.png", s.n, name))); err != nil {
		s.t.Logf("screenshot %s: %v", name, err)
	}
}

// location returns the path and query of the page of ctx.
func location(t *testing.T, ctx context.Context) string {
	t.Helper()
	return eval[string](t, ctx, `location.pathname + location.search`)
}

// eval returns the value of a JavaScript expression on the page of ctx.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// back goes back in the tab's history, as the back button does, and waits for the page at want
// to show an element of selector.
func back(t *testing.T, ctx context.Context, want, selector string) {
	t.Helper()
	eval[*runtime.RemoteObject](t, ctx, `history.back()`)
	var got string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got = location(t, ctx)
		if got == want && eval[bool](t, ctx, `document.readyState === "complete" && document.querySelector(`+strconv.Quote(selector)+`) !== null`) {
			return
		}
	}
	t.Fatalf("back led to %s, want %s showing %s", got, want, selector)
}

// do runs actions on the page of ctx, failing the test on an error.
func do(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// checkAxe fails the test for any serious or critical axe-core violation on the page of ctx.
func checkAxe(t *testing.T, ctx context.Context, pageName string) {
	t.Helper()
	vs, err := browsertest.Axe(ctx)
	if err != nil {
		t.Fatalf("axe on %s: %v", pageName, err)
	}
	for _, v := range vs {
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("axe on %s: %s (%s): %s, at %v", pageName, v.ID, v.Impact, v.Help, v.Nodes)
		}
	}
}

var recordPath = regexp.MustCompile(`^/records/[0-9a-f-]{36}$`)

// TestBrowserFlows drives Chromium through the pages as a researcher would: search, filter by a
// facet, open a record, open a similar record, and back twice, with the URL checked at each
// step; the same on a phone; a hostile record; the status page without and with a token; and
// axe-core on every page. With OSA_UPDATE_SCREENSHOTS=1 it writes the README's screenshots
// (docs/search-page.png, docs/record-page.png).
func TestBrowserFlows(t *testing.T) {
	base, hostile := startServer(t)
	ctx := browsertest.New(t, 1280, 900, 2*time.Minute)
	shot := newShots(t)

	// Search, then filter by a facet.
	do(t, ctx, chromedp.Navigate(base+"/?q=heart"), chromedp.WaitVisible(chromedp.CSS("ol.hits")))
	shot.take(ctx, "search")
	checkAxe(t, ctx, "the search page")
	if os.Getenv("OSA_UPDATE_SCREENSHOTS") == "1" {
		if err := browsertest.Screenshot(ctx, "../docs/search-page.png"); err != nil {
			t.Fatal(err)
		}
	}
	hits := eval[int](t, ctx, `document.querySelectorAll("ol.hits li.hit").length`)
	do(t, ctx, chromedp.Click(chromedp.Search(`//aside//a[normalize-space()="Mus musculus"]`)), chromedp.WaitVisible(chromedp.CSS(`a.selected`)))
	searchURL := location(t, ctx)
	if hits < 10 || searchURL != "/?organism=Mus+musculus&q=heart" {
		t.Fatalf("%d hits, then the facet led to %s", hits, searchURL)
	}
	for _, o := range eval[[]string](t, ctx, `[...document.querySelectorAll("ol.hits h2")].map(h => h.textContent)`) {
		if !strings.HasPrefix(o, "Mus musculus") {
			t.Fatalf("a hit of another organism after the facet: %q", o)
		}
	}
	shot.take(ctx, "search-filtered")

	// Open the first record, then a similar one; back twice.
	do(t, ctx, chromedp.Click(chromedp.CSS(`ol.hits li:first-child h2 a`)), chromedp.WaitVisible(chromedp.CSS(`#similar-h`)))
	recordURL := location(t, ctx)
	if !recordPath.MatchString(recordURL) {
		t.Fatalf("the first hit led to %s", recordURL)
	}
	shot.take(ctx, "record")
	checkAxe(t, ctx, "a record page")
	if os.Getenv("OSA_UPDATE_SCREENSHOTS") == "1" {
		if err := browsertest.Screenshot(ctx, "../docs/record-page.png"); err != nil {
			t.Fatal(err)
		}
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`ol.similar li:first-child a`)), chromedp.WaitVisible(chromedp.CSS(`#similar-h`)))
	if similarURL := location(t, ctx); !recordPath.MatchString(similarURL) || similarURL == recordURL {
		t.Fatalf("the similar record led to %s (from %s)", similarURL, recordURL)
	}
	shot.take(ctx, "similar")
	back(t, ctx, recordURL, `#similar-h`)
	back(t, ctx, searchURL, `ol.hits`)

	// The hostile record: its markup is text, nothing runs, and it reads left to right.
	id := hostile[strings.LastIndex(hostile, ":")+1 : strings.Index(hostile, "@")]
	do(t, ctx, chromedp.Navigate(base+"/records/"+id), chromedp.WaitVisible(chromedp.CSS(`h1`)))
	title := eval[string](t, ctx, `document.querySelector("h1").textContent`)
	links := eval[[]string](t, ctx, `[...document.querySelectorAll("a")].map(a => a.getAttribute("href"))`)
	shot.take(ctx, "hostile")
	if !strings.HasPrefix(title, `<script>alert("pwned")</script> heart exe.gnp long`) || len([]rune(title)) > 2000 {
		t.Fatalf("the hostile title reads %.120q (%d characters)", title, len([]rune(title)))
	}
	for _, l := range links {
		if strings.HasPrefix(strings.ToLower(l), "javascript:") {
			t.Fatalf("a javascript: link: %v", links)
		}
	}
	// The pages have no script of their own: any script or handler would be the record's.
	if n := eval[int](t, ctx, `document.scripts.length + document.querySelectorAll("[onerror], [onload], [onclick]").length`); n != 0 {
		t.Fatalf("%d scripts or handlers on the hostile record's page", n)
	}

	// The status page: refused without a token, shown with one.
	// Without a token the server asks for one (401 with a basic-auth challenge): headless Chromium,
	// which has no one to ask, ends the navigation there.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/status")); err == nil || !strings.Contains(err.Error(), "ERR_INVALID_AUTH_CREDENTIALS") {
		t.Fatalf("/status without a token: %v; want the browser asked for credentials", err)
	}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("osa:"+adminToken))
	if err := browsertest.SetHeaders(ctx, map[string]string{"Authorization": auth}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, chromedp.Navigate(base+"/status"), chromedp.WaitVisible(chromedp.CSS(`#backends-h`)))
	body := eval[string](t, ctx, `document.querySelector("main").textContent`)
	shot.take(ctx, "status")
	if !strings.Contains(body, "vector") || !strings.Contains(body, "keyword") || !strings.Contains(body, "Job queues") {
		t.Fatalf("/status with a token shows %q", body)
	}
	checkAxe(t, ctx, "the status page")
}

// TestBrowserPhone: on a 375 px wide phone the search and record pages fit the screen's width,
// with the filters below the results, and stay accessible.
func TestBrowserPhone(t *testing.T) {
	base, _ := startServer(t)
	ctx := browsertest.New(t, 375, 812, 2*time.Minute)
	shot := newShots(t)
	for _, p := range []struct{ path, wait string }{{"/?q=heart", "ol.hits"}, {"/?q=heart&organism=Danio+rerio", "ol.hits"}} {
		do(t, ctx, chromedp.Navigate(base+p.path), chromedp.WaitVisible(chromedp.CSS(p.wait)))
		width := eval[int](t, ctx, `document.documentElement.scrollWidth`)
		facetsBelow := eval[bool](t, ctx, `document.querySelector("aside.facets").getBoundingClientRect().top > `+
			`document.querySelector("section.results").getBoundingClientRect().top`)
		shot.take(ctx, "phone")
		if width > 375 || !facetsBelow {
			t.Fatalf("%s on a phone: %d px wide (want at most 375), filters below the results: %v", p.path, width, facetsBelow)
		}
		checkAxe(t, ctx, p.path+" on a phone")
	}
	do(t, ctx, chromedp.Click(chromedp.CSS(`ol.hits li:first-child h2 a`)), chromedp.WaitVisible(chromedp.CSS(`#similar-h`)))
	width := eval[int](t, ctx, `document.documentElement.scrollWidth`)
	shot.take(ctx, "phone-record")
	if width > 375 {
		t.Fatalf("a record page on a phone is %d px wide", width)
	}
	checkAxe(t, ctx, "a record page on a phone")
}
