package bench

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/osa-archive/osa/backends"
)

// CorpusSeed is the seed of the generated records: every run publishes the same records.
const CorpusSeed = 20240917

// Shape of the generated corpus.
const (
	corpusTopics     = 48 // clusters of records sharing a vocabulary
	topicVocabulary  = 40 // words of one topic
	topicWordShare   = 0.75
	titleWordsMin    = 6
	titleWordsMax    = 12
	summaryWordsMin  = 40
	summaryWordsMax  = 110
	topicOrganismPct = 0.8
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
// The records form clusters: each belongs to one of 48 topics whose own 40-word vocabulary
// supplies most of its title and summary words, and whose organism it usually shares. The
// vectors an embedder makes of them are therefore clustered, as real text is, rather than
// uniformly random — a pathological HNSW test set (shared/postgres.md).
func Corpus(n int) []map[string]any {
	r := rand.New(rand.NewPCG(CorpusSeed, CorpusSeed^0x9e3779b97f4a7c15))
	type topic struct {
		vocab    []string
		organism string
	}
	topics := make([]topic, corpusTopics)
	for i := range topics {
		vocab := make([]string, topicVocabulary)
		for j := range vocab {
			vocab[j] = words[r.IntN(len(words))]
		}
		topics[i] = topic{vocab: vocab, organism: organisms[r.IntN(len(organisms))]}
	}
	// word draws from the topic's vocabulary (skewed towards its first words, as term
	// frequencies are) or, less often, from the whole list.
	word := func(t topic) string {
		if r.Float64() < topicWordShare {
			return t.vocab[int(float64(len(t.vocab))*r.Float64()*r.Float64())]
		}
		return words[r.IntN(len(words))]
	}

	out := make([]map[string]any, n)
	for i := range out {
		t := topics[r.IntN(len(topics))]
		title := make([]string, titleWordsMin+r.IntN(titleWordsMax-titleWordsMin+1))
		for j := range title {
			title[j] = word(t)
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
			summary.WriteString(word(t))
		}
		summary.WriteByte('.')

		organism := t.organism
		if r.Float64() >= topicOrganismPct {
			organism = organisms[r.IntN(len(organisms))]
		}
		out[i] = map[string]any{
			"accession":    fmt.Sprintf("GSE%d", 100000+i),
			"title":        strings.Join(title, " "),
			"summary":      summary.String(),
			"organism":     organism,
			"platform":     platforms[r.IntN(len(platforms))],
			"sample_count": float64(2 + r.IntN(96)),
			"pub_date":     fmt.Sprintf("20%02d/%02d/%02d", 10+r.IntN(15), 1+r.IntN(12), 1+r.IntN(28)),
			"entry_type":   "GSE",
		}
	}
	return out
}

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
