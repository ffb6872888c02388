package server_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/durationpb"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/config"
)

// searchSRNs runs a search in mode and returns the SRNs of its hits.
func searchSRNs(t *testing.T, b *testBundle, query string, mode osav1.SearchMode) []string {
	t.Helper()
	sc := osav1connect.NewSearchServiceClient(http.DefaultClient, b.baseURL)
	res, err := sc.Search(context.Background(), connect.NewRequest(&osav1.SearchRequest{Query: query, Mode: mode}))
	if err != nil {
		t.Fatalf("search %q (%s): %v", query, mode, err)
	}
	out := make([]string, len(res.Msg.Hits))
	for i, h := range res.Msg.Hits {
		out[i] = h.Srn
	}
	return out
}

// A publish with wait_indexed answers once every live backend holds the record: a search made
// right after it finds the record, in the vector and in the keyword mode.
func TestPublishWaitIndexed(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	c := recordClient(b)
	modes := []osav1.SearchMode{osav1.SearchMode_SEARCH_MODE_VECTOR, osav1.SearchMode_SEARCH_MODE_KEYWORD}

	t.Run("PublishRecord", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		for i, word := range []string{"axolotl", "tardigrade", "planarian"} {
			res, err := c.PublishRecord(ctx, connect.NewRequest(&osav1.PublishRecordRequest{
				Metadata:    mustStruct(t, map[string]any{"title": word + " limb regeneration atlas"}),
				WaitIndexed: true,
			}))
			if err != nil {
				t.Fatal(err)
			}
			if !res.Msg.Indexed || len(res.Msg.NotIndexed) != 0 {
				t.Fatalf("publish %d: indexed %v, not indexed %v; want indexed everywhere", i, res.Msg.Indexed, res.Msg.NotIndexed)
			}
			for _, mode := range modes {
				if got := searchSRNs(t, b, word, mode); len(got) != 1 || got[0] != res.Msg.Record.Srn {
					t.Fatalf("%s search for %q right after the publish: %v, want %s", mode, word, got, res.Msg.Record.Srn)
				}
			}
		}
	})

	t.Run("PublishRecords", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		words := []string{"narwhal", "okapi", "pangolin", "quokka", "wombat", "xerus", "yapok", "zorilla"}
		reqs := make([]*osav1.PublishRecordRequest, len(words))
		for i, w := range words {
			reqs[i] = &osav1.PublishRecordRequest{Metadata: mustStruct(t, map[string]any{"title": w + " genome assembly"})}
		}
		res, err := c.PublishRecords(ctx, connect.NewRequest(&osav1.PublishRecordsRequest{Records: reqs, WaitIndexed: true,
			WaitTimeout: durationpb.New(30 * time.Second)}))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Msg.Indexed || len(res.Msg.NotIndexed) != 0 {
			t.Fatalf("indexed %v, not indexed %v; want every record indexed everywhere", res.Msg.Indexed, res.Msg.NotIndexed)
		}
		for i, w := range words {
			for _, mode := range modes {
				if got := searchSRNs(t, b, w, mode); len(got) != 1 || got[0] != res.Msg.Records[i].Srn {
					t.Fatalf("%s search for %q right after the publish: %v, want %s", mode, w, got, res.Msg.Records[i].Srn)
				}
			}
		}
	})

	t.Run("NewVersion", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		publish := func(title string) *osav1.PublishRecordResponse {
			t.Helper()
			res, err := c.PublishRecord(ctx, connect.NewRequest(&osav1.PublishRecordRequest{
				Metadata: mustStruct(t, map[string]any{"title": title}), Source: "lab", SourceId: "NV-1", WaitIndexed: true,
			}))
			if err != nil {
				t.Fatal(err)
			}
			if !res.Msg.Indexed {
				t.Fatalf("publish of %q: not indexed %v", title, res.Msg.NotIndexed)
			}
			return res.Msg
		}
		publish("quagga coat pattern survey")
		v2 := publish("aurochs coat pattern survey")
		if v2.Record.Version != 2 {
			t.Fatalf("second publish is version %d, want 2", v2.Record.Version)
		}
		for _, mode := range modes {
			if got := searchSRNs(t, b, "aurochs", mode); len(got) != 1 || got[0] != v2.Record.Srn {
				t.Fatalf("%s search for the new version's word: %v, want %s", mode, got, v2.Record.Srn)
			}
		}
		// The same metadata again keeps version 2, which is indexed: the wait ends at once.
		if again := publish("aurochs coat pattern survey"); !again.Unchanged || again.Record.Version != 2 {
			t.Fatalf("unchanged publish: unchanged %v, version %d", again.Unchanged, again.Record.Version)
		}
	})

	t.Run("EmptyIsReported", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		res, err := c.PublishRecord(context.Background(), connect.NewRequest(&osav1.PublishRecordRequest{
			Metadata: mustStruct(t, map[string]any{"sample_count": 12}), WaitIndexed: true,
			WaitTimeout: durationpb.New(30 * time.Second),
		}))
		if err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el > 15*time.Second {
			t.Fatalf("a record without text took %s: empty is terminal, the wait must not run out", el)
		}
		if res.Msg.Indexed || len(res.Msg.NotIndexed) != 2 {
			t.Fatalf("indexed %v, not indexed %v; want both backends reported", res.Msg.Indexed, res.Msg.NotIndexed)
		}
		for _, st := range res.Msg.NotIndexed {
			if st.State != osav1.IndexState_INDEX_STATE_EMPTY || st.LastError == "" {
				t.Fatalf("not indexed %v, want EMPTY with the reason", st)
			}
		}
	})
}

// A publish with wait_indexed on a server whose records are never indexed (no workers) answers
// when its wait_timeout runs out, successfully, naming every live backend as pending; without
// wait_timeout after records.wait_timeout_default; and before a client deadline that comes
// first.
func TestPublishWaitIndexedTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) {
		c.Node.Role = config.RoleAPI
		c.Records.WaitTimeoutDefault = 300 * time.Millisecond
	})
	c := recordClient(b)
	meta := mustStruct(t, map[string]any{"title": "Okapi stripe development"})

	// checkPending checks that sts names both backends, pending at version 1.
	checkPending := func(t *testing.T, sts []*osav1.BackendIndexStatus) {
		t.Helper()
		var names []string
		for _, st := range sts {
			if st.State != osav1.IndexState_INDEX_STATE_PENDING || st.PendingVersion != 1 || st.IndexedVersion != 0 {
				t.Fatalf("not indexed %v, want pending at version 1", st)
			}
			names = append(names, st.Backend)
		}
		if strings.Join(names, ",") != "vector,keyword" {
			t.Fatalf("not indexed on %v, want vector,keyword", names)
		}
	}
	for _, tc := range []struct {
		name    string
		ctx     time.Duration // the client's deadline; 0 for none
		timeout *durationpb.Duration
		want    time.Duration
	}{
		{"ClientDeadline", 700 * time.Millisecond, durationpb.New(20 * time.Second), 500 * time.Millisecond},
		{"Default", 0, nil, 300 * time.Millisecond},
		{"DefaultZero", 0, durationpb.New(0), 300 * time.Millisecond},
		{"WaitTimeout", 0, durationpb.New(800 * time.Millisecond), 800 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if tc.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctx)
				defer cancel()
			}
			start := time.Now()
			res, err := c.PublishRecord(ctx, connect.NewRequest(&osav1.PublishRecordRequest{Metadata: meta, WaitIndexed: true,
				WaitTimeout: tc.timeout}))
			el := time.Since(start)
			if err != nil {
				t.Fatalf("after %s: %v, want an answer saying what is not indexed", el, err)
			}
			if el < tc.want || el > tc.want+3*time.Second {
				t.Fatalf("answered after %s, want about %s", el, tc.want)
			}
			if res.Msg.Indexed {
				t.Fatal("indexed is true on a server without workers")
			}
			checkPending(t, res.Msg.NotIndexed)
		})
	}

	t.Run("PublishRecords", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		res, err := c.PublishRecords(context.Background(), connect.NewRequest(&osav1.PublishRecordsRequest{
			Records: []*osav1.PublishRecordRequest{{Metadata: meta}, {Metadata: meta}}, WaitIndexed: true,
			WaitTimeout: durationpb.New(400 * time.Millisecond),
		}))
		if el := time.Since(start); err != nil || el < 400*time.Millisecond || el > 4*time.Second {
			t.Fatalf("after %s: %v, want an answer after about 400ms", el, err)
		}
		if res.Msg.Indexed || len(res.Msg.NotIndexed) != 2 {
			t.Fatalf("indexed %v, not indexed %v; want both records reported", res.Msg.Indexed, res.Msg.NotIndexed)
		}
		for i, ni := range res.Msg.NotIndexed {
			if int(ni.Index) != i || ni.Srn != res.Msg.Records[i].Srn {
				t.Fatalf("not indexed [%d] is record %d (%s), want %d (%s)", i, ni.Index, ni.Srn, i, res.Msg.Records[i].Srn)
			}
			checkPending(t, ni.Backends)
		}
	})

	t.Run("WithoutWait", func(t *testing.T) {
		t.Parallel()
		res, err := c.PublishRecord(context.Background(), connect.NewRequest(&osav1.PublishRecordRequest{Metadata: meta}))
		if err != nil {
			t.Fatal(err)
		}
		if res.Msg.Indexed || len(res.Msg.NotIndexed) != 0 {
			t.Fatalf("without wait_indexed: indexed %v, not indexed %v; want neither", res.Msg.Indexed, res.Msg.NotIndexed)
		}
	})
}

// Bad wait_indexed and wait_timeout are InvalidArgument naming the field, and write nothing.
func TestPublishWaitIndexedBadInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, func(c *config.Config) {
		c.Node.Role = config.RoleAPI
		c.Records.WaitTimeoutDefault, c.Records.WaitTimeoutMax = time.Second, 5*time.Second
	})
	c := recordClient(b)
	meta := mustStruct(t, map[string]any{"title": "Quokka"})
	one := func(wait bool, d *durationpb.Duration) func() error {
		return func() error {
			_, err := c.PublishRecord(ctx, connect.NewRequest(&osav1.PublishRecordRequest{Metadata: meta, WaitIndexed: wait, WaitTimeout: d}))
			return err
		}
	}
	many := func(req *osav1.PublishRecordsRequest) func() error {
		return func() error {
			_, err := c.PublishRecords(ctx, connect.NewRequest(req))
			return err
		}
	}
	for _, tc := range []struct {
		name, field, says string
		call              func() error
	}{
		{"Negative", "wait_timeout", "negative", one(true, durationpb.New(-time.Second))},
		{"OverMax", "wait_timeout", "records.wait_timeout_max (5s)", one(true, durationpb.New(6*time.Second))},
		{"Invalid", "wait_timeout", "not a valid duration", one(true, &durationpb.Duration{Seconds: 1, Nanos: -1})},
		{"WithoutWait", "wait_timeout", "without wait_indexed", one(false, durationpb.New(time.Second))},
		{"BatchNegative", "wait_timeout", "negative", many(&osav1.PublishRecordsRequest{
			Records: []*osav1.PublishRecordRequest{{Metadata: meta}}, WaitIndexed: true, WaitTimeout: durationpb.New(-time.Millisecond)})},
		{"BatchOverMax", "wait_timeout", "records.wait_timeout_max", many(&osav1.PublishRecordsRequest{
			Records: []*osav1.PublishRecordRequest{{Metadata: meta}}, WaitIndexed: true, WaitTimeout: durationpb.New(time.Minute)})},
		{"RecordWaits", "records[1].wait_indexed", "PublishRecordsRequest", many(&osav1.PublishRecordsRequest{
			Records: []*osav1.PublishRecordRequest{{Metadata: meta}, {Metadata: meta, WaitIndexed: true}}})},
		{"RecordTimeout", "records[0].wait_timeout", "PublishRecordsRequest", many(&osav1.PublishRecordsRequest{
			Records: []*osav1.PublishRecordRequest{{Metadata: meta, WaitTimeout: durationpb.New(time.Second)}}, WaitIndexed: true})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.call()
			var ce *connect.Error
			if !errors.As(err, &ce) || ce.Code() != connect.CodeInvalidArgument ||
				!strings.HasPrefix(ce.Message(), tc.field+": ") || !strings.Contains(ce.Message(), tc.says) {
				t.Fatalf("got %v, want invalid_argument %q saying %q", err, tc.field, tc.says)
			}
		})
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, b.dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM records`).Scan(&n); err != nil || n != 0 {
			t.Errorf("%d records stored (%v) by refused publishes, want none", n, err)
		}
	})
}
