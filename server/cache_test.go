package server_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/config"
)

// getRPC calls procedure by Connect GET with msg (JSON) and the given request headers, and
// returns the answer's status, headers and body.
func getRPC(t *testing.T, baseURL, procedure, msg string, headers map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, baseURL+procedure+"?encoding=json&message="+url.QueryEscape(msg), nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// publish publishes a record with the given title (always the same source id) and returns its
// SRN with its version.
func publish(t *testing.T, b *testBundle, title string) string {
	t.Helper()
	resp, err := recordClient(b).PublishRecord(context.Background(), connect.NewRequest(&osav1.PublishRecordRequest{
		Metadata: mustStruct(t, map[string]any{"title": title}), Source: "lab", SourceId: "cache-1",
	}))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Msg.Record.Srn
}

// The GET answers of read RPCs say how they may be cached: a version of a record is immutable,
// the latest version and other reads are revalidated with their ETag (304 when unchanged),
// admin reads are private, errors no-store, POSTs nothing.
func TestCacheHeaders(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	versioned := publish(t, b, "Zebrafish heart regeneration atlas")
	latest, _, _ := strings.Cut(versioned, "@")
	getRecord := osav1connect.RecordServiceGetRecordProcedure

	t.Run("VersionedGetRecordImmutable", func(t *testing.T) {
		t.Parallel()
		code, h, body := getRPC(t, b.baseURL, getRecord, `{"srn": "`+versioned+`"}`, nil)
		if code != http.StatusOK || h.Get("Cache-Control") != "public, max-age=86400, immutable" || !strings.HasPrefix(h.Get("ETag"), `W/"`) {
			t.Fatalf("GET GetRecord %s: %d Cache-Control %q ETag %q (%s), want public, max-age=86400, immutable with an ETag",
				versioned, code, h.Get("Cache-Control"), h.Get("ETag"), body)
		}
		if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Accept-Encoding") {
			t.Fatalf("Vary %q, want Accept-Encoding among them", h.Values("Vary"))
		}
	})

	t.Run("LatestGetRecordRevalidated", func(t *testing.T) {
		t.Parallel()
		code, h, _ := getRPC(t, b.baseURL, getRecord, `{"srn": "`+latest+`"}`, nil)
		if code != http.StatusOK || h.Get("Cache-Control") != "public, no-cache" || h.Get("ETag") == "" {
			t.Fatalf("GET GetRecord %s: %d Cache-Control %q ETag %q, want public, no-cache with an ETag", latest, code, h.Get("Cache-Control"), h.Get("ETag"))
		}
	})

	t.Run("OtherReads", func(t *testing.T) {
		t.Parallel()
		for _, procedure := range []string{osav1connect.SearchServiceSearchProcedure, osav1connect.SearchServiceListBackendsProcedure,
			osav1connect.RecordServiceListRecordsProcedure, osav1connect.SourceServiceListSourcesProcedure} {
			msg := `{}`
			if procedure == osav1connect.SearchServiceSearchProcedure {
				msg = `{"query": "heart", "mode": "keyword"}`
			}
			code, h, body := getRPC(t, b.baseURL, procedure, msg, nil)
			if code != http.StatusOK || h.Get("Cache-Control") != "public, no-cache" || h.Get("ETag") == "" {
				t.Errorf("GET %s: %d Cache-Control %q ETag %q (%.200s), want public, no-cache with an ETag", procedure, code, h.Get("Cache-Control"), h.Get("ETag"), body)
			}
		}
		// Admin reads need the admin scope: no shared cache may keep them.
		code, h, body := getRPC(t, b.baseURL, osav1connect.AdminServiceGetQueueStatsProcedure, `{}`, nil)
		if code != http.StatusOK || h.Get("Cache-Control") != "private, no-cache" {
			t.Errorf("GET GetQueueStats: %d Cache-Control %q (%.200s), want private, no-cache", code, h.Get("Cache-Control"), body)
		}
	})

	t.Run("ETagRoundTrip", func(t *testing.T) {
		t.Parallel()
		_, h, first := getRPC(t, b.baseURL, getRecord, `{"srn": "`+latest+`"}`, nil)
		tag := h.Get("ETag")
		code, h, body := getRPC(t, b.baseURL, getRecord, `{"srn": "`+latest+`"}`, map[string]string{"If-None-Match": tag})
		if code != http.StatusNotModified || body != "" || h.Get("ETag") != tag || h.Get("Cache-Control") != "public, no-cache" {
			t.Fatalf("GET with If-None-Match %s: %d ETag %q Cache-Control %q body %q, want 304 with the same ETag and no body",
				tag, code, h.Get("ETag"), h.Get("Cache-Control"), body)
		}
		// A list of tags, the strong form of the weak tag, and "*" match too; another tag does not.
		for _, inm := range []string{`"other", ` + tag, strings.TrimPrefix(tag, "W/"), "*"} {
			if code, _, _ := getRPC(t, b.baseURL, getRecord, `{"srn": "`+latest+`"}`, map[string]string{"If-None-Match": inm}); code != http.StatusNotModified {
				t.Errorf("If-None-Match %s: %d, want 304", inm, code)
			}
		}
		code, _, body = getRPC(t, b.baseURL, getRecord, `{"srn": "`+latest+`"}`, map[string]string{"If-None-Match": `W/"other"`})
		if code != http.StatusOK || body != first {
			t.Fatalf("If-None-Match of another tag: %d %q, want 200 with the record", code, body)
		}
	})

	t.Run("ErrorsNotStored", func(t *testing.T) {
		t.Parallel()
		for _, msg := range []string{`{"srn": "` + latest + `0"}`, `{"srn": "urn:osa:localhost:rec:0190f2a8-7c1e-7000-8000-000000000000@1"}`} {
			code, h, body := getRPC(t, b.baseURL, getRecord, msg, map[string]string{"If-None-Match": "*"})
			if code < 400 || h.Get("Cache-Control") != "no-store" || h.Get("ETag") != "" {
				t.Errorf("GET GetRecord %s: %d Cache-Control %q ETag %q (%s), want an error with no-store and no ETag",
					msg, code, h.Get("Cache-Control"), h.Get("ETag"), body)
			}
		}
	})

	t.Run("POSTNotCached", func(t *testing.T) {
		t.Parallel()
		resp, err := http.Post(b.baseURL+getRecord, "application/json", strings.NewReader(`{"srn": "`+versioned+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "" || resp.Header.Get("ETag") != "" {
			t.Fatalf("POST GetRecord: %d Cache-Control %q ETag %q, want 200 without either", resp.StatusCode, resp.Header.Get("Cache-Control"), resp.Header.Get("ETag"))
		}
	})
}

// A changed record gets a new ETag, so a cache's copy is replaced; http.cache.max_age and
// version_max_age set the max-ages, and reads that need a token (auth.public_read false) are
// private.
func TestCacheHeadersConfigured(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) {
		c.HTTP.Cache.MaxAge = 30 * time.Second
		c.HTTP.Cache.VersionMaxAge = 365 * 24 * time.Hour
		c.Auth.PublicRead = false // with no tokens, loopback callers may still read
	})
	versioned := publish(t, b, "Mouse heart atlas")
	latest, _, _ := strings.Cut(versioned, "@")
	getRecord := osav1connect.RecordServiceGetRecordProcedure

	_, h, _ := getRPC(t, b.baseURL, getRecord, `{"srn": "`+versioned+`"}`, nil)
	if got := h.Get("Cache-Control"); got != "private, max-age=31536000, immutable" {
		t.Errorf("versioned GetRecord: Cache-Control %q, want private, max-age=31536000, immutable", got)
	}
	_, h, _ = getRPC(t, b.baseURL, getRecord, `{"srn": "`+latest+`"}`, nil)
	if got := h.Get("Cache-Control"); got != "private, max-age=30" {
		t.Errorf("GetRecord: Cache-Control %q, want private, max-age=30", got)
	}

	old := h.Get("ETag")
	publish(t, b, "Mouse heart atlas, second edition") // same source id: version 2
	code, h, body := getRPC(t, b.baseURL, getRecord, `{"srn": "`+latest+`"}`, map[string]string{"If-None-Match": old})
	if code != http.StatusOK || h.Get("ETag") == old || !strings.Contains(body, "second edition") {
		t.Fatalf("GET after a change with the old ETag: %d ETag %q (old %q) %s, want 200 with the new version and a new ETag", code, h.Get("ETag"), old, body)
	}
}
