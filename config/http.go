package config

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults and bounds of http.cors and http.cache.
const (
	// CORSMaxAgeDefault is the default of http.cors.max_age: two hours, the most Chromium
	// keeps a preflight's answer.
	CORSMaxAgeDefault = 2 * time.Hour
	CORSMaxAgeMax     = 24 * time.Hour

	// CacheMaxAgeDefault is the default of http.cache.max_age: every cached read is revalidated
	// (reads such as Search and GetIndexStatus change as records are indexed).
	CacheMaxAgeDefault = time.Duration(0)
	CacheMaxAgeMax     = 24 * time.Hour

	// CacheVersionMaxAgeDefault is the default of http.cache.version_max_age.
	CacheVersionMaxAgeDefault = 24 * time.Hour
	CacheVersionMaxAgeMax     = 365 * 24 * time.Hour
)

// CORS lets pages served from other origins call the API from a browser (Connect, and gRPC-Web,
// with their preflights). River UI is never served cross-origin.
type CORS struct {
	// AllowedOrigins are the origins whose pages may call the API, each scheme://host[:port]
	// as a browser sends it in Origin (e.g. "https://app.example.org",
	// "http://localhost:5173"), or "*" for any origin. No cookies are sent (bearer tokens
	// only). Defaults to none: no cross-origin calls.
	AllowedOrigins []string `koanf:"allowed_origins"`

	// MaxAge is how long a browser may reuse a preflight's answer, in whole seconds,
	// 0..24h; 0 sends no Access-Control-Max-Age (browsers then keep it 5s). Defaults to 2h.
	MaxAge time.Duration `koanf:"max_age"`
}

// Cache sets what the Connect GET answers of the read RPCs say about caching (POST answers and
// errors are never cached). Every read answer carries an ETag and answers 304 to a matching
// If-None-Match.
type Cache struct {
	// MaxAge is how long a cache may reuse a read's answer without asking again, in whole
	// seconds, 0..24h; 0 has every reuse revalidated with the ETag (Cache-Control: no-cache).
	// Defaults to 0s.
	MaxAge time.Duration `koanf:"max_age"`

	// VersionMaxAge is how long a cache may keep the answer of GetRecord for an SRN with an
	// @version, whose metadata never changes (Cache-Control: immutable), in whole seconds,
	// 0..8760h (a year); 0 treats it like any other read. Its deleted_at can lag a deletion by
	// up to this long. Defaults to 24h.
	VersionMaxAge time.Duration `koanf:"version_max_age"`
}

func (c *CORS) validate(p *problems) {
	for i, o := range c.AllowedOrigins {
		if problem := originProblem(o); problem != "" {
			p.add(fmt.Sprintf("http.cors.allowed_origins[%d]", i), "%q %s", o, problem)
		}
	}
	p.seconds("http.cors.max_age", c.MaxAge, CORSMaxAgeMax)
}

func (c *Cache) validate(p *problems) {
	p.seconds("http.cache.max_age", c.MaxAge, CacheMaxAgeMax)
	p.seconds("http.cache.version_max_age", c.VersionMaxAge, CacheVersionMaxAgeMax)
}

// originProblem says what is wrong with o as an allowed origin, or "" when it is one: "*", or
// scheme://host[:port] with nothing after it, as a browser serialises an Origin.
func originProblem(o string) string {
	const want = `is not an origin (want scheme://host[:port] with no path, e.g. "https://app.example.org", or "*")`
	if o == "*" {
		return ""
	}
	u, err := url.Parse(o)
	switch {
	case err != nil || u.Scheme == "" || u.Opaque != "" || u.Host == "" || !strings.HasPrefix(o, u.Scheme+"://"):
		return want
	case u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(o, "?#"):
		return want
	case strings.Contains(u.Host, "*"):
		return `has a wildcard: list each origin, or "*" for any`
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return want
		}
	}
	if u.Hostname() == "" || strings.HasSuffix(u.Host, ":") {
		return want
	}
	return ""
}
