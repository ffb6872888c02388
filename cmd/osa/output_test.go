package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
)

// callAPI calls procedure ("osa.v1.SearchService/Search") of the server at base with the JSON
// body req, as curl of the Connect JSON API does, and returns the answer's body.
func callAPI(t *testing.T, base, procedure, req string) string {
	t.Helper()
	resp, err := http.Post(base+"/"+procedure, "application/json", strings.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s %s: %s\n%s", procedure, req, resp.Status, body)
	}
	return string(body)
}

// decodeJSON decodes s, which must be one JSON value.
func decodeJSON(t *testing.T, what, s string) any {
	t.Helper()
	var v any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s is not JSON (%v):\n%s", what, err, s)
	}
	return v
}

// requireSameJSON fails t unless got and want are the same JSON value, whatever their spacing
// and key order.
func requireSameJSON(t *testing.T, what, got, want string) {
	t.Helper()
	if g, w := decodeJSON(t, what, got), decodeJSON(t, "the API's answer", want); !reflect.DeepEqual(g, w) {
		t.Fatalf("%s is not the API's answer:\n%s\nthe API answers:\n%s", what, got, want)
	}
}

func TestPrintJSON(t *testing.T) {
	t.Parallel()
	t.Run("APIForm", func(t *testing.T) {
		t.Parallel()
		var b bytes.Buffer
		err := printJSON(&b, &osav1.SearchResponse{Mode: osav1.SearchMode_SEARCH_MODE_VECTOR, Backends: []string{"vector"},
			Hits: []*osav1.SearchHit{{Srn: "urn:osa:localhost:rec:x@1", VectorRank: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		want := `{
  "hits": [
    {
      "srn": "urn:osa:localhost:rec:x@1",
      "vectorRank": 1
    }
  ],
  "mode": "SEARCH_MODE_VECTOR",
  "backends": [
    "vector"
  ]
}
`
		if b.String() != want {
			t.Fatalf("printJSON wrote\n%s\nwant\n%s", b.String(), want)
		}
	})
	t.Run("Merged", func(t *testing.T) {
		t.Parallel()
		var b bytes.Buffer
		at := timestamppb.New(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC))
		err := printJSON(&b, &osav1.GetRecordResponse{Record: &osav1.Record{Srn: "s@1", Version: 1, CreatedAt: at}},
			&osav1.ListBackendsResponse{}, &osav1.GetIndexStatusResponse{Srn: "s",
				Statuses: []*osav1.BackendIndexStatus{{Backend: "kw", State: osav1.IndexState_INDEX_STATE_INDEXED}}})
		if err != nil {
			t.Fatal(err)
		}
		want := `{"record": {"srn": "s@1", "version": 1, "createdAt": "2024-05-06T07:08:09Z"}, "srn": "s",
			"statuses": [{"backend": "kw", "state": "INDEX_STATE_INDEXED"}]}`
		requireSameJSON(t, "printJSON of three messages", b.String(), want)
	})
	t.Run("Empty", func(t *testing.T) {
		t.Parallel()
		var b bytes.Buffer
		if err := printJSON(&b, &osav1.ListBackendsResponse{}); err != nil || b.String() != "{}\n" {
			t.Fatalf("printJSON of an empty message wrote %q (%v), want {}", b.String(), err)
		}
	})
}

// TestJSONIsTheAPIs checks that every command's --json prints the API's answer to the same
// request, as curl of the Connect JSON API shows it: lowerCamelCase names (vectorRank), enum
// names (SEARCH_MODE_VECTOR). osa harvest's is checked in TestHarvestCommand.
func TestJSONIsTheAPIs(t *testing.T) {
	t.Parallel()
	base := startClientServer(t, nil)
	cli := func(args ...string) string {
		t.Helper()
		out, _ := mustRunCLI(t, "", append(args, "--json", "--server", base)...)
		return out
	}
	out, _ := mustRunCLI(t, `{"title": "Zebrafish heart regeneration", "organism": "Danio rerio", "year": 2021}
{"metadata": {"title": "Mouse heart development"}, "source": "lab", "source_id": "MH-1"}
`, "publish", "-", "--wait", "--json", "--server", base)
	var line struct {
		SRN string `json:"srn"`
	}
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &line); err != nil || line.SRN == "" {
		t.Fatalf("publish --json printed %q (%v)", out, err)
	}
	srn := line.SRN

	t.Run("Search", func(t *testing.T) {
		out := cli("search", "heart", "--mode", "vector")
		for _, want := range []string{`"vectorRank": 1`, `"mode": "SEARCH_MODE_VECTOR"`} {
			if !strings.Contains(out, want) {
				t.Fatalf("search --json lacks %s:\n%s", want, out)
			}
		}
		requireSameJSON(t, "search --mode vector --json", out,
			callAPI(t, base, "osa.v1.SearchService/Search", `{"query": "heart", "mode": "SEARCH_MODE_VECTOR"}`))
		out = cli("search", "heart", "regeneration", "--limit", "1", "--offset", "0", "--filter", "year=2021")
		requireSameJSON(t, "search --json", out, callAPI(t, base, "osa.v1.SearchService/Search",
			`{"query": "heart regeneration", "limit": 1, "filter": {"year": 2021}}`))
		if !strings.Contains(out, `"keywordRank"`) || !strings.Contains(out, `"SEARCH_MODE_HYBRID"`) {
			t.Fatalf("hybrid search --json lacks keywordRank or SEARCH_MODE_HYBRID:\n%s", out)
		}
	})
	t.Run("Get", func(t *testing.T) {
		record := callAPI(t, base, "osa.v1.RecordService/GetRecord", `{"srn": "`+srn+`"}`)
		requireSameJSON(t, "get --json", cli("get", srn), record)
		// --status: the fields of both answers in one object.
		status := callAPI(t, base, "osa.v1.RecordService/GetIndexStatus", `{"srn": "`+srn+`"}`)
		want := strings.TrimSuffix(strings.TrimSpace(record), "}") + "," + strings.TrimPrefix(strings.TrimSpace(status), "{")
		requireSameJSON(t, "get --status --json", cli("get", srn, "--status"), want)
	})
	t.Run("Backends", func(t *testing.T) {
		backends := callAPI(t, base, "osa.v1.SearchService/ListBackends", `{}`)
		requireSameJSON(t, "backends list --json", cli("backends", "list"), backends)
		doc := "backends:\n  - {name: vector, kind: pgvector}\n  - {name: keyword, kind: keyword}\n  - {name: kw2, kind: keyword}\n"
		req, _ := json.Marshal(map[string]any{"document": doc, "dryRun": true})
		requireSameJSON(t, "backends apply --dry-run --json", cli("backends", "apply", writeTemp(t, "b.yaml", doc), "--dry-run"),
			callAPI(t, base, "osa.v1.AdminService/ApplyBackends", string(req)))

		// status: ListBackends' backends and GetQueueStats' queues, without the figures that
		// move with the clock.
		got := decodeJSON(t, "status --json", cli("status")).(map[string]any)
		queues := decodeJSON(t, "GetQueueStats", callAPI(t, base, "osa.v1.AdminService/GetQueueStats", `{}`)).(map[string]any)
		want := decodeJSON(t, "ListBackends", backends).(map[string]any)
		want["queues"] = queues["queues"]
		for _, m := range []map[string]any{got, want} {
			for _, q := range m["queues"].([]any) {
				delete(q.(map[string]any), "completedPerSecond")
				delete(q.(map[string]any), "oldestAvailableAge")
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("status --json is not the API's answers:\n%v\nthe API answers:\n%v", got, want)
		}
	})
	t.Run("Reindex", func(t *testing.T) {
		out := cli("reindex", "keyword", "--wait", "--progress", "none")
		var res struct {
			Reindex struct {
				ID string `json:"id"`
			} `json:"reindex"`
		}
		if err := json.Unmarshal([]byte(out), &res); err != nil || res.Reindex.ID == "" {
			t.Fatalf("reindex --json printed %s (%v)", out, err)
		}
		requireSameJSON(t, "reindex --wait --json", out, callAPI(t, base, "osa.v1.AdminService/GetReindex", `{"id": "`+res.Reindex.ID+`"}`))
		if !strings.Contains(out, `"REINDEX_STATE_SUCCEEDED"`) || !strings.Contains(out, `"finishedAt"`) {
			t.Fatalf("reindex --json is not in the API's form:\n%s", out)
		}
	})
}
