package geo

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/osa-archive/osa/sources"
)

// Pages of a GEO accession on NCBI's site, the source_url of a record.
const (
	seriesURL   = "https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi?acc="
	datasetsURL = "https://www.ncbi.nlm.nih.gov/sites/GDSbrowser?acc="
)

// conversion is what [Source.convert] makes of a summary.
type conversion struct {
	// rec is the record; zero when skipped.
	rec sources.Record
	// skip says why the summary is skipped; "" when it is not.
	skip string
	// unfetched reports a skip because NCBI sent no readable document for the uid.
	unfetched bool
	// warnings name the members left out because their value could not be read.
	warnings []string
}

// convert turns a summary into a record. It skips the summary when NCBI reported an error for it
// (unfetched) or its accession is not of the record type. A member whose value cannot be read
// (n_samples as "", say) is left out with a warning; the record is kept.
//
// The metadata keeps accession, title, summary, organism (taxon), platform (GPL accessions,
// ";"-separated), sample_count, samples (the first MaxSamples GSM accessions), pub_date
// (YYYY-MM-DD), entry_type, gds_type, pubmed_ids, bioproject, series (a DataSet's GSE
// accessions), supplementary_types, ftp_link and source_url; empty values are left out. The
// README's "GEO metadata" table is the reference.
func (s *Source) convert(d summary) conversion {
	if d.Error != "" {
		return conversion{skip: "NCBI: " + d.Error, unfetched: true}
	}
	r := &docReader{fields: d.fields}
	acc := strings.TrimSpace(r.str("accession"))
	if !s.isAccession(acc) {
		return conversion{skip: "accession " + acc + " is not a " + s.prefix + " accession"}
	}
	m := map[string]any{"accession": acc}
	put := func(key string, v any) {
		switch v := v.(type) {
		case string:
			if v = strings.TrimSpace(v); v != "" {
				m[key] = v
			}
		case []string:
			if len(v) > 0 {
				m[key] = v
			}
		default:
			m[key] = v
		}
	}
	put("title", r.str("title"))
	put("summary", r.str("summary"))
	put("organism", r.str("taxon"))
	put("platform", strings.Join(r.accessions("gpl", "GPL"), ";"))
	put("pub_date", pubDate(r.str("pdat")))
	put("entry_type", r.str("entrytype"))
	put("gds_type", r.str("gdstype"))
	if n, ok := r.count("n_samples"); ok {
		m["sample_count"] = n
	}
	if s.cfg.MaxSamples > 0 {
		put("samples", r.samples("samples", s.cfg.MaxSamples))
	}
	put("pubmed_ids", r.ids("pubmedids"))
	put("bioproject", r.str("bioproject"))
	put("supplementary_types", fileTypes(r.str("suppfile")))
	put("ftp_link", r.str("ftplink"))
	if s.prefix == "GDS" {
		// A DataSet is curated from a series: gse names it (or them), so the record links to
		// the series' records.
		put("series", r.accessions("gse", "GSE"))
		m["source_url"] = datasetsURL + acc
	} else {
		m["source_url"] = seriesURL + acc
	}
	b, err := json.Marshal(m)
	if err != nil {
		return conversion{skip: "cannot encode its metadata: " + err.Error()}
	}
	return conversion{rec: sources.Record{ID: acc, Metadata: b}, warnings: r.warnings}
}

// docReader reads the members of an esummary document leniently: a value of an unexpected shape
// is recorded in warnings and read as none.
type docReader struct {
	fields   map[string]json.RawMessage
	warnings []string
}

func (r *docReader) warn(key string) { r.warnings = append(r.warnings, key) }

// raw returns the member key, nil when it is absent or null.
func (r *docReader) raw(key string) json.RawMessage {
	v := bytes.TrimSpace(r.fields[key])
	if len(v) == 0 || string(v) == "null" {
		return nil
	}
	return v
}

// str reads a string member; a number is read as its digits.
func (r *docReader) str(key string) string {
	v := r.raw(key)
	if v == nil {
		return ""
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(v, &n) == nil {
		return n.String()
	}
	r.warn(key)
	return ""
}

// count reads a count: a whole number of at least 0, sent as a number or as a string of digits
// ("7"). NCBI sends "" for a document without one; that, and any other text, is a warning.
func (r *docReader) count(key string) (int64, bool) {
	v := r.raw(key)
	if v == nil {
		return 0, false
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		s = string(v)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		r.warn(key)
		return 0, false
	}
	return n, true
}

// ids reads a list of numeric ids (pubmedids: ["25348610"], or [22983707] in older answers) as
// strings of digits; an element that is not one is a warning.
func (r *docReader) ids(key string) []string {
	v := r.raw(key)
	if v == nil {
		return nil
	}
	var list []json.RawMessage
	if json.Unmarshal(v, &list) != nil {
		r.warn(key)
		return nil
	}
	var out []string
	for _, e := range list {
		var s string
		if json.Unmarshal(e, &s) != nil {
			s = string(e)
		}
		if s = strings.TrimSpace(s); !isDigits(s) {
			r.warn(key)
			continue
		}
		out = append(out, s)
	}
	return out
}

// accessions reads a ";"-separated list of accession numbers ("570;96" in gpl, "54723" in gse)
// as accessions of prefix ("GPL570"); a part that is not a number is a warning.
func (r *docReader) accessions(key, prefix string) []string {
	var out []string
	for p := range strings.SplitSeq(r.str(key), ";") {
		p = strings.TrimPrefix(strings.TrimSpace(p), prefix)
		switch {
		case p == "":
		case isDigits(p):
			out = append(out, prefix+p)
		default:
			r.warn(key)
		}
	}
	return out
}

// samples reads the accessions of the samples member ([{"accession": "GSM1", "title": …}]), at
// most limit of them, in NCBI's order.
func (r *docReader) samples(key string, limit int) []string {
	v := r.raw(key)
	if v == nil {
		return nil
	}
	var list []struct {
		Accession string `json:"accession"`
	}
	if json.Unmarshal(v, &list) != nil {
		r.warn(key)
		return nil
	}
	var out []string
	for _, e := range list {
		if a := strings.TrimSpace(e.Accession); a != "" && len(out) < limit {
			out = append(out, a)
		}
	}
	return out
}

// isDigits reports whether s is a non-empty string of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isAccession reports whether acc is an accession of the source's record type: the prefix
// followed by digits, such as GSE40726.
func (s *Source) isAccession(acc string) bool {
	digits, ok := strings.CutPrefix(acc, s.prefix)
	return ok && isDigits(digits)
}

// fileTypes turns esummary's suppfile ("CSV, IDAT") into a list of file types.
func fileTypes(suppfile string) []string {
	var out []string
	for _, p := range strings.FieldsFunc(suppfile, func(c rune) bool { return c == ',' || c == ';' }) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// pubDate turns esummary's pdat ("2012/09/13") into YYYY-MM-DD; anything else is kept as is.
func pubDate(pdat string) string {
	if t, err := time.Parse("2006/01/02", strings.TrimSpace(pdat)); err == nil {
		return t.Format(time.DateOnly)
	}
	return pdat
}
