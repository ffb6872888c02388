package sdk_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/sdk"
	"github.com/osa-archive/osa/sources/geo/geotest"
)

// harvestServer starts a server whose source "geo" harvests docs from a fake E-utilities server.
func harvestServer(t *testing.T, docs []geotest.Doc) string {
	t.Helper()
	fake := geotest.New(t, docs)
	return newServer(t, func(c *config.Config) {
		src := config.DefaultSource("geo", config.SourceKindGeoEntrez)
		src.Geo.Email = "ops@example.org"
		src.Geo.BaseURL = fake.URL()
		src.Geo.PageSize = 10
		src.Geo.Timeout = 5 * time.Second
		c.Sources = []config.Source{src}
	})
}

// TestEveryCall runs every method of the client against a real server, once per protocol.
func TestEveryCall(t *testing.T) {
	t.Parallel()
	for _, p := range []sdk.Protocol{sdk.ProtocolConnectProto, sdk.ProtocolConnectJSON, sdk.ProtocolGRPC, sdk.ProtocolGRPCWeb} {
		t.Run(p.String(), func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			c := newClient(t, harvestServer(t, geotest.Series(5)), sdk.WithProtocol(p), sdk.WithPollInterval(10*time.Millisecond, 200*time.Millisecond))
			if c.Protocol() != p {
				t.Fatalf("Protocol() = %v, want %v", c.Protocol(), p)
			}

			// Publish, Get.
			rec, err := c.Publish(ctx, sdk.PublishParams{Metadata: map[string]any{
				"title": "Zebrafish heart regeneration", "organism": "Danio rerio", "year": 2021, "tags": []string{"heart", "fish"},
			}})
			if err != nil {
				t.Fatal(err)
			}
			if rec.Version != 1 || !strings.HasPrefix(rec.SRN, "urn:osa:localhost:rec:") || !strings.HasSuffix(rec.SRN, "@1") ||
				rec.Metadata["year"] != float64(2021) || rec.CreatedAt.IsZero() || rec.DeletedAt != nil {
				t.Fatalf("Publish = %+v", rec)
			}
			got, err := c.Get(ctx, rec.SRN)
			if err != nil {
				t.Fatal(err)
			}
			if got.SRN != rec.SRN || got.Metadata["title"] != "Zebrafish heart regeneration" || fmt.Sprint(got.Metadata["tags"]) != "[heart fish]" {
				t.Fatalf("Get = %+v", got)
			}

			// PublishMany with upserts, then Records of that source.
			var batch []sdk.PublishParams
			for i := range 7 {
				batch = append(batch, sdk.PublishParams{Metadata: map[string]any{"title": fmt.Sprintf("Mouse liver sample %d", i)},
					Source: "lab", SourceID: fmt.Sprint(i)})
			}
			results, err := c.PublishMany(ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			again, err := c.PublishMany(ctx, batch[:2])
			if err != nil {
				t.Fatal(err)
			}
			if !again[0].Unchanged || again[0].SRN != results[0].SRN {
				t.Fatalf("republished upsert = %+v, want unchanged %s", again[0], results[0].SRN)
			}
			n := 0
			for r, err := range c.Records(ctx, &sdk.RecordsParams{Source: "lab", PageSize: 3}) {
				if err != nil {
					t.Fatal(err)
				}
				if r.Source != "lab" || r.SRN != results[mustAtoi(t, r.SourceID)].SRN {
					t.Fatalf("Records yielded %+v", r)
				}
				n++
			}
			if n != 7 {
				t.Fatalf("Records yielded %d records of source lab, want 7", n)
			}

			// IndexStatus, WaitIndexed, Search.
			st, err := c.WaitIndexed(ctx, rec.SRN)
			if err != nil {
				t.Fatal(err)
			}
			if len(st.Backends) != 2 || st.Backend("vector").State != sdk.IndexIndexed || st.Backend("keyword").IndexedVersion != 1 {
				t.Fatalf("WaitIndexed = %+v", st)
			}
			st, err = c.IndexStatus(ctx, rec.SRN)
			if err != nil || !strings.HasPrefix(rec.SRN, st.SRN) || st.Backend("keyword").IndexedAt == nil {
				t.Fatalf("IndexStatus = %+v, %v", st, err)
			}
			for _, r := range results {
				if _, err := c.WaitIndexed(ctx, r.SRN, "keyword"); err != nil {
					t.Fatal(err)
				}
			}
			res, err := c.Search(ctx, "zebrafish heart", &sdk.SearchOpts{Mode: sdk.SearchKeyword, Limit: 3,
				Filter: map[string]any{"organism": "Danio rerio"}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Mode != sdk.SearchKeyword || len(res.Hits) != 1 || res.Hits[0].SRN != rec.SRN || res.Hits[0].KeywordRank != 1 ||
				len(res.Backends) != 1 || res.Backends[0] != "keyword" {
				t.Fatalf("Search = %+v", res)
			}
			res, err = c.Search(ctx, "liver sample", nil)
			if err != nil || res.Mode != sdk.SearchHybrid || len(res.Hits) == 0 {
				t.Fatalf("Search (defaults) = %+v, %v", res, err)
			}

			// Backends, QueueStats, RetryFailed.
			backends, err := c.Backends(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(backends) != 2 || backends[0].Name != "vector" || backends[0].Dims != 384 || backends[1].Kind != "keyword" ||
				!backends[1].Healthy || backends[1].Indexed < 8 || backends[1].Queue == "" {
				t.Fatalf("Backends = %+v", backends)
			}
			queues, err := c.QueueStats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]bool{}
			for _, q := range queues {
				names[q.Name] = true
			}
			if !names[backends[0].Queue] || !names[backends[1].Queue] {
				t.Fatalf("QueueStats = %+v, want the queues of %+v", queues, backends)
			}
			if n, err := c.RetryFailed(ctx, "keyword"); err != nil || n != 0 {
				t.Fatalf("RetryFailed = %d, %v", n, err)
			}

			// Reindex, ReindexJob, WaitReindex.
			job, err := c.Reindex(ctx, "keyword")
			if err != nil || job.Backend != "keyword" || job.ID <= 0 || job.State == "" {
				t.Fatalf("Reindex = %+v, %v", job, err)
			}
			if j, err := c.ReindexJob(ctx, job.ID); err != nil || j.ID != job.ID {
				t.Fatalf("ReindexJob = %+v, %v", j, err)
			}
			job, err = c.WaitReindex(ctx, job.ID, nil)
			if err != nil || job.State != sdk.ReindexSucceeded || job.Done != 8 || job.Total != 8 || !job.Ended() {
				t.Fatalf("WaitReindex = %+v, %v; want 8 of 8 records rebuilt", job, err)
			}
			if _, err := c.ReindexJob(ctx, 0); !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Fatalf("ReindexJob(0) = %v", err)
			}

			// Sources, StartHarvest, Harvest, WaitHarvest.
			srcs, err := c.Sources(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(srcs) != 1 || srcs[0].Name != "geo" || srcs[0].Kind != "geo_entrez" || !srcs[0].Enabled {
				t.Fatalf("Sources = %+v", srcs)
			}
			h, err := c.StartHarvest(ctx, "geo", &sdk.HarvestOpts{Limit: 4, ChunkSize: 2})
			if err != nil {
				t.Fatal(err)
			}
			if h.ID <= 0 || h.Source != "geo" || h.State != sdk.HarvestRunning {
				t.Fatalf("StartHarvest = %+v", h)
			}
			if h2, err := c.Harvest(ctx, h.ID); err != nil || h2.ID != h.ID {
				t.Fatalf("Harvest = %+v, %v", h2, err)
			}
			polls := 0
			h, err = c.WaitHarvest(ctx, h.ID, func(*sdk.Harvest) { polls++ })
			if err != nil {
				t.Fatal(err)
			}
			if h.State != sdk.HarvestSucceeded || h.Fetched != 4 || h.Published != 4 || h.FinishedAt == nil || polls == 0 || !h.Ended() {
				t.Fatalf("WaitHarvest = %+v after %d polls", h, polls)
			}
			n = 0
			for _, err := range c.Records(ctx, &sdk.RecordsParams{Source: "geo"}) {
				if err != nil {
					t.Fatal(err)
				}
				n++
			}
			if n != 4 {
				t.Fatalf("%d records of source geo after harvesting 4", n)
			}

			// Delete: the record stays readable as a tombstone and leaves the search results.
			if err := c.Delete(ctx, rec.SRN); err != nil {
				t.Fatal(err)
			}
			got, err = c.Get(ctx, rec.SRN)
			if err != nil || got.DeletedAt == nil {
				t.Fatalf("Get after Delete = %+v, %v", got, err)
			}
			st, err = c.WaitIndexed(ctx, rec.SRN)
			if err != nil || st.Backend("vector").State != sdk.IndexDeleted {
				t.Fatalf("WaitIndexed after Delete = %+v, %v", st, err)
			}
			res, err = c.Search(ctx, "zebrafish heart", &sdk.SearchOpts{Mode: sdk.SearchKeyword})
			if err != nil || len(res.Hits) != 0 {
				t.Fatalf("Search after Delete = %+v, %v", res, err)
			}
		})
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "localhost:8080", "ftp://example.org", "http://", "://x"} {
		if _, err := sdk.New(bad); err == nil || !strings.Contains(err.Error(), "base URL") {
			t.Errorf("New(%q) = %v, want an error about the base URL", bad, err)
		}
	}
	c, err := sdk.New("https://osa.example.org/api/")
	if err != nil || c.BaseURL() != "https://osa.example.org/api" || c.Protocol() != sdk.ProtocolConnectProto {
		t.Fatalf("New = %v, %v", c, err)
	}
	if _, err := sdk.New("http://localhost", sdk.WithProtocol(sdk.Protocol(42))); err == nil {
		t.Fatal("New accepted an unknown protocol")
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return n
}
