package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
)

// One rule for the search limit, stated the same for 0 and for too much; a query of only spaces
// is refused like an empty one; an SRN of another domain says whose it is.
func TestErrorsSayTheRule(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, nil)
	sc := osav1connect.NewSearchServiceClient(http.DefaultClient, b.baseURL)
	for _, limit := range []int32{0, 100000} {
		_, err := sc.Search(ctx, connect.NewRequest(&osav1.SearchRequest{Query: "heart", Limit: proto.Int32(limit)}))
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "limit: must be between 1 and 100 (leave it unset for 20)") {
			t.Errorf("limit %d: %v, want the one rule", limit, err)
		}
	}
	_, err := sc.Search(ctx, connect.NewRequest(&osav1.SearchRequest{Query: "  \t "}))
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "query: is only spaces") {
		t.Errorf("an all-whitespace query: %v, want invalid_argument naming query", err)
	}
	rc := recordClient(b)
	_, err = rc.GetRecord(ctx, connect.NewRequest(&osav1.GetRecordRequest{Srn: "urn:osa:other.org:rec:01a242fa-36bc-79f2-92c7-5fed9c000a32"}))
	if connect.CodeOf(err) != connect.CodeNotFound || !strings.Contains(err.Error(), `belongs to domain "other.org", and this archive's domain is "localhost"`) {
		t.Errorf("an SRN of another domain: %v, want not_found saying whose it is", err)
	}
}
