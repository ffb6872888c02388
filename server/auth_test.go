package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/config"
)

// Tokens of the auth tests, by the scope they carry.
const (
	readerToken = "osa_test_reader_3b8e42"
	writerToken = "osa_test_writer_5f1d0a"
	harvestTok  = "osa_test_harvester_77c2"
	adminToken  = "osa_test_admin_a93e11"
)

func hashOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func withTokens(publicRead bool) func(*config.Config) {
	return func(c *config.Config) {
		c.Auth.PublicRead = publicRead
		c.Auth.Tokens = []config.Token{
			{Name: "reader", SHA256: hashOf(readerToken), Scopes: []string{config.ScopeRecordsRead}},
			{Name: "writer", SHA256: hashOf(writerToken), Scopes: []string{config.ScopeRecordsWrite}},
			{Name: "harvester", SHA256: hashOf(harvestTok), Scopes: []string{config.ScopeSourcesRun}},
			{Name: "admin", SHA256: hashOf(adminToken), Scopes: []string{config.ScopeAdmin}},
		}
	}
}

// call posts {} to a procedure with an optional bearer token and returns the Connect code
// ("" for success).
func call(t *testing.T, base, procedure, token string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+procedure, strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return ""
	}
	var code struct{ Code string }
	_ = json.Unmarshal(body, &code)
	return code.Code
}

// procedures lists every unary OSA procedure with the scope it needs ("" for reads open to any
// token; records:read, which auth.public_read waives). WatchEvents, a stream, is checked by
// TestEventsAuth.
var procedures = map[string]string{
	osav1connect.EventServiceListEventsProcedure:      config.ScopeRecordsRead,
	osav1connect.RecordServicePublishRecordProcedure:  config.ScopeRecordsWrite,
	osav1connect.RecordServicePublishRecordsProcedure: config.ScopeRecordsWrite,
	osav1connect.RecordServiceDeleteRecordProcedure:   config.ScopeRecordsWrite,
	osav1connect.RecordServiceGetRecordProcedure:      "",
	osav1connect.RecordServiceListRecordsProcedure:    "",
	osav1connect.RecordServiceGetIndexStatusProcedure: "",
	osav1connect.SearchServiceSearchProcedure:         "",
	osav1connect.SearchServiceListBackendsProcedure:   "",
	osav1connect.SourceServiceListSourcesProcedure:    "",
	osav1connect.SourceServiceGetHarvestProcedure:     "",
	osav1connect.SourceServiceStartHarvestProcedure:   config.ScopeSourcesRun,
	osav1connect.AdminServiceReindexProcedure:         config.ScopeAdmin,
	osav1connect.AdminServiceRetryFailedProcedure:     config.ScopeAdmin,
	osav1connect.AdminServiceGetQueueStatsProcedure:   config.ScopeAdmin,
	osav1connect.AdminServiceApplyBackendsProcedure:   config.ScopeAdmin,
}

var tokenOf = map[string]string{config.ScopeRecordsRead: readerToken, config.ScopeRecordsWrite: writerToken, config.ScopeSourcesRun: harvestTok, config.ScopeAdmin: adminToken}

func TestAuthRules(t *testing.T) {
	t.Parallel()
	for _, publicRead := range []bool{true, false} {
		b := setup(t, withTokens(publicRead))
		for proc, scope := range procedures {
			denied := func(code string) bool { return code == "unauthenticated" || code == "permission_denied" }
			// No token: reads pass only when public; everything else is unauthenticated.
			got := call(t, b.baseURL, proc, "")
			read := scope == "" || scope == config.ScopeRecordsRead && publicRead
			if read && publicRead {
				if denied(got) {
					t.Errorf("public_read=%v %s without a token: %s, want allowed", publicRead, proc, got)
				}
			} else if got != "unauthenticated" {
				t.Errorf("public_read=%v %s without a token: %q, want unauthenticated", publicRead, proc, got)
			}
			// An unknown token is never accepted.
			if got := call(t, b.baseURL, proc, "osa_not_a_token"); got != "unauthenticated" {
				t.Errorf("%s with an unknown token: %q, want unauthenticated", proc, got)
			}
			for s, tok := range tokenOf {
				got := call(t, b.baseURL, proc, tok)
				allowed := read || scope == s || s == config.ScopeAdmin
				if allowed && denied(got) {
					t.Errorf("%s with a %s token: %s, want allowed", proc, s, got)
				}
				if !allowed && got != "permission_denied" {
					t.Errorf("%s with a %s token: %q, want permission_denied", proc, s, got)
				}
			}
		}
	}
}

func TestRiverUIAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, withTokens(true))
	get := func(set func(*http.Request)) int {
		req, _ := http.NewRequest(http.MethodGet, b.baseURL+"/riverui/", nil)
		set(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for name, tc := range map[string]struct {
		set  func(*http.Request)
		want int
	}{
		"no token":          {func(*http.Request) {}, http.StatusUnauthorized},
		"wrong password":    {func(r *http.Request) { r.SetBasicAuth("admin", "nope") }, http.StatusUnauthorized},
		"writer token":      {func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+writerToken) }, http.StatusForbidden},
		"admin bearer":      {func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+adminToken) }, http.StatusOK},
		"admin as password": {func(r *http.Request) { r.SetBasicAuth("anyone", adminToken) }, http.StatusOK},
	} {
		if got := get(tc.set); got != tc.want {
			t.Errorf("River UI with %s: %d, want %d", name, got, tc.want)
		}
	}
}

// With no tokens configured, callers on loopback may do anything (osa dev).
func TestNoTokensAllowsLoopback(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	if got := call(t, b.baseURL, osav1connect.AdminServiceGetQueueStatsProcedure, ""); got == "unauthenticated" || got == "permission_denied" {
		t.Fatalf("admin RPC from loopback with no tokens configured: %s", got)
	}
	if code, _ := get(t, b.baseURL+"/riverui/"); code != http.StatusOK {
		t.Fatalf("River UI from loopback with no tokens configured: %d", code)
	}
}

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestTokensNeverLogged(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	b := setupWithLogger(t, withTokens(false), slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	for proc := range procedures {
		for _, tok := range []string{readerToken, writerToken, harvestTok, adminToken, "osa_wrong_token_secret"} {
			call(t, b.baseURL, proc, tok)
		}
	}
	for _, tok := range []string{writerToken, adminToken} {
		req, _ := http.NewRequest(http.MethodGet, b.baseURL+"/riverui/", nil)
		req.SetBasicAuth("x", tok)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	out := logs.String()
	if !strings.Contains(out, "server: rpc") {
		t.Fatalf("the debug log captured no requests:\n%s", out)
	}
	for _, tok := range []string{readerToken, writerToken, harvestTok, adminToken, "osa_wrong_token_secret"} {
		if strings.Contains(out, tok) {
			t.Fatalf("a token appears in the logs")
		}
	}
}
