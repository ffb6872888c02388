package geo_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/osa-archive/osa/sources"
	"github.com/osa-archive/osa/sources/geo"
	"github.com/osa-archive/osa/sources/geo/geotest"
)

type testBundle struct {
	fake *geotest.Server
	src  *geo.Source
}

// setup starts a fake E-utilities server with docs and a source on it. The source is not rate
// limited (edit sets RateLimit back to 0 for NCBI's limits) and retries after a few milliseconds.
func setup(t *testing.T, docs []geotest.Doc, edit func(*geo.Config)) *testBundle {
	t.Helper()
	fake := geotest.New(t, docs)
	cfg := geo.Config{
		Name:        "geo",
		Email:       "ops@example.org",
		APIKey:      "secret-key",
		BaseURL:     fake.URL(),
		PageSize:    100,
		Timeout:     2 * time.Second,
		RateLimit:   1000,
		BackoffBase: 5 * time.Millisecond,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if edit != nil {
		edit(&cfg)
	}
	src, err := geo.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &testBundle{fake: fake, src: src}
}

func (b *testBundle) pull(t *testing.T, cur sources.Cursor) (sources.Page, sources.Cursor) {
	t.Helper()
	page, next, err := b.src.Pull(context.Background(), cur)
	if err != nil {
		t.Fatal(err)
	}
	return page, next
}

func ids(page sources.Page) []string {
	out := make([]string, len(page.Records))
	for i, r := range page.Records {
		out[i] = r.ID
	}
	return out
}

func TestBackoffAndRetryAfterFromTheServer(t *testing.T) {
	t.Parallel()
	// An HTTP-date Retry-After, one second ahead: the retry waits for it.
	b := setup(t, geotest.Series(3), nil)
	b.fake.Fail("esummary", geotest.Fault{Status: 429, RetryAfter: time.Now().Add(1500 * time.Millisecond).UTC().Format(httpDate)})
	page, _ := b.pull(t, sources.Cursor{})
	if page.Fetched != 3 {
		t.Fatalf("fetched %d, want 3", page.Fetched)
	}
	reqs := b.fake.Requests()
	if gap := reqs[2].At.Sub(reqs[1].At); gap < 400*time.Millisecond {
		t.Fatalf("retried after %v, before the Retry-After date", gap)
	}
}

const httpDate = "Mon, 02 Jan 2006 15:04:05 GMT"

func TestEmailRequired(t *testing.T) {
	t.Parallel()
	b := setup(t, geotest.Series(3), func(c *geo.Config) { c.Email = "" })
	_, _, err := b.src.Pull(context.Background(), sources.Cursor{})
	if !errors.Is(err, sources.ErrPermanent) || !strings.Contains(err.Error(), "email") {
		t.Fatalf("Pull without an email: %v, want a permanent error naming the email", err)
	}
	if n := len(b.fake.Requests()); n != 0 {
		t.Fatalf("%d requests sent without an email", n)
	}
}

func TestExpiredWebEnvSearchesAgainAtTheSameOffset(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		expire func(*geotest.Server)
	}{
		// NCBI's answer to a WebEnv it no longer has: {"esummaryresult": ["Unable to obtain query #1"]}.
		{"UnableToObtainQuery", func(f *geotest.Server) { f.ExpireSessions() }},
		// And the root "error" form.
		{"InvalidQueryKey", func(f *geotest.Server) {
			f.Fail("esummary", geotest.Fault{Body: `{"header":{"type":"esummary","version":"0.3"},"error":"Invalid query_key"}`})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, geotest.Series(30), nil)
			page, next := b.pull(t, sources.Cursor{PageSize: 10})
			tc.expire(b.fake)
			page, next = b.pull(t, next)
			if got := ids(page); len(got) != 10 || got[0] != "GSE1011" || got[9] != "GSE1020" {
				t.Fatalf("page after the expiry = %v, want GSE1011..GSE1020", got)
			}
			if next.Offset != 20 {
				t.Fatalf("next offset %d, want 20", next.Offset)
			}
			if n := b.fake.Count("esearch"); n != 2 {
				t.Fatalf("%d searches, want 2 (one renewal)", n)
			}
			if got := b.fake.Retstarts(); len(got) != 3 || got[1] != 10 || got[2] != 10 {
				t.Fatalf("esummary retstarts %v, want [0 10 10]", got)
			}
			// The renewed session carries on.
			page, _ = b.pull(t, next)
			if got := ids(page); got[0] != "GSE1021" || b.fake.Count("esearch") != 2 {
				t.Fatalf("third page %v after %d searches", got, b.fake.Count("esearch"))
			}
		})
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, geotest.Series(10), nil)
	rec, err := b.src.Get(ctx, "gse1005")
	if err != nil {
		t.Fatal(err)
	}
	if rec.ID != "GSE1005" || !strings.Contains(string(rec.Metadata), `"accession":"GSE1005"`) {
		t.Fatalf("Get = %s %s", rec.ID, rec.Metadata)
	}
	for _, id := range []string{"GSE99999", "GDS1005", "GSM1"} {
		if _, err := b.src.Get(ctx, id); !errors.Is(err, sources.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, nil)
	if err := b.src.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	b.fake.Fail("einfo", geotest.Fault{Status: 503})
	if err := b.src.Health(context.Background()); err == nil {
		t.Fatal("Health passed on a 503")
	}
	if n := b.fake.Count("einfo"); n != 2 {
		t.Fatalf("%d einfo requests, want 2 (Health does not retry)", n)
	}
}

func TestHTTPErrors(t *testing.T) {
	t.Parallel()
	t.Run("429WithRetryAfter", func(t *testing.T) {
		t.Parallel()
		b := setup(t, geotest.Series(5), nil)
		b.fake.Fail("esummary", geotest.Fault{Status: 429, RetryAfter: "0.3", Body: `{"error":"API rate limit exceeded"}`})
		page, _ := b.pull(t, sources.Cursor{})
		if page.Fetched != 5 {
			t.Fatalf("fetched %d, want 5", page.Fetched)
		}
		reqs := b.fake.Requests()
		if len(reqs) != 3 {
			t.Fatalf("%d requests, want esearch + 429 + retry", len(reqs))
		}
		// The backoff of this source is milliseconds: only Retry-After explains a longer gap.
		if gap := reqs[2].At.Sub(reqs[1].At); gap < 300*time.Millisecond {
			t.Fatalf("retried after %v, before Retry-After (300ms)", gap)
		}
	})
	t.Run("503TwiceThenSuccess", func(t *testing.T) {
		t.Parallel()
		b := setup(t, geotest.Series(5), nil)
		b.fake.Fail("esummary", geotest.Fault{Status: 503}, geotest.Fault{Status: 503})
		page, _ := b.pull(t, sources.Cursor{})
		if page.Fetched != 5 || b.fake.Count("esummary") != 3 {
			t.Fatalf("fetched %d with %d esummary requests, want 5 with 3", page.Fetched, b.fake.Count("esummary"))
		}
	})
	t.Run("Timeout", func(t *testing.T) {
		t.Parallel()
		b := setup(t, geotest.Series(5), func(c *geo.Config) { c.Timeout = 100 * time.Millisecond })
		b.fake.Fail("esearch", geotest.Fault{Delay: 5 * time.Second})
		page, _ := b.pull(t, sources.Cursor{})
		if page.Fetched != 5 || b.fake.Count("esearch") != 2 {
			t.Fatalf("fetched %d with %d searches, want 5 with 2", page.Fetched, b.fake.Count("esearch"))
		}
	})
	t.Run("InvalidJSONOnce", func(t *testing.T) {
		t.Parallel()
		b := setup(t, geotest.Series(5), nil)
		b.fake.Fail("esummary", geotest.Fault{Body: `<html><body>Service unavailable</body></html>`})
		page, _ := b.pull(t, sources.Cursor{})
		if page.Fetched != 5 || b.fake.Count("esummary") != 2 {
			t.Fatalf("fetched %d with %d esummary requests, want 5 with 2", page.Fetched, b.fake.Count("esummary"))
		}
	})
	t.Run("GivesUpAfterFiveAttempts", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name  string
			fault geotest.Fault
			want  string
		}{
			{"503", geotest.Fault{Status: 503, Body: "down"}, "HTTP 503"},
			{"InvalidJSON", geotest.Fault{Body: `{"result": [`}, "not valid JSON"},
			{"Timeout", geotest.Fault{Delay: time.Second}, "no answer within 50ms"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				b := setup(t, geotest.Series(5), func(c *geo.Config) { c.Timeout = 50 * time.Millisecond })
				b.fake.Fail("esearch", tc.fault, tc.fault, tc.fault, tc.fault, tc.fault, tc.fault)
				_, _, err := b.src.Pull(context.Background(), sources.Cursor{})
				if err == nil || !strings.Contains(err.Error(), "after 5 attempts") || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want one naming 5 attempts and %q", err, tc.want)
				}
				if strings.Contains(err.Error(), "secret-key") {
					t.Fatalf("error shows the API key: %v", err)
				}
				if n := b.fake.Count("esearch"); n != 5 {
					t.Fatalf("%d attempts, want 5", n)
				}
			})
		}
	})
	t.Run("400IsPermanent", func(t *testing.T) {
		t.Parallel()
		b := setup(t, geotest.Series(5), nil)
		b.fake.Fail("esearch", geotest.Fault{Status: 400, Body: `{"error":"Invalid db name"}`})
		_, _, err := b.src.Pull(context.Background(), sources.Cursor{})
		if !errors.Is(err, sources.ErrPermanent) || b.fake.Count("esearch") != 1 {
			t.Fatalf("400: %v after %d requests, want a permanent error after 1", err, b.fake.Count("esearch"))
		}
	})
	t.Run("CancelStopsRetrying", func(t *testing.T) {
		t.Parallel()
		b := setup(t, geotest.Series(5), func(c *geo.Config) { c.BackoffBase = time.Minute })
		b.fake.Fail("esearch", geotest.Fault{Status: 503})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, _, err := b.src.Pull(ctx, sources.Cursor{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Pull = %v, want the context's error", err)
		}
	})
}

func TestPull(t *testing.T) {
	t.Parallel()
	b := setup(t, geotest.Series(250), nil)
	page, next := b.pull(t, sources.Cursor{})
	if page.Fetched != 100 || len(page.Records) != 100 || page.Total != 250 || next.Offset != 100 || next.Session == nil {
		t.Fatalf("first page: fetched %d, %d records, total %d, next offset %d", page.Fetched, len(page.Records), page.Total, next.Offset)
	}
	page, next = b.pull(t, next)
	page, next = b.pull(t, next)
	if got := ids(page); len(got) != 50 || got[0] != "GSE1201" || got[49] != "GSE1250" {
		t.Fatalf("last page %v", got)
	}
	// Past the end: an empty page and no request.
	before := len(b.fake.Requests())
	page, _ = b.pull(t, next)
	if page.Fetched != 0 || len(b.fake.Requests()) != before {
		t.Fatalf("past the end: fetched %d with %d new requests", page.Fetched, len(b.fake.Requests())-before)
	}

	reqs := b.fake.Requests()
	if len(reqs) != 4 || reqs[0].Endpoint != "esearch" {
		t.Fatalf("%d requests, want one esearch and three esummary", len(reqs))
	}
	search := reqs[0].Query
	if search.Get("db") != "gds" || search.Get("term") != "GSE[ETYP]" || search.Get("usehistory") != "y" || search.Get("retmode") != "json" {
		t.Fatalf("esearch query %v", search)
	}
	for i, r := range reqs {
		if r.Query.Get("tool") != "osa" || r.Query.Get("email") != "ops@example.org" || r.Query.Get("api_key") != "secret-key" {
			t.Fatalf("request %d (%s) lacks tool, email or api_key: %v", i, r.Endpoint, r.Query)
		}
	}
	for i, want := range []string{"0", "100", "200"} {
		q := reqs[i+1].Query
		if q.Get("version") != "2.0" || q.Get("retmode") != "json" || q.Get("WebEnv") == "" || q.Get("query_key") != "1" ||
			q.Get("retstart") != want || q.Get("retmax") != map[string]string{"0": "100", "100": "100", "200": "50"}[want] {
			t.Fatalf("esummary %d query %v", i, q)
		}
	}
}

func TestPullMetadata(t *testing.T) {
	t.Parallel()
	docs := []geotest.Doc{{
		UID: "200040726", Accession: "GSE40726", EntryType: "GSE", GPL: "7202;570", Taxon: "Mus musculus",
		Title:   "Transcriptional profiling of IRF4 -/- vs IRF4 +/- T-cells",
		Summary: "Transcriptional profiling of T-cells.", GDSType: "Expression profiling by array", PDAT: "2012/09/13", NSamples: 6,
	}}
	b := setup(t, docs, nil)
	page, _ := b.pull(t, sources.Cursor{})
	var got map[string]any
	if err := json.Unmarshal(page.Records[0].Metadata, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"accession":    "GSE40726",
		"title":        "Transcriptional profiling of IRF4 -/- vs IRF4 +/- T-cells",
		"summary":      "Transcriptional profiling of T-cells.",
		"organism":     "Mus musculus",
		"platform":     "GPL7202;GPL570",
		"sample_count": 6.0,
		"pub_date":     "2012-09-13",
		"entry_type":   "GSE",
		"gds_type":     "Expression profiling by array",
		"source_url":   "https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi?acc=GSE40726",
		// The fake's defaults for what the document does not set.
		"samples":             []any{"GSM200040726"},
		"supplementary_types": []any{"CEL"},
		"ftp_link":            "ftp://ftp.ncbi.nlm.nih.gov/geo/series/GSE40726/",
	}
	if len(got) != len(want) {
		t.Fatalf("metadata %v, want %v", got, want)
	}
	assertMetadata(t, got, want)
}

func TestRateLimiter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		apiKey   string
		perSec   float64
		requests int
	}{
		{"WithoutKey", "", 3, 10},
		{"WithKey", "secret-key", 10, 21},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, geotest.Series(tc.requests), func(c *geo.Config) {
				c.APIKey = tc.apiKey
				c.RateLimit = 0 // NCBI's limits
			})
			// One search and then pages of one summary: tc.requests requests in all.
			cur := sources.Cursor{PageSize: 1}
			for range tc.requests - 1 {
				_, cur = b.pull(t, cur)
			}
			reqs := b.fake.Requests()
			if len(reqs) != tc.requests {
				t.Fatalf("%d requests, want %d", len(reqs), tc.requests)
			}
			span := reqs[len(reqs)-1].At.Sub(reqs[0].At)
			rate := float64(len(reqs)-1) / span.Seconds()
			t.Logf("%d requests in %v: %.2f requests/s (limit %v)", len(reqs), span.Round(time.Millisecond), rate, tc.perSec)
			if rate > tc.perSec*1.1 || rate < tc.perSec*0.6 {
				t.Fatalf("measured %.2f requests/s, want about %v (at most +10%%)", rate, tc.perSec)
			}
			// And no one-second window holds more than the limit.
			for i := range reqs {
				n := 0
				for _, r := range reqs[i:] {
					if r.At.Sub(reqs[i].At) < time.Second-50*time.Millisecond {
						n++
					}
				}
				if n > int(tc.perSec) {
					t.Fatalf("%d requests within one second from request %d, limit %v", n, i, tc.perSec)
				}
			}
		})
	}
}

func TestRecordTypesAndSince(t *testing.T) {
	t.Parallel()
	t.Run("Since", func(t *testing.T) {
		t.Parallel()
		b := setup(t, geotest.Series(40), nil) // published 2020/01/01 .. 2020/02/09
		page, _ := b.pull(t, sources.Cursor{Since: "2020-02-01"})
		if page.Total != 9 || ids(page)[0] != "GSE1032" {
			t.Fatalf("since 2020-02-01: total %d, first %v", page.Total, ids(page))
		}
		if term := b.fake.Requests()[0].Query.Get("term"); term != "GSE[ETYP] AND 2020/02/01:3000[PDAT]" {
			t.Fatalf("term %q", term)
		}
		if _, _, err := b.src.Pull(context.Background(), sources.Cursor{Since: "1 Feb 2020"}); !errors.Is(err, sources.ErrPermanent) {
			t.Fatalf("a malformed since: %v, want a permanent error", err)
		}
	})
	t.Run("GDS", func(t *testing.T) {
		t.Parallel()
		docs := geotest.Series(3)
		docs = append(docs, geotest.Doc{UID: "3507", Accession: "GDS3507", EntryType: "GDS", Title: "Curated", PDAT: "2020/05/05", NSamples: 4})
		b := setup(t, docs, func(c *geo.Config) { c.RecordType = geo.RecordTypeGDS })
		page, _ := b.pull(t, sources.Cursor{})
		if got := ids(page); len(got) != 1 || got[0] != "GDS3507" {
			t.Fatalf("GDS records %v", got)
		}
		if !strings.Contains(string(page.Records[0].Metadata), `"source_url":"https://www.ncbi.nlm.nih.gov/sites/GDSbrowser?acc=GDS3507"`) {
			t.Fatalf("metadata %s", page.Records[0].Metadata)
		}
		if term := b.fake.Requests()[0].Query.Get("term"); term != "GDS[ETYP]" {
			t.Fatalf("term %q", term)
		}
	})
	t.Run("SkipsOtherAccessionsAndErrors", func(t *testing.T) {
		t.Parallel()
		docs := geotest.Series(5)
		docs[1].Accession = "GDS77" // listed as a series, but a DataSet accession
		docs[2].Accession = "GSM123"
		docs[3].Error = "cannot get document summary"
		b := setup(t, docs, nil)
		page, next := b.pull(t, sources.Cursor{})
		if got := ids(page); page.Fetched != 5 || page.Skipped != 3 || len(got) != 2 || got[0] != "GSE1001" || got[1] != "GSE1005" {
			t.Fatalf("fetched %d, skipped %d, records %v", page.Fetched, page.Skipped, got)
		}
		if next.Offset != 5 {
			t.Fatalf("next offset %d: skipped documents must count as consumed", next.Offset)
		}
	})
}
