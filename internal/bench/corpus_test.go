package bench

import (
	"context"
	"reflect"
	"testing"

	"github.com/osa-archive/osa/backends/embed"
)

func TestCorpus(t *testing.T) {
	t.Parallel()

	t.Run("Deterministic", func(t *testing.T) {
		t.Parallel()
		a, b := Corpus(200), Corpus(50)
		if !reflect.DeepEqual(a[:50], b) {
			t.Fatal("Corpus(50) is not the first 50 records of Corpus(200)")
		}
		if !reflect.DeepEqual(a, Corpus(200)) {
			t.Fatal("two calls of Corpus(200) differ")
		}
	})

	t.Run("Chunks", func(t *testing.T) {
		t.Parallel()
		var all []map[string]any
		sizes := 0
		for chunk := range corpusChunks(250, 100) {
			all = append(all, chunk...)
			sizes = sizes*1000 + len(chunk)
		}
		if sizes != 100100050 || !reflect.DeepEqual(all, Corpus(250)) {
			t.Fatalf("corpusChunks(250, 100): chunks %d, not the records of Corpus(250)", sizes)
		}
	})

	t.Run("Fields", func(t *testing.T) {
		t.Parallel()
		accessions := map[any]bool{}
		for i, m := range Corpus(500) {
			for _, k := range []string{"accession", "title", "summary", "organism", "platform", "pub_date", "entry_type"} {
				if s, _ := m[k].(string); s == "" {
					t.Fatalf("record %d: %s is %v", i, k, m[k])
				}
			}
			if accessions[m["accession"]] {
				t.Fatalf("record %d: accession %v twice", i, m["accession"])
			}
			accessions[m["accession"]] = true
		}
	})

	// Records of a topic share words, so their hash embeddings cluster: a record's nearest
	// neighbour is far closer than an average other record. Uniformly random vectors would have
	// both near zero.
	t.Run("Clustered", func(t *testing.T) {
		t.Parallel()
		vecs, errs := embed.NewHash(embed.HashConfig{}).Embed(context.Background(), corpusTexts(Corpus(400)))
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var sum, nnSum float64
		for i := range vecs {
			nn := -1.0
			for j := range vecs {
				if i == j {
					continue
				}
				var d float64
				for k := range vecs[i] {
					d += float64(vecs[i][k] * vecs[j][k])
				}
				sum += d
				nn = max(nn, d)
			}
			nnSum += nn
		}
		mean := sum / float64(len(vecs)*(len(vecs)-1))
		nnMean := nnSum / float64(len(vecs))
		if nnMean < 0.4 || nnMean < 3*mean {
			t.Fatalf("mean cosine similarity %.3f, to the nearest neighbour %.3f: not clustered", mean, nnMean)
		}
	})
}
