package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"connectrpc.com/connect"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
)

// hostileTitle is a record title made to break a page: markup, a script, a javascript: URL, a
// right-to-left override, and 50 KB of text.
var hostileTitle = `<script>alert("x")</script><a href="javascript:alert(1)">click</a> ` + "\u202egnp.exe heart " +
	strings.Repeat("long ", 10000)

// getPage GETs path from the server and returns the status, headers and body.
func getPage(t *testing.T, client *http.Client, base, path string) (int, http.Header, string) {
	t.Helper()
	res, err := client.Get(base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(body)
}

// csrfCookie returns the status page's CSRF token that jar holds for base, "" when none.
func csrfCookie(jar http.CookieJar, base string) string {
	u, _ := url.Parse(base + "/status")
	for _, c := range jar.Cookies(u) {
		if c.Name == "osa_csrf" {
			return c.Value
		}
	}
	return ""
}

// TestWebPages: the search page, with facets and highlights and its whole state in the URL; a
// record page with its versions, index status, similar records and downloads; a deleted
// record's tombstone; hostile metadata rendered inert and readable; the security headers.
func TestWebPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, nil)
	rc := recordClient(b)
	pub, err := rc.PublishRecords(ctx, connect.NewRequest(&osav1.PublishRecordsRequest{WaitIndexed: true, Records: []*osav1.PublishRecordRequest{
		{Source: "lab", SourceId: "m1", Metadata: mustStruct(t, map[string]any{"title": "Mouse heart regeneration", "summary": "Cardiomyocytes after injury.",
			"organism": "Mus musculus", "sample_count": 12, "pub_date": "2023/05/01", "accession": "GSE1001", "pubmed_ids": []any{"123456"}})},
		{Metadata: mustStruct(t, map[string]any{"title": "Human heart atlas", "organism": "Homo sapiens", "pub_date": "2024/01/01",
			"accession": `GSE1"><script>`, "homepage": "javascript:alert(1)"})},
		{Metadata: mustStruct(t, map[string]any{"title": hostileTitle, "organism": "Homo sapiens"})},
	}}))
	if err != nil || len(pub.Msg.NotIndexed) != 0 {
		t.Fatalf("publish: %v %v", err, pub)
	}
	id := func(i int) string {
		srn := pub.Msg.Records[i].Srn
		return srn[strings.LastIndex(srn, ":")+1 : strings.Index(srn, "@")]
	}
	// A second version of the first record, then delete the second record.
	if _, err := rc.PublishRecord(ctx, connect.NewRequest(&osav1.PublishRecordRequest{Source: "lab", SourceId: "m1",
		Metadata: mustStruct(t, map[string]any{"title": "Mouse heart regeneration", "summary": "Cardiomyocytes after injury.",
			"organism": "Mus musculus", "sample_count": 14, "pub_date": "2023/05/01", "accession": "GSE1001", "pubmed_ids": []any{"123456"}}),
		WaitIndexed: true})); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.DeleteRecord(ctx, connect.NewRequest(&osav1.DeleteRecordRequest{Srn: pub.Msg.Records[1].Srn})); err != nil {
		t.Fatal(err)
	}
	client := http.DefaultClient

	code, h, body := getPage(t, client, b.baseURL, "/")
	if code != http.StatusOK || !strings.Contains(body, `<form method="get" action="/" role="search">`) ||
		!strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
		h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
		t.Fatalf("GET /: %d %v\n%s", code, h, body)
	}
	_, _, body = getPage(t, client, b.baseURL, "/?q=hearts&mode=keyword")
	for _, want := range []string{"<mark>heart</mark>", "Mus musculus", `href="/?mode=keyword&amp;organism=Mus&#43;musculus&amp;q=hearts"`, "from lab",
		`href="https://www.ncbi.nlm.nih.gov/geo/query/acc.cgi?acc=GSE1001"`} {
		if !strings.Contains(body, want) {
			t.Fatalf("the search page lacks %s:\n%s", want, body)
		}
	}
	_, _, body = getPage(t, client, b.baseURL, "/?q=hearts&mode=keyword&organism=Mus+musculus")
	if !strings.Contains(body, "Mouse <mark>heart</mark> regeneration") || strings.Contains(body, "gnp.exe") || !strings.Contains(body, `remove<span class="visually-hidden"> the Organism filter`) {
		t.Fatalf("the filtered search page:\n%s", body)
	}
	// Hostile text: escaped, no override, cut; never a live script or javascript: link.
	_, _, body = getPage(t, client, b.baseURL, "/?q=long&mode=keyword")
	if !strings.Contains(body, "<mark>long</mark>") || strings.Contains(body, "<script>alert") || strings.Contains(body, `href="javascript:`) || strings.Contains(body, "\u202e") ||
		!strings.Contains(body, "&lt;script&gt;") || len(body) > 40000 {
		t.Fatalf("hostile title on the search page (%d bytes):\n%.3000s", len(body), body)
	}

	// The record page, at its latest version and at version 1.
	code, _, body = getPage(t, client, b.baseURL, "/records/"+id(0))
	for _, want := range []string{"Mouse heart regeneration", "Versions", "changed sample_count", "Index status", "indexed",
		`href="https://pubmed.ncbi.nlm.nih.gov/123456/"`, "Similar records", "@2?format=json", "@2?format=csv"} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("the record page (%d) lacks %q:\n%s", code, want, body)
		}
	}
	_, _, body = getPage(t, client, b.baseURL, "/records/"+id(0)+"@1")
	if !strings.Contains(body, "You are reading version 1") {
		t.Fatalf("version 1's page:\n%s", body)
	}
	code, h, body = getPage(t, client, b.baseURL, "/records/"+id(0)+"@1?format=csv")
	if code != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") || !strings.Contains(body, "sample_count,12") {
		t.Fatalf("the CSV download: %d %v\n%s", code, h, body)
	}
	code, h, body = getPage(t, client, b.baseURL, "/records/"+id(0)+"?format=json")
	if code != http.StatusOK || h.Get("Content-Type") != "application/json" || !strings.Contains(body, `"sample_count": 14`) {
		t.Fatalf("the JSON download: %d %v\n%s", code, h, body)
	}
	// The deleted record: its tombstone; its hostile accession and URL never linked.
	code, _, body = getPage(t, client, b.baseURL, "/records/"+id(1))
	if code != http.StatusOK || !strings.Contains(body, "This record was deleted on") || strings.Contains(body, `href="javascript:`) ||
		strings.Contains(body, `acc=GSE1"`) || !strings.Contains(body, "javascript:alert(1)") {
		t.Fatalf("the deleted record's page (%d):\n%s", code, body)
	}
	code, _, body = getPage(t, client, b.baseURL, "/records/"+id(2))
	if code != http.StatusOK || strings.Contains(body, "<script>alert") || strings.Contains(body, "\u202e") {
		t.Fatalf("the hostile record's page (%d):\n%.3000s", code, body)
	}
	if code, _, _ := getPage(t, client, b.baseURL, "/records/not-an-id"); code != http.StatusNotFound {
		t.Fatalf("an unknown record: %d", code)
	}
	// The status page (open on loopback without tokens): the records just indexed give each
	// backend a freshness.
	code, _, body = getPage(t, client, b.baseURL, "/status")
	if code != http.StatusOK || !regexp.MustCompile(`<td>[0-9]+ ms over [0-9]+</td>`).MatchString(body) {
		t.Fatalf("the status page (%d) shows no freshness:\n%s", code, body)
	}
}

// TestWebStatus: the status page needs the admin scope once tokens are configured, and its
// retry form is refused without its CSRF token and done with it.
func TestWebStatus(t *testing.T) {
	t.Parallel()
	b := setup(t, withTokens(true))
	code, h, _ := getPage(t, http.DefaultClient, b.baseURL, "/status")
	if code != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("/status without a token: %d %v", code, h)
	}
	jar, _ := cookiejar.New(nil)
	admin := &http.Client{Jar: jar, Transport: basicAuth{adminToken}, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	writer := &http.Client{Transport: basicAuth{writerToken}}
	if code, _, _ := getPage(t, writer, b.baseURL, "/status"); code != http.StatusForbidden {
		t.Fatalf("/status with a token without the admin scope: %d", code)
	}
	code, _, body := getPage(t, admin, b.baseURL, "/status")
	for _, want := range []string{"Backends", "vector", "keyword", "Job queues", `href="/status?refresh=10"`} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("/status (%d) lacks %q:\n%s", code, want, body)
		}
	}
	if _, _, body := getPage(t, admin, b.baseURL, "/status?refresh=1"); !strings.Contains(body, `<meta http-equiv="refresh" content="10">`) {
		t.Fatalf("/status?refresh does not reload itself:\n%s", body)
	}
	// No failed records: no retry form; post one by hand, without then with the token.
	post := func(form url.Values) int {
		res, err := admin.PostForm(b.baseURL+"/status/retry", form)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := post(url.Values{"backend": {"vector"}}); code != http.StatusForbidden {
		t.Fatalf("a retry without the CSRF token: %d", code)
	}
	if code := post(url.Values{"backend": {"vector"}, "csrf": {"0123456789abcdef0123456789abcdef"}}); code != http.StatusForbidden {
		t.Fatalf("a retry with another token than its cookie's: %d", code)
	}
	token := csrfCookie(jar, b.baseURL)
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(token) {
		t.Fatalf("the status page set no CSRF cookie: %q", token)
	}
	if code := post(url.Values{"backend": {"vector"}, "csrf": {token}}); code != http.StatusSeeOther {
		t.Fatalf("a retry with the CSRF token: %d", code)
	}
}

// basicAuth sends a token as the basic-auth password, as a browser does once asked.
type basicAuth struct{ token string }

func (a basicAuth) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.SetBasicAuth("osa", a.token)
	return http.DefaultTransport.RoundTrip(r)
}
