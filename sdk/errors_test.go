package sdk_test

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/sdk"
)

func tokenEntry(name, secret string, scopes ...string) config.Token {
	sum := sha256.Sum256([]byte(secret))
	return config.Token{Name: name, SHA256: hex.EncodeToString(sum[:]), Scopes: scopes}
}

// TestErrors checks the typed errors of a real server: codes, sentinels and fields.
func TestErrors(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	base := newServer(t, func(c *config.Config) {
		c.Auth.Tokens = []config.Token{
			tokenEntry("writer", "osa_writer_secret", config.ScopeRecordsWrite),
			tokenEntry("admin", "osa_admin_secret", config.ScopeAdmin),
		}
	})
	anon := newClient(t, base)
	writer := newClient(t, base, sdk.WithToken("osa_writer_secret"))
	admin := newClient(t, base, sdk.WithToken("osa_admin_secret"))
	bogus := newClient(t, base, sdk.WithToken("osa_bogus"))

	// fieldOf returns the code and field of err, failing t unless it is an *sdk.Error.
	fieldOf := func(t *testing.T, err error) (sdk.Code, string) {
		t.Helper()
		var e *sdk.Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v (%T) is not an *sdk.Error", err, err)
		}
		if !strings.HasPrefix(err.Error(), string(e.Code)+": ") {
			t.Fatalf("error %#v: Error() = %q does not start with the code", e, err.Error())
		}
		return e.Code, e.Field
	}

	t.Run("Auth", func(t *testing.T) {
		t.Parallel()
		_, err := anon.Publish(ctx, sdk.PublishParams{Metadata: map[string]any{"a": 1}})
		if code, _ := fieldOf(t, err); code != sdk.CodeUnauthenticated || !errors.Is(err, sdk.ErrUnauthenticated) {
			t.Fatalf("Publish without a token = %v, want unauthenticated", err)
		}
		if _, err := bogus.Backends(ctx); !errors.Is(err, sdk.ErrUnauthenticated) {
			t.Fatalf("Backends with a bogus token = %v, want unauthenticated", err)
		}
		if _, err := anon.Backends(ctx); err != nil {
			t.Fatalf("Backends without a token (public read) = %v", err)
		}
		if _, err := writer.Publish(ctx, sdk.PublishParams{Metadata: map[string]any{"a": 1}}); err != nil {
			t.Fatalf("Publish with records:write = %v", err)
		}
		if _, err := writer.QueueStats(ctx); !errors.Is(err, sdk.ErrPermissionDenied) || errors.Is(err, sdk.ErrNotFound) {
			t.Fatalf("QueueStats with records:write = %v, want permission denied", err)
		}
		if _, err := admin.QueueStats(ctx); err != nil {
			t.Fatalf("QueueStats with admin = %v", err)
		}
	})

	t.Run("InvalidArgument", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name  string
			call  func() error
			field string
		}{
			{"Get", func() error { _, err := anon.Get(ctx, "not-an-srn"); return err }, "srn"},
			{"IndexStatus", func() error { _, err := anon.IndexStatus(ctx, "urn:osa:localhost:dataset:x"); return err }, "srn"},
			{"Delete", func() error { return writer.Delete(ctx, "") }, "srn"},
			{"Publish", func() error {
				_, err := writer.Publish(ctx, sdk.PublishParams{Metadata: map[string]any{"a": 1}, Source: "lab"})
				return err
			}, "source_id"},
			{"Search query", func() error { _, err := anon.Search(ctx, "", nil); return err }, "query"},
			{"Search limit", func() error { _, err := anon.Search(ctx, "x", &sdk.SearchOpts{Limit: 1000}); return err }, "limit"},
			{"Search mode", func() error { _, err := anon.Search(ctx, "x", &sdk.SearchOpts{Mode: "fuzzy"}); return err }, "mode"},
			{"Search where", func() error { _, err := anon.Search(ctx, "x", &sdk.SearchOpts{Where: "year = 2010"}); return err }, "where"},
			{"Records", func() error {
				for _, err := range anon.Records(ctx, &sdk.RecordsParams{PageSize: 5000}) {
					return err
				}
				return nil
			}, "page_size"},
			{"Records where", func() error {
				for _, err := range anon.Records(ctx, &sdk.RecordsParams{Where: "sample_count = "}) {
					return err
				}
				return nil
			}, "where"},
			{"RetryFailed", func() error { _, err := admin.RetryFailed(ctx, ""); return err }, "backend"},
		} {
			err := tc.call()
			code, field := fieldOf(t, err)
			if code != sdk.CodeInvalidArgument || field != tc.field || !errors.Is(err, sdk.ErrInvalidArgument) {
				t.Errorf("%s: %v (field %q), want invalid_argument on %q", tc.name, err, field, tc.field)
			}
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		const missing = "urn:osa:localhost:rec:0190b2a4-7c1e-7cc0-9d2a-6d3c1f0a9e11"
		if _, err := anon.Get(ctx, missing); !errors.Is(err, sdk.ErrNotFound) {
			t.Fatalf("Get = %v, want not found", err)
		}
		if err := writer.Delete(ctx, missing); !errors.Is(err, sdk.ErrNotFound) {
			t.Fatalf("Delete = %v, want not found", err)
		}
		if _, err := anon.WaitIndexed(ctx, missing); !errors.Is(err, sdk.ErrNotFound) {
			t.Fatalf("WaitIndexed = %v, want not found", err)
		}
		// The API documents NotFound for an unknown backend; accept the field error servers
		// give today too.
		_, err := anon.Search(ctx, "x", &sdk.SearchOpts{Backend: "nope"})
		if code, field := fieldOf(t, err); code != sdk.CodeNotFound && (code != sdk.CodeInvalidArgument || field != "backend") {
			t.Fatalf("Search on a missing backend = %v", err)
		}
		_, err = admin.RetryFailed(ctx, "nope")
		if code, field := fieldOf(t, err); code != sdk.CodeNotFound && (code != sdk.CodeInvalidArgument || field != "backend") {
			t.Fatalf("RetryFailed on a missing backend = %v", err)
		}
	})

	t.Run("WaitIndexedUnknownBackend", func(t *testing.T) {
		t.Parallel()
		rec, err := writer.Publish(ctx, sdk.PublishParams{Metadata: map[string]any{"a": 2}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = anon.WaitIndexed(ctx, rec.SRN, "keyword", "nope")
		if code, field := fieldOf(t, err); code != sdk.CodeInvalidArgument || field != "backends" || !strings.Contains(err.Error(), `"nope"`) {
			t.Fatalf("WaitIndexed(nope) = %v", err)
		}
	})
}
