package web

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/indexstate"
	"github.com/osa-archive/osa/records"
	"github.com/osa-archive/osa/search"
)

// knownFields are shown first on a record page, in this order, with their labels; the rest
// follow as a table.
var knownFields = []struct{ key, label string }{
	{"title", "Title"}, {"summary", "Summary"}, {"organism", "Organism"}, {"accession", "Accession"},
	{"entry_type", "Entry type"}, {"gds_type", "Type"}, {"platform", "Platform"}, {"pub_date", "Published"},
	{"sample_count", "Samples"}, {"pubmed_ids", "PubMed"}, {"bioproject", "BioProject"},
}

// similarShown is how many similar records a record page lists.
const similarShown = 5

// Identifiers that links to NCBI are built from; anything else is shown as text, never linked.
var (
	accessionRe  = regexp.MustCompile(`^G(SE|DS|PL|SM)[0-9]{1,10}$`)
	pubmedRe     = regexp.MustCompile(`^[0-9]{1,12}$`)
	bioprojectRe = regexp.MustCompile(`^PRJ[A-Z]{1,3}[0-9]{1,10}$`)
)

// recordView is the record page's data.
type recordView struct {
	SRN, VersionSRN string
	Version         int
	Latest          int
	LatestURL       string
	Source          string
	SourceID        string
	PublishedAt     time.Time
	Deleted         *time.Time
	Title           string
	Known           []fieldView
	Other           []fieldView
	Links           []link
	Versions        []versionView
	Statuses        []indexstate.Status
	Similar         []hitView
	SimilarNote     string
	JSONURL, CSVURL string
}

type fieldView struct{ Label, Value string }

type versionView struct {
	Version     int
	URL         string
	PublishedAt time.Time
	Changes     string
	Current     bool
}

// recordPage renders /records/{id}, {id} being a record id, with @version for a version; with
// ?format=json or csv it answers the record as a download instead.
func (u *UI) recordPage(w http.ResponseWriter, r *http.Request) {
	srn, err := records.ParseSRN("urn:osa:" + u.deps.Records.Domain() + ":rec:" + r.PathValue("id"))
	if err != nil {
		u.errorPage(w, r, http.StatusNotFound, "There is no record "+r.PathValue("id")+": a record's address is /records/ and its id, "+
			"with @version for one version.")
		return
	}
	rec, err := u.deps.Records.Get(r.Context(), srn)
	if errors.Is(err, domainerr.ErrNotFound) {
		u.errorPage(w, r, http.StatusNotFound, "There is no record "+r.PathValue("id")+" (or no such version of it).")
		return
	}
	if err != nil {
		u.failed(w, r, err)
		return
	}
	switch r.URL.Query().Get("format") {
	case "json":
		u.exportJSON(w, rec)
		return
	case "csv":
		u.exportCSV(w, rec)
		return
	}
	v, err := u.recordView(r, srn, rec)
	if err != nil {
		u.failed(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "record", v)
}

// recordView gathers a record page: its fields, links, versions, index status and similar
// records.
func (u *UI) recordView(r *http.Request, srn records.SRN, rec records.Record) (*recordView, error) {
	ctx := r.Context()
	var meta map[string]any
	_ = json.Unmarshal(rec.Metadata, &meta)
	id := rec.ID.String()
	v := &recordView{SRN: srn.WithVersion(0).String(), VersionSRN: u.deps.Records.SRN(rec).String(), Version: rec.Version,
		Source: rec.Source, SourceID: rec.SourceID, PublishedAt: rec.UpdatedAt, Deleted: rec.DeletedAt, Title: str(meta["title"]),
		LatestURL: "/records/" + id, JSONURL: "/records/" + id + "@" + fmt.Sprint(rec.Version) + "?format=json",
		CSVURL: "/records/" + id + "@" + fmt.Sprint(rec.Version) + "?format=csv"}
	if v.Title == "" {
		v.Title = "Record " + id
	}
	for _, k := range knownFields {
		if val, ok := meta[k.key]; ok {
			v.Known = append(v.Known, fieldView{Label: k.label, Value: display(val)})
		}
	}
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		if !slices.ContainsFunc(knownFields, func(f struct{ key, label string }) bool { return f.key == k }) {
			v.Other = append(v.Other, fieldView{Label: k, Value: display(meta[k])})
		}
	}
	v.Links = recordLinks(meta)

	versions, err := u.deps.Records.Versions(ctx, srn)
	if err != nil {
		return nil, err
	}
	v.Latest = versions[0].Version
	for i, ver := range versions {
		vv := versionView{Version: ver.Version, URL: "/records/" + id + "@" + fmt.Sprint(ver.Version), PublishedAt: ver.PublishedAt,
			Current: ver.Version == rec.Version}
		if i+1 < len(versions) {
			vv.Changes = changes(versions[i+1].Metadata, ver.Metadata)
		} else {
			vv.Changes = "first version"
		}
		v.Versions = append(v.Versions, vv)
	}
	if _, v.Statuses, err = u.deps.Records.IndexStatus(ctx, srn.WithVersion(0), u.deps.Backends()); err != nil {
		return nil, err
	}
	if rec.DeletedAt == nil {
		res, err := u.deps.Search.Similar(ctx, search.SimilarRequest{SRN: srn.WithVersion(0), Limit: similarShown})
		switch {
		case err == nil:
			for _, h := range res.Hits {
				v.Similar = append(v.Similar, newHitView(h))
			}
			if len(v.Similar) == 0 {
				v.SimilarNote = "No similar records."
			}
		case errors.Is(err, domainerr.ErrNotFound):
			v.SimilarNote = "Similar records appear once the vector backend has indexed this record."
		default:
			var invalid *domainerr.ValidationError
			if !errors.As(err, &invalid) {
				return nil, err
			}
			v.SimilarNote = "This archive has no vector backend to find similar records with."
		}
	}
	return v, nil
}

// recordLinks returns the links to NCBI that the record's identifiers make: GEO, PubMed,
// BioProject. Only identifiers of the expected shape are linked.
func recordLinks(meta map[string]any) []link {
	var out []link
	if acc := str(meta["accession"]); accessionRe.MatchString(acc) {
		out = append(out, link{Text: "GEO " + acc, URL: "https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi?acc=" + acc})
	}
	for _, id := range stringList(meta["pubmed_ids"]) {
		if pubmedRe.MatchString(id) {
			out = append(out, link{Text: "PubMed " + id, URL: "https://pubmed.ncbi.nlm.nih.gov/" + id + "/"})
		}
	}
	for _, p := range stringList(meta["bioproject"]) {
		if bioprojectRe.MatchString(p) {
			out = append(out, link{Text: "BioProject " + p, URL: "https://www.ncbi.nlm.nih.gov/bioproject/" + p})
		}
	}
	return out
}

// accession returns the record's GEO accession and its link, or "" and "".
func accession(meta map[string]any) (string, string) {
	acc := str(meta["accession"])
	if !accessionRe.MatchString(acc) {
		return acc, ""
	}
	return acc, "https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi?acc=" + acc
}

// changes says which fields differ from before to after: added, removed, changed.
func changes(before, after json.RawMessage) string {
	var a, b map[string]any
	_ = json.Unmarshal(before, &a)
	_ = json.Unmarshal(after, &b)
	var added, removed, changed []string
	for _, k := range slices.Sorted(maps.Keys(b)) {
		old, ok := a[k]
		switch {
		case !ok:
			added = append(added, k)
		case display(old) != display(b[k]):
			changed = append(changed, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(a)) {
		if _, ok := b[k]; !ok {
			removed = append(removed, k)
		}
	}
	var parts []string
	for _, p := range []struct {
		what string
		keys []string
	}{{"changed", changed}, {"added", added}, {"removed", removed}} {
		if len(p.keys) > 0 {
			parts = append(parts, p.what+" "+strings.Join(p.keys, ", "))
		}
	}
	if len(parts) == 0 {
		return "no change to the metadata"
	}
	return strings.Join(parts, "; ")
}

// exportJSON answers the record as a JSON download.
func (u *UI) exportJSON(w http.ResponseWriter, rec records.Record) {
	out := map[string]any{"srn": u.deps.Records.SRN(rec).String(), "version": rec.Version, "metadata": rec.Metadata,
		"source": rec.Source, "source_id": rec.SourceID, "published_at": rec.UpdatedAt, "deleted_at": rec.DeletedAt}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s@%d.json"`, rec.ID, rec.Version))
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
}

// exportCSV answers the record as a CSV download: a field and its value per row, a list's or an
// object's value as JSON.
func (u *UI) exportCSV(w http.ResponseWriter, rec records.Record) {
	var meta map[string]any
	_ = json.Unmarshal(rec.Metadata, &meta)
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s@%d.csv"`, rec.ID, rec.Version))
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"field", "value"})
	_ = cw.Write([]string{"srn", u.deps.Records.SRN(rec).String()})
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		_ = cw.Write([]string{k, csvSafe(display(meta[k]))})
	}
	cw.Flush()
}

// csvSafe keeps a spreadsheet from reading a value as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// failed answers an error the reader cannot act on, and logs it.
func (u *UI) failed(w http.ResponseWriter, r *http.Request, err error) {
	u.deps.Logger.ErrorContext(r.Context(), "web: page failed", "path", r.URL.Path, "error", err)
	u.errorPage(w, r, http.StatusServiceUnavailable, "This page could not be read just now. Try again in a moment.")
}
