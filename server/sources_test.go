package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/internal/pgtest"
	"github.com/osa-archive/osa/server"
	"github.com/osa-archive/osa/sources/geo/geotest"
)

// geoSource is an enabled geo_entrez source on the fake E-utilities server at baseURL; its API
// key raises the rate limit to 10 requests/s.
func geoSource(name, baseURL string) config.Source {
	s := config.DefaultSource(name, config.SourceKindGeoEntrez)
	s.Geo.Email = "ops@example.org"
	s.Geo.APIKey = "test-key"
	s.Geo.BaseURL = baseURL
	s.Geo.PageSize = 10
	s.Geo.Timeout = time.Second
	return s
}

func sourceClient(b *testBundle) osav1connect.SourceServiceClient {
	return osav1connect.NewSourceServiceClient(http.DefaultClient, b.baseURL)
}

// waitHarvest polls GetHarvest until the harvest is no longer running.
func waitHarvest(t *testing.T, c osav1connect.SourceServiceClient, id int64) *osav1.Harvest {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.GetHarvest(context.Background(), connect.NewRequest(&osav1.GetHarvestRequest{Id: id}))
		if err != nil {
			t.Fatal(err)
		}
		if h := resp.Msg.Harvest; h.State != osav1.HarvestState_HARVEST_STATE_RUNNING {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("harvest %d still running after 30s", id)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestDefaultGeoSourceIsListedDisabled(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, nil)
	c := sourceClient(b)
	resp, err := c.ListSources(ctx, connect.NewRequest(&osav1.ListSourcesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Msg.Sources) != 1 {
		t.Fatalf("sources %v, want the built-in geo", resp.Msg.Sources)
	}
	if s := resp.Msg.Sources[0]; s.Name != "geo" || s.Kind != "geo_entrez" || s.Enabled || s.LastHarvest != nil {
		t.Fatalf("built-in source %v, want geo, disabled, never harvested", s)
	}
	_, err = c.StartHarvest(ctx, connect.NewRequest(&osav1.StartHarvestRequest{Source: "geo"}))
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("harvest of the disabled source: %v, want failed_precondition saying it is disabled", err)
	}
}

func TestHarvestThroughTheAPI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := geotest.New(t, geotest.Series(25))
	b := setup(t, func(c *config.Config) {
		c.Sources = []config.Source{geoSource("geo", fake.URL())}
		c.Sources[0].Schedule = "0 3 * * *"
	})
	c := sourceClient(b)

	start, err := c.StartHarvest(ctx, connect.NewRequest(&osav1.StartHarvestRequest{Source: "geo", Limit: 22, ChunkSize: 10}))
	if err != nil {
		t.Fatal(err)
	}
	h := start.Msg.Harvest
	if h.Id <= 0 || h.State != osav1.HarvestState_HARVEST_STATE_RUNNING || h.Limit != 22 || h.ChunkSize != 10 || h.StartedAt == nil {
		t.Fatalf("started %v", h)
	}
	h = waitHarvest(t, c, h.Id)
	if h.State != osav1.HarvestState_HARVEST_STATE_SUCCEEDED || h.Total != 22 || h.Fetched != 22 || h.Published != 22 ||
		h.Unchanged != 0 || h.Skipped != 0 || h.Error != "" || h.FinishedAt == nil {
		t.Fatalf("harvest %v, want succeeded with 22", h)
	}

	list, err := c.ListSources(ctx, connect.NewRequest(&osav1.ListSourcesRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	s := list.Msg.Sources[0]
	if !s.Enabled || s.Schedule != "0 3 * * *" || s.LastHarvest.GetId() != h.Id || s.LastHarvest.State != osav1.HarvestState_HARVEST_STATE_SUCCEEDED {
		t.Fatalf("listed %v, want geo with its last harvest %d", s, h.Id)
	}

	recs, err := recordClient(b).ListRecords(ctx, connect.NewRequest(&osav1.ListRecordsRequest{Source: "geo", PageSize: 100}))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs.Msg.Records) != 22 {
		t.Fatalf("%d records of source geo, want 22", len(recs.Msg.Records))
	}
	r := recs.Msg.Records[0]
	if r.Source != "geo" || !strings.HasPrefix(r.SourceId, "GSE") || r.Metadata.Fields["accession"].GetStringValue() != r.SourceId ||
		r.Metadata.Fields["source_url"].GetStringValue() == "" {
		t.Fatalf("harvested record %v", r)
	}

	// GetHarvest has no side effects: plain HTTP GET works too.
	code, body := get(t, b.baseURL+"/"+osav1connect.SourceServiceName+"/GetHarvest?encoding=json&message=%7B%22id%22%3A1%7D")
	if code != http.StatusOK || !strings.Contains(body, `"HARVEST_STATE_SUCCEEDED"`) {
		t.Fatalf("GET GetHarvest = %d %s", code, body)
	}
}

func TestStartHarvestErrorCodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := geotest.New(t, geotest.Series(5))
	arrived, release := fake.Hold(0) // the first harvest stays running until the test ends
	b := setup(t, func(c *config.Config) {
		off := geoSource("off", fake.URL())
		off.Enabled = false
		c.Sources = []config.Source{geoSource("geo", fake.URL()), off}
	})
	t.Cleanup(release)
	c := sourceClient(b)

	for _, tc := range []struct {
		name string
		req  *osav1.StartHarvestRequest
		code connect.Code
		want string
	}{
		{"NoSource", &osav1.StartHarvestRequest{}, connect.CodeInvalidArgument, "source: is required"},
		{"UnknownSource", &osav1.StartHarvestRequest{Source: "nope"}, connect.CodeNotFound, `source: unknown source "nope" (configured: [geo off])`},
		{"Disabled", &osav1.StartHarvestRequest{Source: "off"}, connect.CodeFailedPrecondition, `"off" cannot be harvested until it is enabled`},
		{"NegativeLimit", &osav1.StartHarvestRequest{Source: "geo", Limit: -1}, connect.CodeInvalidArgument, "limit: -1 is negative"},
		{"NegativeChunk", &osav1.StartHarvestRequest{Source: "geo", ChunkSize: -1}, connect.CodeInvalidArgument, "chunk_size: -1 is negative"},
		{"ChunkOverMax", &osav1.StartHarvestRequest{Source: "geo", ChunkSize: 501}, connect.CodeInvalidArgument, "chunk_size: 501 is over the maximum of 500"},
		{"SinceNotADate", &osav1.StartHarvestRequest{Source: "geo", Since: "2024/01/01"}, connect.CodeInvalidArgument, `since: "2024/01/01" is not a date in YYYY-MM-DD form`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.StartHarvest(ctx, connect.NewRequest(tc.req))
			var ce *connect.Error
			if !errors.As(err, &ce) || ce.Code() != tc.code || !strings.Contains(ce.Message(), tc.want) {
				t.Fatalf("StartHarvest(%v) = %v, want %v containing %q", tc.req, err, tc.code, tc.want)
			}
		})
	}

	t.Run("AlreadyRunning", func(t *testing.T) {
		t.Parallel()
		first, err := c.StartHarvest(ctx, connect.NewRequest(&osav1.StartHarvestRequest{Source: "geo"}))
		if err != nil {
			t.Fatal(err)
		}
		<-arrived
		_, err = c.StartHarvest(ctx, connect.NewRequest(&osav1.StartHarvestRequest{Source: "geo", Limit: 3}))
		want := fmt.Sprintf("harvest %d of source \"geo\" is still running", first.Msg.Harvest.Id)
		if connect.CodeOf(err) != connect.CodeAlreadyExists || !strings.Contains(err.Error(), want) {
			t.Fatalf("second harvest: %v, want already_exists naming harvest %d", err, first.Msg.Harvest.Id)
		}
	})
	t.Run("GetHarvest", func(t *testing.T) {
		t.Parallel()
		_, err := c.GetHarvest(ctx, connect.NewRequest(&osav1.GetHarvestRequest{}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "id: must be positive") {
			t.Fatalf("GetHarvest(0) = %v", err)
		}
		_, err = c.GetHarvest(ctx, connect.NewRequest(&osav1.GetHarvestRequest{Id: 999}))
		if connect.CodeOf(err) != connect.CodeNotFound {
			t.Fatalf("GetHarvest(999) = %v, want not_found", err)
		}
	})
}

func TestBadScheduleIsAStartupError(t *testing.T) {
	t.Parallel()
	cfg := config.Default()
	cfg.Database.URL = pgtest.NewURL(t)
	src := geoSource("geo", "http://127.0.0.1:1/")
	src.Schedule = "61 * * * *" // five fields, but no minute 61
	cfg.Sources = []config.Source{src}
	_, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), `source "geo": schedule "61 * * * *"`) {
		t.Fatalf("server.New = %v, want an error naming the schedule", err)
	}
}

// TestGetHarvestReportsWhatItCouldNotDo: the uids NCBI could not return and the values left
// out of records reach GetHarvest (issue 15 items 13 and 14).
func TestGetHarvestReportsWhatItCouldNotDo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	docs := geotest.Series(12)
	docs[2].Error = "cannot get document summary"
	docs[7].Error = "cannot get document summary"
	docs[5].Raw = map[string]any{"n_samples": geotest.NoSampleCount}
	fake := geotest.New(t, docs)
	b := setup(t, func(c *config.Config) {
		c.Sources = []config.Source{geoSource("geo", fake.URL())}
		c.Sources[0].MaxUnfetchedIDs = 1
	})
	c := sourceClient(b)
	start, err := c.StartHarvest(ctx, connect.NewRequest(&osav1.StartHarvestRequest{Source: "geo"}))
	if err != nil {
		t.Fatal(err)
	}
	h := waitHarvest(t, c, start.Msg.Harvest.Id)
	if h.State != osav1.HarvestState_HARVEST_STATE_SUCCEEDED || h.Published != 10 || h.Skipped != 2 || h.Unfetched != 2 ||
		len(h.UnfetchedIds) != 1 || (h.UnfetchedIds[0] != docs[2].UID && h.UnfetchedIds[0] != docs[7].UID) || h.Warnings != 1 {
		t.Fatalf("harvest %v, want 2 unfetched (1 listed) and 1 warning", h)
	}
}
