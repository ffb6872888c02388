package geo

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/osa-archive/osa/sources"
)

// Pages of a GEO accession on NCBI's site, the source_url of a record.
const (
	seriesURL   = "https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi?acc="
	datasetsURL = "https://www.ncbi.nlm.nih.gov/sites/GDSbrowser?acc="
)

// convert turns a summary into a record. It returns a non-empty reason instead when the summary
// is to be skipped: NCBI reported an error for it, or its accession is not of the record type.
//
// The metadata keeps accession, title, summary, organism (taxon), platform (GPL accessions,
// ";"-separated), sample_count, pub_date (YYYY-MM-DD), entry_type, gds_type and source_url;
// empty values are left out.
func (s *Source) convert(d summary) (sources.Record, string) {
	acc := strings.TrimSpace(d.Accession)
	switch {
	case d.Error != "":
		return sources.Record{}, "NCBI: " + d.Error
	case !s.isAccession(acc):
		return sources.Record{}, "accession " + acc + " is not a " + s.prefix + " accession"
	}
	m := map[string]any{"accession": acc}
	put := func(key, v string) {
		if v = strings.TrimSpace(v); v != "" {
			m[key] = v
		}
	}
	put("title", d.Title)
	put("summary", d.Summary)
	put("organism", d.Taxon)
	put("platform", platforms(d.GPL))
	put("pub_date", pubDate(d.PDAT))
	put("entry_type", d.EntryType)
	put("gds_type", d.GDSType)
	if n, err := d.NSamples.Int64(); err == nil {
		m["sample_count"] = n
	}
	if s.prefix == "GDS" {
		m["source_url"] = datasetsURL + acc
	} else {
		m["source_url"] = seriesURL + acc
	}
	b, err := json.Marshal(m)
	if err != nil {
		return sources.Record{}, "cannot encode its metadata: " + err.Error()
	}
	return sources.Record{ID: acc, Metadata: b}, ""
}

// isAccession reports whether acc is an accession of the source's record type: the prefix
// followed by digits, such as GSE40726.
func (s *Source) isAccession(acc string) bool {
	digits, ok := strings.CutPrefix(acc, s.prefix)
	if !ok || digits == "" {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// platforms turns esummary's gpl ("570" or "570;96") into GPL accessions ("GPL570;GPL96").
func platforms(gpl string) string {
	var out []string
	for p := range strings.SplitSeq(gpl, ";") {
		if p = strings.TrimSpace(p); p != "" {
			if !strings.HasPrefix(p, "GPL") {
				p = "GPL" + p
			}
			out = append(out, p)
		}
	}
	return strings.Join(out, ";")
}

// pubDate turns esummary's pdat ("2012/09/13") into YYYY-MM-DD; anything else is kept as is.
func pubDate(pdat string) string {
	if t, err := time.Parse("2006/01/02", strings.TrimSpace(pdat)); err == nil {
		return t.Format(time.DateOnly)
	}
	return pdat
}
