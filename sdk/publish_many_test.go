package sdk_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/sdk"
)

// TestPublishMany publishes 2500 records in three chunks, five of them bad (two in one chunk,
// one caught before sending), and checks that every good record is published in order and
// every bad one reports its own index.
func TestPublishMany(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := newClient(t, newServer(t, nil))
	const total = 2500
	bad := map[int]string{
		5:    "records[5].metadata",           // missing
		1200: "records[1200].metadata",        // empty key
		1500: "records[1500].source_id",       // source without source_id
		1501: "records[1501].metadata.score",  // NaN, caught by the client
		2499: "records[2499].metadata.nested", // empty key, nested
	}
	params := make([]sdk.PublishParams, total)
	for i := range params {
		params[i] = sdk.PublishParams{Metadata: map[string]any{"n": i}, Source: "bulk", SourceID: fmt.Sprint(i)}
	}
	params[5].Metadata = nil
	params[1200].Metadata = map[string]any{"": 1}
	params[1500].SourceID = ""
	params[1501].Metadata = map[string]any{"score": math.NaN()}
	params[2499].Metadata = map[string]any{"nested": map[string]any{"": true}}

	results, err := c.PublishMany(ctx, params)
	var pe *sdk.PublishManyError
	if !errors.As(err, &pe) || pe.Failed != len(bad) || pe.Total != total || pe.Aborted || !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Fatalf("PublishMany error = %v, want a PublishManyError of %d invalid records", err, len(bad))
	}
	if len(results) != total {
		t.Fatalf("%d results for %d records", len(results), total)
	}
	srnOf := map[string]int{}
	for i, r := range results {
		field, isBad := bad[i]
		if !isBad {
			if r.Err != nil || r.SRN == "" || r.Version != 1 {
				t.Fatalf("result %d = %+v, want published", i, r)
			}
			srnOf[r.SRN] = i
			continue
		}
		var e *sdk.Error
		if !errors.As(r.Err, &e) || e.Code != sdk.CodeInvalidArgument || !strings.HasPrefix(e.Field, field) ||
			!strings.HasPrefix(e.Message, fmt.Sprintf("records[%d]", i)) || r.SRN != "" {
			t.Errorf("result %d = %+v (%#v), want invalid_argument on %s", i, r, e, field)
		}
	}
	// Order: the record stored under each SRN is the one at that index.
	n := 0
	for rec, err := range c.Records(ctx, &sdk.RecordsParams{Source: "bulk", PageSize: 1000}) {
		if err != nil {
			t.Fatal(err)
		}
		i, ok := srnOf[rec.SRN]
		if !ok || rec.SourceID != fmt.Sprint(i) || rec.Metadata["n"] != float64(i) {
			t.Fatalf("record %s (source_id %s, n %v) was returned for index %d", rec.SRN, rec.SourceID, rec.Metadata["n"], i)
		}
		n++
	}
	if n != total-len(bad) {
		t.Fatalf("%d records stored, want %d", n, total-len(bad))
	}

	// Nothing to publish is no call and no error.
	if res, err := c.PublishMany(ctx, nil); err != nil || len(res) != 0 {
		t.Fatalf("PublishMany(nil) = %v, %v", res, err)
	}
}

// TestPublishManySplits checks that chunks over the server's request size or batch limit are
// split, and that a single record over the request size is reported alone.
func TestPublishManySplits(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := newClient(t, newServer(t, func(c *config.Config) {
		c.HTTP.ReadMaxBytes = 64 << 10
		c.Records.MaxBatch = 100
	}))
	params := make([]sdk.PublishParams, 700)
	for i := range params {
		params[i] = sdk.PublishParams{Metadata: map[string]any{"n": i, "text": strings.Repeat("x", 500)}}
	}
	params[321].Metadata = map[string]any{"text": strings.Repeat("y", 100<<10)} // over read_max_bytes alone
	results, err := c.PublishMany(ctx, params)
	var pe *sdk.PublishManyError
	if !errors.As(err, &pe) || pe.Failed != 1 || !errors.Is(err, sdk.ErrInvalidArgument) {
		t.Fatalf("PublishMany error = %v, want one record over the size limit", err)
	}
	for i, r := range results {
		switch {
		case i == 321:
			var e *sdk.Error
			if !errors.As(r.Err, &e) || e.Code != sdk.CodeInvalidArgument || e.Field != "records[321]" ||
				!strings.Contains(e.Message, "http.read_max_bytes") {
				t.Fatalf("result 321 = %+v, want invalid_argument naming records[321] and http.read_max_bytes", r)
			}
		case r.Err != nil || r.SRN == "":
			t.Fatalf("result %d = %+v, want published", i, r)
		}
	}
}

// TestPublishManyAborts checks that a failure that is no record's fault stops the call.
func TestPublishManyAborts(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	base := newServer(t, func(c *config.Config) {
		c.Auth.Tokens = []config.Token{{Name: "ci", SHA256: strings.Repeat("ab", 32), Scopes: []string{config.ScopeRecordsWrite}}}
	})
	c := newClient(t, base, sdk.WithToken("osa_not_a_valid_token"))
	params := make([]sdk.PublishParams, 1500)
	for i := range params {
		params[i] = sdk.PublishParams{Metadata: map[string]any{"n": i}}
	}
	results, err := c.PublishMany(ctx, params)
	var pe *sdk.PublishManyError
	if !errors.As(err, &pe) || !pe.Aborted || pe.Failed != 1500 || !errors.Is(err, sdk.ErrUnauthenticated) {
		t.Fatalf("PublishMany error = %v, want an aborted call of 1500 unauthenticated records", err)
	}
	for i, r := range results {
		if !errors.Is(r.Err, sdk.ErrUnauthenticated) {
			t.Fatalf("result %d = %+v, want unauthenticated", i, r)
		}
	}
}

// TestPublishManyTwoBad: of two records, both rejected, each result names its own index. The
// retry after the first rejection sends one record, whose error once named its field without
// the index ("source_id"), and PublishMany gave up.
func TestPublishManyTwoBad(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := newClient(t, newServer(t, nil))
	params := []sdk.PublishParams{
		{Metadata: map[string]any{"title": "a"}, Source: "lab"},
		{Metadata: map[string]any{"title": "b"}, SourceID: "B-1"},
	}
	results, err := c.PublishMany(ctx, params)
	var pe *sdk.PublishManyError
	if !errors.As(err, &pe) || pe.Failed != 2 || pe.Aborted {
		t.Fatalf("PublishMany error = %v, want both records rejected, not an abort", err)
	}
	for i, r := range results {
		var e *sdk.Error
		if want := fmt.Sprintf("records[%d].source_id", i); !errors.As(r.Err, &e) || e.Field != want {
			t.Errorf("result %d = %+v, want invalid_argument on %s", i, r.Err, want)
		}
	}
}
