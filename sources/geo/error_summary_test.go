package geo_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/osa-archive/osa/sources"
	"github.com/osa-archive/osa/sources/geo/geotest"
)

func TestRateLimitAnswer(t *testing.T) {
	t.Parallel()
	t.Run("RetriedWithoutRetryAfter", func(t *testing.T) {
		t.Parallel()
		b := setup(t, geotest.Series(5), nil)
		b.fake.Fail("esummary", geotest.RateLimited("1.2.3.4"), geotest.RateLimited("1.2.3.4"))
		page, _ := b.pull(t, sources.Cursor{})
		if page.Fetched != 5 || b.fake.Count("esummary") != 3 {
			t.Fatalf("fetched %d with %d esummary requests, want 5 with 3", page.Fetched, b.fake.Count("esummary"))
		}
	})
	t.Run("ErrorNamesNoAddressOrKey", func(t *testing.T) {
		t.Parallel()
		b := setup(t, geotest.Series(5), nil)
		for range 5 {
			b.fake.Fail("esearch", geotest.RateLimited("1.2.3.4"))
		}
		_, _, err := b.src.Pull(context.Background(), sources.Cursor{})
		if err == nil {
			t.Fatal("Pull passed")
		}
		msg := err.Error()
		for _, want := range []string{"HTTP 429", "API rate limit exceeded"} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q lacks %q", msg, want)
			}
		}
		for _, leak := range []string{"1.2.3.4", "api-key", "secret-key"} {
			if strings.Contains(msg, leak) {
				t.Errorf("error %q shows %q", msg, leak)
			}
		}
	})
	t.Run("KeyEchoedInAnyBody", func(t *testing.T) {
		t.Parallel()
		// With a key, NCBI names the key; an HTML error page may echo anything.
		b := setup(t, geotest.Series(5), nil)
		b.fake.Fail("esearch", geotest.Fault{Status: 400,
			Body: `{"error":"API key invalid: secret-key from 2001:db8::1 and 10.0.0.7","api-key":"secret-key"}`})
		_, _, err := b.src.Pull(context.Background(), sources.Cursor{})
		if err == nil || !errors.Is(err, sources.ErrPermanent) || !strings.Contains(err.Error(), "API key invalid") {
			t.Fatalf("Pull = %v, want a permanent error with NCBI's message", err)
		}
		for _, leak := range []string{"secret-key", "2001:db8::1", "10.0.0.7"} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("error %q shows %q", err, leak)
			}
		}
		b.fake.Fail("esearch", geotest.Fault{Status: 400, Body: `<html>Your address 192.0.2.10 is blocked</html>`})
		_, _, err = b.src.Pull(context.Background(), sources.Cursor{})
		if err == nil || strings.Contains(err.Error(), "192.0.2.10") || !strings.Contains(err.Error(), "HTTP 400") {
			t.Fatalf("Pull = %v, want HTTP 400 without the body's address", err)
		}
	})
}
