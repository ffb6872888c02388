// Package geotest is a fake NCBI E-utilities server for tests of the geo source and of harvests.
// It answers esearch (with usehistory=y), esummary (version=2.0, JSON, through WebEnv + query_key
// or an id list) and einfo with the JSON shapes NCBI uses, keeps a log of every request, and can
// be told to fail: HTTP errors with Retry-After, NCBI's rate-limit answer, slow answers, invalid
// JSON, expired history sessions, esummaryresult messages, or a request held until the test lets
// it go.
//
// The shapes follow answers NCBI really sent, as recorded in public clients' test data (see
// fixtures.go for each source).
package geotest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Doc is one document of the fake gds database. The JSON it is served as mirrors NCBI's esummary
// version 2.0 document for gds.
type Doc struct {
	UID       string
	Accession string
	Title     string
	Summary   string
	Taxon     string
	GPL       string // "570", or "570;96" for a series on two platforms
	EntryType string // "GSE" or "GDS": what [ETYP] matches, whatever the accession
	GDSType   string
	PDAT      string // YYYY/MM/DD: what [PDAT] ranges match
	NSamples  int
	// GSE is the gse member: for a DataSet, its series' numbers ("54723", or "1;2"); empty for
	// a series means its own number, as NCBI serves it.
	GSE string
	// PubMedIDs are the pubmedids, served as strings as NCBI does (["25348610"]).
	PubMedIDs []string
	// BioProject is the bioproject member, such as "PRJNA237500".
	BioProject string
	// SuppFile is the suppfile member: supplementary file types, such as "CSV, IDAT"; empty
	// means "CEL".
	SuppFile string
	// Samples are the accessions of the samples member; nil means one, "GSM" + UID.
	Samples []string
	// FTPLink is the ftplink member; empty means the series folder of the accession.
	FTPLink string
	// Raw replaces or adds members of the served document, as NCBI spells them, for shapes the
	// typed fields cannot express: {"n_samples": ""} is what NCBI serves for a document without
	// a sample count.
	Raw map[string]any
	// Error, when set, makes esummary answer {"uid": ..., "error": Error} for the document.
	Error string
}

// Series returns n GEO series GSE1001, GSE1002, ... with uids 200001001, ..., published one day
// apart from 2020/01/01, in that order.
func Series(n int) []Doc {
	docs := make([]Doc, n)
	taxa := []string{"Homo sapiens", "Mus musculus", "Danio rerio"}
	for i := range docs {
		num := 1001 + i
		docs[i] = Doc{
			UID:       strconv.Itoa(200000000 + num),
			Accession: "GSE" + strconv.Itoa(num),
			Title:     fmt.Sprintf("Expression profiling of tissue %d in condition %d", i%13, i),
			Summary:   fmt.Sprintf("Series %d compares %d samples of treated and control cells.", num, i%20+2),
			Taxon:     taxa[i%len(taxa)],
			GPL:       "570",
			EntryType: "GSE",
			GDSType:   "Expression profiling by array",
			PDAT:      time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i).Format("2006/01/02"),
			NSamples:  i%20 + 2,
		}
	}
	return docs
}

// Request is one request the server received.
type Request struct {
	At       time.Time
	Endpoint string // "esearch", "esummary", "einfo"
	Query    url.Values
}

// Fault is how the server answers one request instead of normally.
type Fault struct {
	// Status is the HTTP status to answer with; 0 means 200 with Body.
	Status int
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
	// Body is the answer's body; with Status 0, it replaces the normal answer (invalid JSON, say).
	Body string
	// Delay holds the answer this long (or until the client gives up), then answers normally
	// unless Status or Body is set.
	Delay time.Duration
}

// RateLimited is NCBI's answer to a client over its rate limit: 429 without Retry-After, and a
// body that names the caller under "api-key" (its IP address when it sent no key) with the
// requests counted in the last second and the limit.
func RateLimited(caller string) Fault {
	return Fault{Status: http.StatusTooManyRequests,
		Body: fmt.Sprintf(`{"error":"API rate limit exceeded","api-key":%q,"count":"4","limit":"3"}`, caller)}
}

// ESummaryMessages is an esummary answer of 200 that holds only esummaryresult messages, the
// JSON form of <eSummaryResult><ERROR>: "Unable to obtain query #1" for an expired history entry
// (what [Server.ExpireSessions] causes), [MessageEmptyResult], or any other.
func ESummaryMessages(msgs ...string) Fault {
	b, _ := json.Marshal(map[string]any{"header": header("esummary"), "esummaryresult": msgs})
	return Fault{Body: string(b)}
}

// MessageEmptyResult is the esummaryresult message NCBI answers a request for no documents with.
const MessageEmptyResult = "Empty result - nothing todo"

// Server is a fake E-utilities server. Its methods are safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	docs     []Doc
	faults   map[string][]Fault
	held     map[int]chan struct{} // esummary retstarts held until released
	arrived  map[int]chan struct{} // closed when a held retstart is asked for
	nextEnv  int
	requests []Request
	sessions map[string][]Doc // WebEnv -> the result set of its search
}

// New starts a server with docs; it is closed when t ends.
func New(t testing.TB, docs []Doc) *Server {
	t.Helper()
	s := &Server{
		docs:     slices.Clone(docs),
		faults:   map[string][]Fault{},
		held:     map[int]chan struct{}{},
		arrived:  map[int]chan struct{}{},
		sessions: map[string][]Doc{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL returns the base URL to configure as base_url, ending in "/".
func (s *Server) URL() string { return s.srv.URL + "/entrez/eutils/" }

// SetDocs replaces the documents; searches made before keep their result sets, as NCBI's
// history server does.
func (s *Server) SetDocs(docs []Doc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs = slices.Clone(docs)
}

// SetTitle changes the title of the document with accession acc, in the database and in every
// session.
func (s *Server) SetTitle(acc, title string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := func(docs []Doc) {
		for i := range docs {
			if docs[i].Accession == acc {
				docs[i].Title = title
			}
		}
	}
	set(s.docs)
	for _, d := range s.sessions {
		set(d)
	}
}

// ExpireSessions forgets every search: esummary answers the WebEnvs handed out so far like NCBI
// answers an expired one.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.sessions)
}

// Fail queues faults for the next requests to endpoint, one per request, in order.
func (s *Server) Fail(endpoint string, faults ...Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[endpoint] = append(s.faults[endpoint], faults...)
}

// Hold makes the first esummary request (through a WebEnv) for retstart wait until release is
// called (or its client gives up); faults queued meanwhile apply to it. arrived is closed when
// that request comes in.
func (s *Server) Hold(retstart int) (arrived <-chan struct{}, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, a := make(chan struct{}), make(chan struct{})
	s.held[retstart], s.arrived[retstart] = h, a
	var once sync.Once
	return a, func() { once.Do(func() { close(h) }) }
}

// Requests returns the log of requests so far, in order of arrival.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// Count returns how many requests endpoint received.
func (s *Server) Count(endpoint string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Endpoint == endpoint {
			n++
		}
	}
	return n
}

// Retstarts returns the retstart of every esummary request through a WebEnv, in order.
func (s *Server) Retstarts() []int {
	var out []int
	for _, r := range s.Requests() {
		if r.Endpoint == "esummary" && r.Query.Get("WebEnv") != "" {
			n, _ := strconv.Atoi(r.Query.Get("retstart"))
			out = append(out, n)
		}
	}
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	endpoint := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/entrez/eutils/"), ".fcgi")
	q := r.URL.Query()

	s.mu.Lock()
	s.requests = append(s.requests, Request{At: time.Now(), Endpoint: endpoint, Query: q})
	var held, arrived chan struct{}
	if endpoint == "esummary" && q.Get("WebEnv") != "" {
		if n, err := strconv.Atoi(q.Get("retstart")); err == nil && s.held[n] != nil {
			held, arrived = s.held[n], s.arrived[n]
			delete(s.held, n)
			delete(s.arrived, n)
		}
	}
	s.mu.Unlock()

	// A held request takes its fault, if any, once released: faults queued while it waits
	// apply to it.
	if held != nil {
		close(arrived)
		select {
		case <-held:
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	var fault *Fault
	if fs := s.faults[endpoint]; len(fs) > 0 {
		fault, s.faults[endpoint] = &fs[0], fs[1:]
	}
	s.mu.Unlock()
	if fault != nil {
		if fault.Delay > 0 {
			select {
			case <-time.After(fault.Delay):
			case <-r.Context().Done():
				return
			}
		}
		if fault.RetryAfter != "" {
			w.Header().Set("Retry-After", fault.RetryAfter)
		}
		if fault.Status != 0 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(fault.Status)
			fmt.Fprint(w, fault.Body)
			return
		}
		if fault.Body != "" {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, fault.Body)
			return
		}
	}

	var out any
	switch endpoint {
	case "esearch":
		out = s.esearch(q)
	case "esummary":
		out = s.esummary(q)
	case "einfo":
		out = map[string]any{
			"header":      header("einfo"),
			"einforesult": map[string]any{"dbinfo": []any{map[string]any{"dbname": "gds", "count": strconv.Itoa(len(s.docsNow()))}}},
		}
	default:
		http.Error(w, "unknown E-utility "+endpoint, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(out)
}

func header(kind string) map[string]string { return map[string]string{"type": kind, "version": "0.3"} }

func (s *Server) docsNow() []Doc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.docs)
}

var (
	etypRe = regexp.MustCompile(`(?i)\b(GSE|GDS)\[ETYP\]`)
	pdatRe = regexp.MustCompile(`(\d{4}/\d{2}/\d{2}):3000\[PDAT\]`)
	accnRe = regexp.MustCompile(`(?i)\b(\w+)\[ACCN\]`)
)

// esearch answers like NCBI: count, retmax, retstart and idlist as strings, plus querykey and
// webenv with usehistory=y when something matched.
func (s *Server) esearch(q url.Values) any {
	term := q.Get("term")
	var match []Doc
	for _, d := range s.docsNow() {
		if m := etypRe.FindStringSubmatch(term); m != nil && !strings.EqualFold(d.EntryType, m[1]) {
			continue
		}
		if m := pdatRe.FindStringSubmatch(term); m != nil && d.PDAT < m[1] {
			continue
		}
		if m := accnRe.FindStringSubmatch(term); m != nil && !strings.EqualFold(d.Accession, m[1]) {
			continue
		}
		match = append(match, d)
	}
	retmax := 20
	if v, err := strconv.Atoi(q.Get("retmax")); err == nil {
		retmax = v
	}
	ids := []string{}
	for _, d := range match[:min(retmax, len(match))] {
		ids = append(ids, d.UID)
	}
	res := map[string]any{
		"count":            strconv.Itoa(len(match)),
		"retmax":           strconv.Itoa(len(ids)),
		"retstart":         "0",
		"idlist":           ids,
		"translationset":   []any{},
		"querytranslation": term,
	}
	if len(match) == 0 {
		// NCBI's answer for no hits: no querykey and no webenv, even with usehistory=y, and a
		// warning instead (ESEARCH_EMPTY in fixtures.go).
		res["errorlist"] = map[string]any{"phrasesnotfound": []string{}, "fieldsnotfound": []string{}}
		res["warninglist"] = map[string]any{"phrasesignored": []string{}, "quotedphrasesnotfound": []string{},
			"outputmessages": []string{"No items found."}}
	} else if q.Get("usehistory") == "y" {
		s.mu.Lock()
		s.nextEnv++
		env := fmt.Sprintf("MCID_%08d", s.nextEnv)
		s.sessions[env] = match
		s.mu.Unlock()
		res["querykey"] = "1"
		res["webenv"] = env
	}
	return map[string]any{"header": header("esearch"), "esearchresult": res}
}

// esummary answers like NCBI's version 2.0 JSON: result.uids and one object per uid. An unknown
// WebEnv or query_key gets NCBI's answer for an expired history entry.
func (s *Server) esummary(q url.Values) any {
	var docs []Doc
	if env := q.Get("WebEnv"); env != "" {
		s.mu.Lock()
		set, ok := s.sessions[env]
		set = slices.Clone(set)
		s.mu.Unlock()
		if !ok || q.Get("query_key") != "1" {
			return map[string]any{"header": header("esummary"), "esummaryresult": []string{"Unable to obtain query #" + q.Get("query_key")}}
		}
		start, _ := strconv.Atoi(q.Get("retstart"))
		retmax := 20
		if v, err := strconv.Atoi(q.Get("retmax")); err == nil {
			retmax = v
		}
		if retmax > 500 {
			return map[string]any{"header": header("esummary"),
				"error": "Too many UIDs in request. Maximum number of UIDs is 500 for JSON format output."}
		}
		if start < len(set) {
			docs = set[start:min(start+retmax, len(set))]
		}
	} else {
		all := s.docsNow()
		for id := range strings.SplitSeq(q.Get("id"), ",") {
			for _, d := range all {
				if d.UID == id {
					docs = append(docs, d)
				}
			}
		}
	}
	result := map[string]any{}
	uids := []string{}
	for _, d := range docs {
		uids = append(uids, d.UID)
		if d.Error != "" {
			result[d.UID] = map[string]any{"uid": d.UID, "error": d.Error}
			continue
		}
		result[d.UID] = d.json()
	}
	result["uids"] = uids
	return map[string]any{"header": header("esummary"), "result": result}
}

// json returns the document as NCBI's esummary version 2.0 serves a gds document (the members of
// GSE_ME and GDS_5435 in fixtures.go), with d.Raw applied last.
func (d Doc) json() map[string]any {
	gse := d.GSE
	if gse == "" && d.EntryType == "GSE" {
		gse = strings.TrimPrefix(d.Accession, "GSE")
	}
	gds := ""
	if d.EntryType == "GDS" {
		gds = strings.TrimPrefix(d.Accession, "GDS")
	}
	samples := []any{}
	accs := d.Samples
	if accs == nil {
		accs = []string{"GSM" + d.UID}
	}
	for i, a := range accs {
		samples = append(samples, map[string]string{"accession": a, "title": fmt.Sprintf("sample %d", i+1)})
	}
	pubmed := []string{}
	pubmed = append(pubmed, d.PubMedIDs...)
	suppfile := d.SuppFile
	if suppfile == "" {
		suppfile = "CEL"
	}
	ftp := d.FTPLink
	if ftp == "" {
		ftp = "ftp://ftp.ncbi.nlm.nih.gov/geo/series/" + d.Accession + "/"
	}
	m := map[string]any{
		"uid":           d.UID,
		"accession":     d.Accession,
		"gds":           gds,
		"title":         d.Title,
		"summary":       d.Summary,
		"gpl":           d.GPL,
		"gse":           gse,
		"taxon":         d.Taxon,
		"entrytype":     d.EntryType,
		"gdstype":       d.GDSType,
		"ptechtype":     "",
		"valtype":       "",
		"ssinfo":        "",
		"subsetinfo":    "",
		"pdat":          d.PDAT,
		"suppfile":      suppfile,
		"samples":       samples,
		"relations":     []any{},
		"extrelations":  []any{},
		"n_samples":     d.NSamples,
		"seriestitle":   "",
		"platformtitle": "",
		"platformtaxa":  "",
		"samplestaxa":   "",
		"pubmedids":     pubmed,
		"projects":      []any{},
		"ftplink":       ftp,
		"geo2r":         "yes",
		"bioproject":    d.BioProject,
	}
	for k, v := range d.Raw {
		m[k] = v
	}
	return m
}
