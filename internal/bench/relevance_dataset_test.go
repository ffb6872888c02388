package bench

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeDataset writes files (path relative to the folder → content) into a new folder and
// returns it.
func writeDataset(tb testing.TB, files map[string]string) string {
	tb.Helper()
	dir := tb.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

const (
	testCorpus = `{"_id": "d1", "title": "Cats", "text": "Cats purr."}
{"_id": 42, "text": "A number for an id, no title."}

{"_id": "d3", "title": "Dogs", "text": "Dogs bark.", "metadata": {}}
`
	testQueries = `{"_id": "q1", "text": "purring cats"}
{"_id": "q2", "text": "barking"}
{"_id": "q3", "text": "not judged"}
`
	testQrels = "query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\t42\t1\r\nq2\td3\t1\nq2\tmissing\t0\n"
)

func TestLoadDataset(t *testing.T) {
	t.Parallel()

	t.Run("SplitFiles", func(t *testing.T) {
		t.Parallel()
		dir := writeDataset(t, map[string]string{"corpus.jsonl": testCorpus, "queries_train.jsonl": testQueries,
			"qrels_train.tsv": testQrels, "queries.jsonl": `{"_id": "other", "text": "x"}`})
		ds, err := loadDataset(dir, "train")
		if err != nil {
			t.Fatal(err)
		}
		wantDocs := []datasetDoc{{"d1", "Cats", "Cats purr."}, {"42", "", "A number for an id, no title."}, {"d3", "Dogs", "Dogs bark."}}
		if !slices.Equal(ds.docs, wantDocs) {
			t.Errorf("docs %+v, want %+v", ds.docs, wantDocs)
		}
		if want := []datasetQuery{{"q1", "purring cats"}, {"q2", "barking"}}; !slices.Equal(ds.queries, want) {
			t.Errorf("queries %+v, want %+v (q3 has no judgements)", ds.queries, want)
		}
		if ds.qrels["q1"]["d1"] != 2 || ds.qrels["q1"]["42"] != 1 || ds.qrels["q2"]["d3"] != 1 || len(ds.qrels["q2"]) != 2 || ds.judgements() != 4 {
			t.Errorf("qrels %v", ds.qrels)
		}
		if ds.queriesFile != filepath.Join(dir, "queries_train.jsonl") || ds.qrelsFile != filepath.Join(dir, "qrels_train.tsv") {
			t.Errorf("files %s, %s", ds.queriesFile, ds.qrelsFile)
		}
	})

	t.Run("SharedFiles", func(t *testing.T) {
		t.Parallel()
		// queries.jsonl and qrels/<split>.tsv, space-separated; no header line.
		dir := writeDataset(t, map[string]string{"corpus.jsonl": testCorpus, "queries.jsonl": testQueries,
			"qrels/test.tsv": "q3 d3 1\n"})
		ds, err := loadDataset(dir, "test")
		if err != nil {
			t.Fatal(err)
		}
		if len(ds.queries) != 1 || ds.queries[0].id != "q3" || ds.qrels["q3"]["d3"] != 1 {
			t.Errorf("queries %+v, qrels %v", ds.queries, ds.qrels)
		}
		if ds.queriesFile != filepath.Join(dir, "queries.jsonl") || ds.qrelsFile != filepath.Join(dir, "qrels", "test.tsv") {
			t.Errorf("files %s, %s", ds.queriesFile, ds.qrelsFile)
		}
	})
}

func TestLoadDatasetErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		file, content  string
		line           int
		want           string
		withoutQueries bool
	}{
		{name: "CorpusNotJSON", file: "corpus.jsonl", content: `{"_id": "a", "text": "x"}` + "\n{nope\n", line: 2, want: "not a JSON object"},
		{name: "CorpusNoID", file: "corpus.jsonl", content: `{"title": "t", "text": "x"}`, line: 1, want: `"_id" is missing`},
		{name: "CorpusEmptyID", file: "corpus.jsonl", content: `{"_id": "", "text": "x"}`, line: 1, want: `"_id" is empty`},
		{name: "CorpusBadID", file: "corpus.jsonl", content: `{"_id": ["a"], "text": "x"}`, line: 1, want: `"_id" must be a string or a number`},
		{name: "CorpusRepeatedID", file: "corpus.jsonl", content: "{\"_id\": \"a\", \"text\": \"x\"}\n\n{\"_id\": \"a\", \"text\": \"y\"}\n", line: 3,
			want: `document "a" repeats line 1`},
		{name: "CorpusNoText", file: "corpus.jsonl", content: `{"_id": "a", "title": "t"}`, line: 1, want: `document "a" has no "text"`},
		{name: "CorpusEmpty", file: "corpus.jsonl", content: "\n", want: "has no documents"},
		{name: "QueryNoText", file: "queries_train.jsonl", content: `{"_id": "q1", "text": "x"}` + "\n" + `{"_id": "q2", "text": " "}`, line: 2,
			want: `query "q2" has no "text"`},
		{name: "QueryRepeated", file: "queries_train.jsonl", content: `{"_id": "q1", "text": "x"}` + "\n" + `{"_id": "q1", "text": "y"}`, line: 2,
			want: `query "q1" repeats line 1`},
		{name: "QrelsFields", file: "qrels_train.tsv", content: "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\n", line: 3,
			want: "want 3 tab-separated fields"},
		{name: "QrelsScore", file: "qrels_train.tsv", content: "query-id\tcorpus-id\tscore\nq1\td1\thigh\n", line: 2,
			want: `score "high" is not an integer`},
		{name: "QrelsUnknownQuery", file: "qrels_train.tsv", content: "query-id\tcorpus-id\tscore\nq9\td1\t1\n", line: 2,
			want: `query "q9" is not in queries_train.jsonl`},
		{name: "QrelsRepeated", file: "qrels_train.tsv", content: "q1\td1\t1\nq1\td1\t2\n", line: 2, want: `query "q1", document "d1" repeats line 1`},
		{name: "QrelsJudgeNothing", file: "qrels_train.tsv", content: "query-id\tcorpus-id\tscore\n", want: "judges none of the queries"},
		{name: "NoQueries", withoutQueries: true, want: "none of"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			files := map[string]string{"corpus.jsonl": `{"_id": "d1", "text": "x"}`, "queries_train.jsonl": `{"_id": "q1", "text": "x"}`,
				"qrels_train.tsv": "query-id\tcorpus-id\tscore\nq1\td1\t1\n"}
			if tc.withoutQueries {
				delete(files, "queries_train.jsonl")
			} else {
				files[tc.file] = tc.content
			}
			dir := writeDataset(t, files)
			_, err := loadDataset(dir, "train")
			if err == nil {
				t.Fatalf("loadDataset succeeded, want an error with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if tc.withoutQueries {
				if !strings.Contains(err.Error(), filepath.Join(dir, "queries_train.jsonl")) || !strings.Contains(err.Error(), filepath.Join(dir, "queries.jsonl")) {
					t.Errorf("error %q does not name both queries files", err)
				}
				return
			}
			var de *DatasetError
			if !errors.As(err, &de) || de.File != filepath.Join(dir, tc.file) || de.Line != tc.line {
				t.Fatalf("error %q (%T), want a *DatasetError at %s line %d", err, err, tc.file, tc.line)
			}
			prefix := filepath.Join(dir, tc.file) + ":"
			if tc.line > 0 {
				prefix += fmt.Sprint(tc.line) + ":"
			}
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q does not start with %q", err, prefix)
			}
		})
	}
}

func TestDatasetSmokeSlice(t *testing.T) {
	t.Parallel()
	ds := &dataset{qrels: map[string]map[string]int{}}
	for i := range 700 {
		ds.docs = append(ds.docs, datasetDoc{id: fmt.Sprintf("d%03d", i)})
	}
	for i := range 40 {
		q := datasetQuery{id: fmt.Sprintf("q%d", i)}
		ds.queries = append(ds.queries, q)
		// Each query judges two documents from the end of the corpus, and one not in it.
		ds.qrels[q.id] = map[string]int{fmt.Sprintf("d%03d", 699-i): 1, fmt.Sprintf("d%03d", 660-i): 2, "elsewhere": 1}
	}
	s := ds.smokeSlice()
	if len(s.queries) != RelevanceSmokeQueries || s.queries[0].id != "q0" || s.queries[29].id != "q29" {
		t.Fatalf("queries %v", s.queries)
	}
	if len(s.docs) != RelevanceSmokeDocs {
		t.Fatalf("%d documents, want %d", len(s.docs), RelevanceSmokeDocs)
	}
	kept := map[string]bool{}
	for _, d := range s.docs[:60] {
		kept[d.id] = true
	}
	for _, q := range s.queries {
		if len(s.qrels[q.id]) != 2 {
			t.Errorf("%s: judgements %v, want the 2 of documents kept", q.id, s.qrels[q.id])
		}
		for id := range s.qrels[q.id] {
			if !kept[id] {
				t.Errorf("%s judges %s, which is not among the first 60 documents kept", q.id, id)
			}
		}
	}
	if s.docs[60].id != "d000" || s.docs[499].id != "d439" {
		t.Errorf("the other documents start with %s and end with %s, want d000 and d439", s.docs[60].id, s.docs[499].id)
	}
}
