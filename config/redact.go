package config

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Redacted replaces a secret in the output of [Config.Redacted].
const Redacted = "REDACTED"

// dsnPasswordRe finds the password of a keyword/value connection string.
var dsnPasswordRe = regexp.MustCompile(`password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)`)

// Redacted returns a deep copy of c with its secrets replaced by "REDACTED":
// the passwords of database.url, listen_url and replica_urls and every non-empty api_key. Empty secrets
// stay empty, so the copy still shows which are unset. c isn't changed.
func (c *Config) Redacted() *Config {
	r := c.clone()
	r.Database.URL = redactConnString(r.Database.URL)
	r.Database.ListenURL = redactConnString(r.Database.ListenURL)
	for i, u := range r.Database.ReplicaURLs {
		r.Database.ReplicaURLs[i] = redactConnString(u)
	}
	for i := range r.Backends {
		if e := r.Backends[i].Embedder; e != nil && e.APIKey != "" {
			e.APIKey = Redacted
		}
	}
	for i := range r.Sources {
		if g := r.Sources[i].Geo; g != nil && g.APIKey != "" {
			g.APIKey = Redacted
		}
	}
	return r
}

// clone returns a deep copy of c: nothing in it shares memory with c.
func (c *Config) clone() *Config {
	r := *c
	r.Database.ReplicaURLs = slices.Clone(c.Database.ReplicaURLs)
	r.Backends = slices.Clone(c.Backends)
	for i := range r.Backends {
		b := &r.Backends[i]
		b.Text.Fields = slices.Clone(b.Text.Fields)
		if b.Embedder != nil {
			e := *b.Embedder
			b.Embedder = &e
		}
		if b.HNSW != nil {
			h := *b.HNSW
			b.HNSW = &h
		}
	}
	r.Sources = slices.Clone(c.Sources)
	for i := range r.Sources {
		if g := r.Sources[i].Geo; g != nil {
			gc := *g
			r.Sources[i].Geo = &gc
		}
	}
	return &r
}

// redactConnString replaces the password of a Postgres connection string,
// URL (user:password@, ?password=) or keyword/value (password=...). A URL
// that doesn't parse is replaced as a whole, since its password can't be
// found reliably.
func redactConnString(s string) string {
	if !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") {
		return dsnPasswordRe.ReplaceAllString(s, "password="+Redacted)
	}
	u, err := url.Parse(s)
	if err != nil {
		return Redacted
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), Redacted)
	}
	if q := u.Query(); q.Has("password") || q.Has("sslpassword") {
		for _, k := range []string{"password", "sslpassword"} {
			if q.Has(k) {
				q.Set(k, Redacted)
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}
