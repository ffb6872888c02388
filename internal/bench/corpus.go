package bench

import (
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/osa-archive/osa/backends"
)

// CorpusSource is the source of the records the benchmarks load directly; a record's source id
// is its index in [Corpus].
const CorpusSource = "bench"

// CorpusSeed is the seed of the generated records: every run publishes the same records.
const CorpusSeed = 20240917

// Shape of the generated corpus.
const (
	corpusTopics     = 160 // clusters of records sharing a vocabulary
	topicDomainWords = 16  // words of one topic's own vocabulary drawn from [words]
	topicGenes       = 8   // gene symbols of one topic's own vocabulary
	topicWordShare   = 0.60
	domainWordShare  = 0.28 // the rest of the draws are gene symbols of the whole tail
	titleTopicShare  = 0.80
	geneSymbols      = 3000
	titleWordsMin    = 6
	titleWordsMax    = 12
	summaryWordsMin  = 40
	summaryWordsMax  = 110
	topicOrganismPct = 0.8
	queryWordsMin    = 2
	queryWordsMax    = 4
	queryWordsTries  = 20
)

// words is the fixed vocabulary the records are drawn from: the kind of words GEO series titles
// and summaries are made of.
var words = strings.Fields(`
acetylation adipocyte adult aging allele alveolar amplicon analysis antibody antigen apoptosis
array assay astrocyte atlas autophagy axon bacterial barrier binding biopsy blood bone brain
breast bulk calcium cancer carcinoma cardiac cartilage cell chromatin chronic circadian clonal
cohort colon colorectal comparative conditional control cortex culture cytokine damage
deficiency dendritic density development diabetes diet differentiation dimorphism disease
distal dna dopamine dose drosophila drug dynamics early editing effector embryo embryonic
endothelial enhancer enrichment epidermal epigenetic epithelial erythroid exosome expression
exposure fasting fate fatty fetal fibroblast fibrosis flux gastric gene genome genotype germ
glial glucose growth gut heart hematopoietic hepatic hepatocyte heterogeneity hippocampus
histone homeostasis hormone host hypoxia immune immunity induced infection inflammation
inhibitor injury insulin interferon intestinal island keratinocyte kidney kinase knockdown
knockout lactation larval lesion leukemia ligand lineage lipid liver locus long lung lymph
lymphocyte macrophage malignant mammary mapping marrow maternal matrix memory metabolic
metabolism metastasis methylation microbiome microglia mitochondrial model monocyte motor
mouse mucosal muscle mutant mutation myeloid neural neuron neutrophil niche nuclear nutrient
obesity oligodendrocyte oncogene organoid osteoblast ovarian oxidative pancreatic pathway
patient perturbation phenotype photoreceptor placenta plasma plasticity pluripotent
polymorphism population postnatal precursor primary profiling progenitor progression promoter
prostate protein proteome proximal pulmonary receptor recovery regeneration regulatory
remodeling renal repair replication repression resistance response retina rhythm ribosome
rna sarcoma secretory senescence sepsis sequencing serum signaling single skeletal skin sleep
somatic spatial spinal splicing stem stimulation stress stromal striatum subtype survival
synapse synaptic t-cell target therapy thymus tissue tolerance toxicity transcription
transcriptome transcriptomic transplant treatment tumor type vascular viral virus whole
wound xenograft zebrafish
`)

// glue are the short words between the content words of a summary.
var glue = strings.Fields(`the of and in to we a from with by that for were using on as is this`)

var organisms = []string{
	"Homo sapiens", "Mus musculus", "Rattus norvegicus", "Danio rerio", "Drosophila melanogaster",
	"Caenorhabditis elegans", "Saccharomyces cerevisiae", "Arabidopsis thaliana", "Sus scrofa",
	"Bos taurus", "Gallus gallus", "Macaca mulatta", "Escherichia coli", "Xenopus laevis",
}

var platforms = []string{"GPL16791", "GPL20301", "GPL24676", "GPL18573", "GPL21103", "GPL570", "GPL6246"}

// Corpus returns n generated records' metadata, the same for every call with the same n (the
// first n of an endless deterministic sequence): GEO-like series with an accession, a title, a
// summary, an organism, a platform, a sample count and a publication date.
//
// The words follow the shape of real series text: a head of common domain words whose
// frequencies fall off by rank (Zipf), a long tail of gene symbols, and topics. Each record
// belongs to one of 160 topics whose own vocabulary (16 domain words, 8 gene symbols) supplies
// most of its title and much of its summary, and whose organism it usually shares. The vectors
// an embedder makes of them are therefore clustered, as real text is, rather than uniformly
// random — a pathological HNSW test set (shared/postgres.md) — and a keyword matches a few
// percent of the records, not a fifth of them.
func Corpus(n int) []map[string]any {
	g := newCorpusGen()
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = g.next()
	}
	return out
}

// corpusChunks yields the records of Corpus(n) in chunks of size records (the last one
// shorter), each chunk drawn when it is asked for: a load of a million records holds one chunk
// at a time, not the corpus.
func corpusChunks(n, size int) iter.Seq[[]map[string]any] {
	return func(yield func([]map[string]any) bool) {
		g := newCorpusGen()
		for start := 0; start < n; start += size {
			chunk := make([]map[string]any, min(size, n-start))
			for i := range chunk {
				chunk[i] = g.next()
			}
			if !yield(chunk) {
				return
			}
		}
	}
}

// corpusTopic is one topic of the corpus: its own vocabulary and its usual organism.
type corpusTopic struct {
	vocab    []string
	organism string
}

// corpusGen draws the records of [Corpus] one after the other.
type corpusGen struct {
	r                    *rand.Rand
	domain, genes        []string
	domainRank, geneRank *rand.Zipf
	topics               []corpusTopic
	i                    int // the index of the next record
}

// newCorpusGen returns a generator at the first record of the sequence.
func newCorpusGen() *corpusGen {
	r := rand.New(rand.NewPCG(CorpusSeed, CorpusSeed^0x9e3779b97f4a7c15))
	domain := slices.Clone(words)
	r.Shuffle(len(domain), func(i, j int) { domain[i], domain[j] = domain[j], domain[i] })
	genes := geneList(r, geneSymbols)
	g := &corpusGen{r: r, domain: domain, genes: genes,
		domainRank: rand.NewZipf(r, 1.1, 8, uint64(len(domain)-1)),
		geneRank:   rand.NewZipf(r, 1.1, 8, uint64(len(genes)-1))}
	g.topics = make([]corpusTopic, corpusTopics)
	for i := range g.topics {
		vocab := make([]string, 0, topicDomainWords+topicGenes)
		for range topicDomainWords {
			vocab = append(vocab, domain[r.IntN(len(domain))])
		}
		for range topicGenes {
			vocab = append(vocab, genes[r.IntN(len(genes))])
		}
		r.Shuffle(len(vocab), func(i, j int) { vocab[i], vocab[j] = vocab[j], vocab[i] })
		g.topics[i] = corpusTopic{vocab: vocab, organism: organisms[r.IntN(len(organisms))]}
	}
	return g
}

// word draws from the topic's vocabulary with probability share (skewed towards its first
// words, as term frequencies are), else from the domain words by rank, else from the genes.
func (g *corpusGen) word(t corpusTopic, share float64) string {
	switch x := g.r.Float64(); {
	case x < share:
		return t.vocab[int(float64(len(t.vocab))*g.r.Float64()*g.r.Float64())]
	case x < share+domainWordShare*(1-share)/(1-topicWordShare):
		return g.domain[g.domainRank.Uint64()]
	default:
		return g.genes[g.geneRank.Uint64()]
	}
}

// next returns the next record's metadata.
func (g *corpusGen) next() map[string]any {
	r := g.r
	t := g.topics[r.IntN(len(g.topics))]
	title := make([]string, titleWordsMin+r.IntN(titleWordsMax-titleWordsMin+1))
	for j := range title {
		title[j] = g.word(t, titleTopicShare)
	}
	title[0] = strings.ToUpper(title[0][:1]) + title[0][1:]

	var summary strings.Builder
	nw := summaryWordsMin + r.IntN(summaryWordsMax-summaryWordsMin+1)
	for j := range nw {
		switch {
		case j == 0:
		case r.IntN(12) == 0:
			summary.WriteString(". ")
		default:
			summary.WriteByte(' ')
		}
		if j > 0 && r.IntN(3) == 0 {
			summary.WriteString(glue[r.IntN(len(glue))])
			summary.WriteByte(' ')
		}
		summary.WriteString(g.word(t, topicWordShare))
	}
	summary.WriteByte('.')

	organism := t.organism
	if r.Float64() >= topicOrganismPct {
		organism = organisms[r.IntN(len(organisms))]
	}
	m := map[string]any{
		"accession":    fmt.Sprintf("GSE%d", 100000+g.i),
		"title":        strings.Join(title, " "),
		"summary":      summary.String(),
		"organism":     organism,
		"platform":     platforms[r.IntN(len(platforms))],
		"sample_count": float64(2 + r.IntN(96)),
		"pub_date":     fmt.Sprintf("20%02d/%02d/%02d", 10+r.IntN(15), 1+r.IntN(12), 1+r.IntN(28)),
		"entry_type":   "GSE",
	}
	g.i++
	return m
}

// geneList returns n distinct gene-like symbols (SOX2, KRT14, CD8A, ...), drawn with r.
func geneList(r *rand.Rand, n int) []string {
	const letters = "ABCDEFGHIKLMNPRSTVWXYZ"
	seen := make(map[string]bool, n)
	out := make([]string, 0, n)
	for len(out) < n {
		var b strings.Builder
		for range 2 + r.IntN(3) {
			b.WriteByte(letters[r.IntN(len(letters))])
		}
		if r.IntN(5) > 0 {
			fmt.Fprint(&b, 1+r.IntN(30))
		}
		if r.IntN(6) == 0 {
			b.WriteByte(letters[r.IntN(len(letters))])
		}
		if s := b.String(); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// isGlue reports whether w is one of the short words between content words.
func isGlue(w string) bool { return slices.Contains(glue, w) }

// corpusTexts returns the text a backend with the default text settings indexes for each record
// ([backends.Text]): the texts the raw HNSW ceiling embeds, so it inserts the same vectors as
// the pgvector backend.
func corpusTexts(corpus []map[string]any) []string {
	texts := make([]string, len(corpus))
	for i, m := range corpus {
		texts[i] = backends.Text(m, backends.TextConfig{})
	}
	return texts
}
