package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run executes the osa command line in-process and returns its output and error.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestBadConfigIsOneClearLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	unknown := filepath.Join(dir, "unknown.yaml")
	if err := os.WriteFile(unknown, []byte("http:\n  adr: \":8080\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown key", []string{"config", "print", "--config", unknown}, `unknown key "http.adr"`},
		{"invalid addr", []string{"config", "print", "--set", "http.addr=nope"}, "http.addr"},
		{"invalid role", []string{"serve", "--role", "boss"}, "node.role"},
		{"unreachable database", []string{"serve", "--database-url", "postgres://osa:pw@127.0.0.1:1/osa?connect_timeout=2"},
			"database.url: cannot connect"},
		{"missing database", []string{"migrate", "status"}, "database.url is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := run(t, tc.args...)
			if err == nil {
				t.Fatalf("osa %v succeeded, want an error naming %q", tc.args, tc.want)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Fatalf("osa %v: %q, want one line containing %q", tc.args, msg, tc.want)
			}
		})
	}
}

func TestConfigPrintRedacts(t *testing.T) {
	t.Parallel()
	out, err := run(t, "config", "print", "--set", "database.url=postgres://osa:hunter2@db:5432/osa", "--set", "http.addr=:9999")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "hunter2") {
		t.Fatalf("config print shows the password:\n%s", out)
	}
	if !strings.Contains(out, `":9999"`) && !strings.Contains(out, "addr: :9999") {
		t.Fatalf("config print does not show the --set value:\n%s", out)
	}
}

func TestTokenNew(t *testing.T) {
	t.Parallel()
	out, err := run(t, "token", "new", "ci", "--scopes", "records:write,sources:run")
	if err != nil {
		t.Fatal(err)
	}
	var tok, hash string
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "osa_") {
			tok = f
		}
		if len(f) == 65 && strings.HasSuffix(f, ",") {
			hash = strings.TrimSuffix(f, ",")
		}
	}
	sum := sha256.Sum256([]byte(tok))
	if tok == "" || hash != hex.EncodeToString(sum[:]) || !strings.Contains(out, "scopes: [records:write, sources:run]") {
		t.Fatalf("token new printed:\n%s", out)
	}
	if _, err := run(t, "token", "new", "ci", "--scopes", "root"); err == nil || !strings.Contains(err.Error(), "auth.tokens[0].scopes[0]") {
		t.Fatalf("unknown scope: %v", err)
	}
}

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer ok.Close()
	if _, err := run(t, "healthcheck", "--url", ok.URL+"/readyz"); err != nil {
		t.Fatalf("healthy server: %v", err)
	}
	if _, err := run(t, "healthcheck", "--url", ok.URL+"/other"); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("unhealthy server: %v", err)
	}
}
