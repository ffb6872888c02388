package server_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
)

// TestSearchWhere: a where expression filters keyword, vector and hybrid searches through the
// server, beside the old filter; a bad one is InvalidArgument on field where with its
// position; ListRecords takes a where too; GetSearchFields lists the declared fields.
func TestSearchWhere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, nil)
	rc := recordClient(b)
	pub, err := rc.PublishRecords(ctx, connect.NewRequest(&osav1.PublishRecordsRequest{WaitIndexed: true, Records: []*osav1.PublishRecordRequest{
		{Metadata: mustStruct(t, map[string]any{"title": "Mouse heart regeneration", "organism": "Mus musculus",
			"sample_count": 12, "pub_date": "2023/05/01", "platform": []any{"GPL1", "GPL2"}})},
		{Metadata: mustStruct(t, map[string]any{"title": "Mouse heart development", "organism": "Mus musculus",
			"sample_count": 4, "pub_date": "2019/02/11", "platform": "GPL1"})},
		{Metadata: mustStruct(t, map[string]any{"title": "Human heart atlas", "organism": "Homo sapiens",
			"sample_count": "ten", "pub_date": "2024/01/01", "platform": "GPL2"})},
	}}))
	if err != nil {
		t.Fatal(err)
	}
	if len(pub.Msg.NotIndexed) != 0 {
		t.Fatalf("not indexed: %v", pub.Msg.NotIndexed)
	}
	srn := func(i int) string { return pub.Msg.Records[i].Srn }
	sc := osav1connect.NewSearchServiceClient(http.DefaultClient, b.baseURL)

	search := func(t *testing.T, req *osav1.SearchRequest) []string {
		t.Helper()
		res, err := sc.Search(ctx, connect.NewRequest(req))
		if err != nil {
			t.Fatalf("%s: %v", req.Where, err)
		}
		var got []string
		for _, h := range res.Msg.Hits {
			got = append(got, h.Srn)
		}
		slices.Sort(got)
		return got
	}
	for _, mode := range []osav1.SearchMode{osav1.SearchMode_SEARCH_MODE_KEYWORD, osav1.SearchMode_SEARCH_MODE_VECTOR, osav1.SearchMode_SEARCH_MODE_HYBRID} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			for _, c := range []struct {
				where  string
				filter map[string]any
				want   []string
			}{
				{``, nil, []string{srn(0), srn(1), srn(2)}},
				{`organism = "Mus musculus" AND sample_count >= 10 AND pub_date >= 2022-01-01`, nil, []string{srn(0)}},
				{`sample_count < 10 OR pub_date > 2023/12/31`, nil, []string{srn(1), srn(2)}},
				{`NOT sample_count >= 10`, nil, []string{srn(1), srn(2)}},
				{`platform = "GPL2"`, nil, []string{srn(0), srn(2)}},
				{`platform IN ["GPL2"] AND source EXISTS`, nil, []string{}},
				{`platform = "GPL1"`, map[string]any{"sample_count": 4}, []string{srn(1)}},
			} {
				req := &osav1.SearchRequest{Query: "heart", Mode: mode, Where: c.where}
				if c.filter != nil {
					req.Filter = mustStruct(t, c.filter)
				}
				got := search(t, req)
				if strings.Join(got, " ") != strings.Join(c.want, " ") {
					t.Errorf("%s (filter %v): got %v, want %v", c.where, c.filter, got, c.want)
				}
			}
		})
	}

	t.Run("Errors", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct{ where, want string }{
			{`organism = "Mus musculus" AND sample_count >=`, `where: at 46: expected a value after ">=", got the end`},
			{`sample_count >= "ten"`, `where: at 17: sample_count is a number; "ten" is not`},
			{`year = 2010`, `where: at 1: unknown field "year"; declared fields: entry_type, gds_type, organism, platform, pub_date, sample_count, source`},
		} {
			_, err := sc.Search(ctx, connect.NewRequest(&osav1.SearchRequest{Query: "heart", Where: c.where}))
			field, msg := fieldViolation(t, err)
			if field != "where" || msg != c.want {
				t.Errorf("%s: field %q, message %q; want where, %q", c.where, field, msg, c.want)
			}
		}
	})

	t.Run("ListRecords", func(t *testing.T) {
		t.Parallel()
		list := func(where string, size int32, token string) (*osav1.ListRecordsResponse, error) {
			res, err := rc.ListRecords(ctx, connect.NewRequest(&osav1.ListRecordsRequest{Where: where, PageSize: size, PageToken: token}))
			if err != nil {
				return nil, err
			}
			return res.Msg, nil
		}
		var got []string
		token := ""
		for {
			page, err := list(`platform = "GPL1" OR pub_date >= 2024-01-01`, 1, token)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page.Records {
				got = append(got, r.Srn)
			}
			if token = page.NextPageToken; token == "" {
				break
			}
		}
		slices.Sort(got)
		if want := []string{srn(0), srn(1), srn(2)}; !slices.Equal(got, want) {
			t.Fatalf("listed %v, want %v", got, want)
		}
		page, err := list(`sample_count > 10`, 0, "")
		if err != nil || len(page.Records) != 1 || page.Records[0].Srn != srn(0) {
			t.Fatalf("sample_count > 10 lists %v, %v", page, err)
		}
		_, err = list(`sample_count > ten`, 0, "")
		if field, msg := fieldViolation(t, err); field != "where" || msg != `where: at 16: expected a value after ">", got "ten"` {
			t.Fatalf("field %q, message %q", field, msg)
		}
	})

	t.Run("GetSearchFields", func(t *testing.T) {
		t.Parallel()
		res, err := sc.GetSearchFields(ctx, connect.NewRequest(&osav1.GetSearchFieldsRequest{}))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range res.Msg.Fields {
			got = append(got, f.Name+":"+f.Type)
		}
		want := "entry_type:keyword gds_type:keyword organism:keyword platform:keyword pub_date:date sample_count:number source:keyword"
		if strings.Join(got, " ") != want {
			t.Fatalf("fields %v, want %s", got, want)
		}
	})
}
