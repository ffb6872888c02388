package sdk_test

import (
	"errors"
	"testing"
	"time"

	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/sdk"
)

// PublishWithOpts and PublishManyWithOpts with WaitIndexed answer once the live backends hold
// the records: a search right after finds them, in the vector and the keyword mode.
func TestPublishWaitIndexed(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := newClient(t, newServer(t, nil))
	wait := &sdk.PublishOpts{WaitIndexed: true}
	find := func(t *testing.T, word, srn string) {
		t.Helper()
		for _, mode := range []sdk.SearchMode{sdk.SearchVector, sdk.SearchKeyword} {
			res, err := c.Search(ctx, word, &sdk.SearchOpts{Mode: mode})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Hits) != 1 || res.Hits[0].SRN != srn {
				t.Fatalf("%s search for %q right after the publish: %+v, want %s", mode, word, res.Hits, srn)
			}
		}
	}

	res, err := c.PublishWithOpts(ctx, sdk.PublishParams{Metadata: map[string]any{"title": "Axolotl limb atlas"}}, wait)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Indexed || res.NotIndexed != nil || res.Version != 1 || res.Err != nil {
		t.Fatalf("PublishWithOpts = %+v, want version 1 indexed", res)
	}
	find(t, "axolotl", res.SRN)

	words := []string{"narwhal", "okapi", "pangolin"}
	params := make([]sdk.PublishParams, len(words))
	for i, w := range words {
		params[i] = sdk.PublishParams{Metadata: map[string]any{"title": w + " genome"}}
	}
	results, err := c.PublishManyWithOpts(ctx, params, &sdk.PublishOpts{WaitIndexed: true, WaitTimeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		if !r.Indexed || r.NotIndexed != nil {
			t.Fatalf("result %d = %+v, want indexed", i, r)
		}
		find(t, words[i], r.SRN)
	}
}

// On a server that indexes nothing (no workers) a wait runs out and the results name the
// backends; a bad WaitTimeout is an invalid argument naming the field.
func TestPublishWaitIndexedTimeout(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := newClient(t, newServer(t, func(cfg *config.Config) { cfg.Node.Role = config.RoleAPI }))
	opts := &sdk.PublishOpts{WaitIndexed: true, WaitTimeout: 300 * time.Millisecond}
	pending := func(t *testing.T, r sdk.PublishResult) {
		t.Helper()
		if r.Indexed || len(r.NotIndexed) != 2 {
			t.Fatalf("result %+v, want both backends not indexed", r)
		}
		for _, st := range r.NotIndexed {
			if st.State != sdk.IndexPending || st.PendingVersion != 1 {
				t.Fatalf("not indexed %+v, want pending at 1", st)
			}
		}
	}

	start := time.Now()
	res, err := c.PublishWithOpts(ctx, sdk.PublishParams{Metadata: map[string]any{"title": "Quokka"}}, opts)
	if err != nil || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("PublishWithOpts after %s: %v, want an answer after the timeout", time.Since(start), err)
	}
	pending(t, *res)

	results, err := c.PublishManyWithOpts(ctx, []sdk.PublishParams{
		{Metadata: map[string]any{"title": "Wombat"}}, {Metadata: map[string]any{"title": "Xerus"}},
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		pending(t, r)
	}

	_, err = c.PublishWithOpts(ctx, sdk.PublishParams{Metadata: map[string]any{"title": "Yapok"}},
		&sdk.PublishOpts{WaitIndexed: true, WaitTimeout: -time.Second})
	var e *sdk.Error
	if !errors.As(err, &e) || e.Code != sdk.CodeInvalidArgument || e.Field != "wait_timeout" {
		t.Fatalf("negative WaitTimeout: %v, want invalid_argument on wait_timeout", err)
	}
	_, err = c.PublishManyWithOpts(ctx, []sdk.PublishParams{{Metadata: map[string]any{"title": "Zorilla"}}},
		&sdk.PublishOpts{WaitIndexed: true, WaitTimeout: time.Hour})
	if !errors.As(err, &e) || e.Code != sdk.CodeInvalidArgument || e.Field != "wait_timeout" {
		t.Fatalf("WaitTimeout over the server's max: %v, want invalid_argument on wait_timeout", err)
	}
}
