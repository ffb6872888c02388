package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Sizes of the slice of a dataset that [RelevanceOpts.Smoke] runs.
const (
	// RelevanceSmokeQueries is the number of judged queries of a smoke run: the first ones in
	// the queries file.
	RelevanceSmokeQueries = 30
	// RelevanceSmokeJudgedDocs is the most documents judged for those queries that a smoke run
	// keeps.
	RelevanceSmokeJudgedDocs = 300
	// RelevanceSmokeDocs is the corpus of a smoke run: the judged documents, then the other
	// documents in file order up to this many.
	RelevanceSmokeDocs = 500
)

// datasetMaxLine is the longest line a dataset file may have; bufio.Scanner's default (64 KiB)
// is shorter than some corpora's abstracts.
const datasetMaxLine = 64 << 20

// DatasetError is a problem in one line of a dataset file (Line 0: the file as a whole).
type DatasetError struct {
	// File is the path of the file.
	File string
	// Line is the 1-based line number, 0 when the problem is not in one line.
	Line int
	// Err says what is wrong.
	Err error
}

// Error returns "file:line: problem", or "file: problem" without a line.
func (e *DatasetError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

// Unwrap returns the problem.
func (e *DatasetError) Unwrap() error { return e.Err }

// dataset is a retrieval benchmark in BEIR's layout: a corpus, queries and judgements (qrels).
type dataset struct {
	// corpusFile, queriesFile and qrelsFile are the paths read.
	corpusFile, queriesFile, qrelsFile string
	// docs are the corpus's documents in file order.
	docs []datasetDoc
	// queries are the queries that have judgements, in the order of the queries file.
	queries []datasetQuery
	// qrels maps a query id to its judged documents' scores (graded; 0 or less is not relevant).
	qrels map[string]map[string]int
}

// datasetDoc is one document of a corpus.
type datasetDoc struct{ id, title, text string }

// datasetQuery is one query.
type datasetQuery struct{ id, text string }

// judgements returns the number of judgements of the queries.
func (d *dataset) judgements() int {
	n := 0
	for _, q := range d.queries {
		n += len(d.qrels[q.id])
	}
	return n
}

// loadDataset reads the dataset in dir: dir/corpus.jsonl (lines {"_id", "title", "text"}), the
// queries of split from dir/queries_<split>.jsonl or else dir/queries.jsonl (lines {"_id",
// "text"}), and its judgements from dir/qrels_<split>.tsv or else dir/qrels/<split>.tsv
// (query-id, corpus-id, integer score; tab-separated, after a header line). Only the queries
// that have judgements are kept. A malformed line is a [*DatasetError] naming the file and line.
func loadDataset(dir, split string) (*dataset, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	d := &dataset{corpusFile: filepath.Join(dir, "corpus.jsonl")}
	var err error
	if d.queriesFile, err = firstExisting(filepath.Join(dir, "queries_"+split+".jsonl"), filepath.Join(dir, "queries.jsonl")); err != nil {
		return nil, err
	}
	if d.qrelsFile, err = firstExisting(filepath.Join(dir, "qrels_"+split+".tsv"), filepath.Join(dir, "qrels", split+".tsv")); err != nil {
		return nil, err
	}
	if d.docs, err = readCorpus(d.corpusFile); err != nil {
		return nil, err
	}
	queries, err := readQueries(d.queriesFile)
	if err != nil {
		return nil, err
	}
	known := make(map[string]bool, len(queries))
	for _, q := range queries {
		known[q.id] = true
	}
	if d.qrels, err = readQrels(d.qrelsFile, known, filepath.Base(d.queriesFile)); err != nil {
		return nil, err
	}
	for _, q := range queries {
		if len(d.qrels[q.id]) > 0 {
			d.queries = append(d.queries, q)
		}
	}
	if len(d.queries) == 0 {
		return nil, &DatasetError{File: d.qrelsFile, Err: errors.New("judges none of the queries")}
	}
	return d, nil
}

// firstExisting returns the first of paths that exists, or an error naming them all.
func firstExisting(paths ...string) (string, error) {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("dataset: none of %s exists", strings.Join(paths, ", "))
}

// readCorpus reads a corpus.jsonl file.
func readCorpus(path string) ([]datasetDoc, error) {
	var (
		docs []datasetDoc
		seen = map[string]int{}
	)
	err := readLines(path, func(n int, line []byte) error {
		var v struct {
			ID    json.RawMessage `json:"_id"`
			Title *string         `json:"title"`
			Text  *string         `json:"text"`
		}
		if err := json.Unmarshal(line, &v); err != nil {
			return fmt.Errorf("not a JSON object {\"_id\", \"title\", \"text\"}: %w", err)
		}
		id, err := datasetID(v.ID)
		if err != nil {
			return err
		}
		if first, ok := seen[id]; ok {
			return fmt.Errorf("document %q repeats line %d", id, first)
		}
		seen[id] = n
		if v.Text == nil {
			return fmt.Errorf("document %q has no \"text\"", id)
		}
		doc := datasetDoc{id: id, text: *v.Text}
		if v.Title != nil {
			doc.title = *v.Title
		}
		docs = append(docs, doc)
		return nil
	})
	if err == nil && len(docs) == 0 {
		err = &DatasetError{File: path, Err: errors.New("has no documents")}
	}
	return docs, err
}

// readQueries reads a queries.jsonl file.
func readQueries(path string) ([]datasetQuery, error) {
	var (
		queries []datasetQuery
		seen    = map[string]int{}
	)
	err := readLines(path, func(n int, line []byte) error {
		var v struct {
			ID   json.RawMessage `json:"_id"`
			Text string          `json:"text"`
		}
		if err := json.Unmarshal(line, &v); err != nil {
			return fmt.Errorf("not a JSON object {\"_id\", \"text\"}: %w", err)
		}
		id, err := datasetID(v.ID)
		if err != nil {
			return err
		}
		if first, ok := seen[id]; ok {
			return fmt.Errorf("query %q repeats line %d", id, first)
		}
		seen[id] = n
		if strings.TrimSpace(v.Text) == "" {
			return fmt.Errorf("query %q has no \"text\"", id)
		}
		queries = append(queries, datasetQuery{id: id, text: v.Text})
		return nil
	})
	return queries, err
}

// readQrels reads a qrels TSV file: a header line, then "query-id corpus-id score" lines. Every
// query id must be in known (the queries of queriesName).
func readQrels(path string, known map[string]bool, queriesName string) (map[string]map[string]int, error) {
	qrels := map[string]map[string]int{}
	seen := map[[2]string]int{}
	header := true
	err := readLines(path, func(n int, line []byte) error {
		first := header
		header = false
		f := strings.Split(string(line), "\t")
		if len(f) != 3 {
			f = strings.Fields(string(line)) // space-separated files exist too
		}
		if len(f) != 3 {
			return fmt.Errorf("want 3 tab-separated fields (query-id, corpus-id, score), got %d", len(f))
		}
		q, doc, s := strings.TrimSpace(f[0]), strings.TrimSpace(f[1]), strings.TrimSpace(f[2])
		score, err := strconv.Atoi(s)
		if err != nil {
			if first {
				return nil // the header line
			}
			return fmt.Errorf("score %q is not an integer", s)
		}
		if q == "" || doc == "" {
			return errors.New("empty query-id or corpus-id")
		}
		if !known[q] {
			return fmt.Errorf("query %q is not in %s", q, queriesName)
		}
		if first, ok := seen[[2]string{q, doc}]; ok {
			return fmt.Errorf("query %q, document %q repeats line %d", q, doc, first)
		}
		seen[[2]string{q, doc}] = n
		if qrels[q] == nil {
			qrels[q] = map[string]int{}
		}
		qrels[q][doc] = score
		return nil
	})
	return qrels, err
}

// readLines calls fn with every non-blank line of the file at path (without its line ending)
// and its 1-based number; an error of fn becomes a [*DatasetError] at that line.
func readLines(path string, fn func(n int, line []byte) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), datasetMaxLine)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimRight(sc.Bytes(), "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if err := fn(n, line); err != nil {
			return &DatasetError{File: path, Line: n, Err: err}
		}
	}
	if err := sc.Err(); err != nil {
		return &DatasetError{File: path, Line: n + 1, Err: err}
	}
	return nil
}

// datasetID decodes an "_id": a non-empty string, or a number (some corpora write them bare).
func datasetID(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", errors.New("\"_id\" is missing")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		if s == "" {
			return "", errors.New("\"_id\" is empty")
		}
		return s, nil
	}
	var num json.Number
	if err := json.Unmarshal(raw, &num); err == nil {
		return num.String(), nil
	}
	return "", fmt.Errorf("\"_id\" must be a string or a number, got %s", raw)
}

// smokeSlice returns the part of d a smoke run measures: the first [RelevanceSmokeQueries]
// queries; the documents of the corpus judged for them (at most [RelevanceSmokeJudgedDocs], query
// by query, each query's by id), then the other documents in file order up to
// [RelevanceSmokeDocs]; and those queries' judgements of the documents kept (a query left without
// any is dropped).
func (d *dataset) smokeSlice() *dataset {
	out := &dataset{corpusFile: d.corpusFile, queriesFile: d.queriesFile, qrelsFile: d.qrelsFile,
		queries: d.queries[:min(len(d.queries), RelevanceSmokeQueries)], qrels: map[string]map[string]int{}}
	inCorpus := make(map[string]int, len(d.docs))
	for i, doc := range d.docs {
		inCorpus[doc.id] = i
	}
	keep := map[string]bool{}
	for _, q := range out.queries {
		for _, id := range slices.Sorted(maps.Keys(d.qrels[q.id])) {
			if i, ok := inCorpus[id]; ok && !keep[id] && len(out.docs) < RelevanceSmokeJudgedDocs {
				keep[id] = true
				out.docs = append(out.docs, d.docs[i])
			}
		}
	}
	for _, doc := range d.docs {
		if len(out.docs) >= RelevanceSmokeDocs {
			break
		}
		if !keep[doc.id] {
			keep[doc.id] = true
			out.docs = append(out.docs, doc)
		}
	}
	for _, q := range out.queries {
		for id, score := range d.qrels[q.id] {
			if keep[id] {
				if out.qrels[q.id] == nil {
					out.qrels[q.id] = map[string]int{}
				}
				out.qrels[q.id][id] = score
			}
		}
	}
	out.queries = slices.DeleteFunc(slices.Clone(out.queries), func(q datasetQuery) bool { return len(out.qrels[q.id]) == 0 })
	return out
}
