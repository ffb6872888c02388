package config

import (
	"fmt"
	"regexp"
	"slices"
)

// Scopes a token can carry, the values of auth.tokens[].scopes.
const (
	ScopeAdmin        = "admin"         // admin RPCs and River UI; implies every other scope
	ScopeRecordsRead  = "records:read"  // follow the changefeed and export when auth.public_read is false
	ScopeRecordsWrite = "records:write" // publish and delete records
	ScopeSourcesRun   = "sources:run"   // start harvests
)

// PublicReadDefault is the default of auth.public_read.
const PublicReadDefault = true

var (
	tokenNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
	sha256Re    = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Auth configures who may call what.
type Auth struct {
	// PublicRead lets anyone call the read RPCs (GetRecord, ListRecords, GetIndexStatus, Search,
	// ListBackends, ListSources, GetHarvest, ListEvents, WatchEvents, ExportRecords and the
	// downloads under /export/); false requires a valid token for them too, and for the
	// changefeed (ListEvents, WatchEvents) and exports one with the records:read scope.
	// Defaults to true.
	PublicRead bool `koanf:"public_read"`

	// Tokens are the bearer tokens the server accepts, stored as SHA-256 hashes: `osa token
	// new NAME --scopes …` prints a new token once, with its config line. With no tokens,
	// every call from a loopback address is allowed (for `osa dev`) and writes from anywhere
	// else are refused. Defaults to none.
	Tokens []Token `koanf:"tokens"`
}

// Token is one accepted bearer token.
type Token struct {
	// Name identifies the token in logs and metrics, [a-z0-9][a-z0-9_.-]{0,63}, unique.
	// Required.
	Name string `koanf:"name"`

	// SHA256 is the lower-case hex SHA-256 of the token. Required.
	SHA256 string `koanf:"sha256"`

	// Scopes are what the token may do: "records:read", "records:write", "sources:run",
	// "admin". At least one.
	Scopes []string `koanf:"scopes"`
}

func (a *Auth) validate(p *problems) {
	names := map[string]int{}
	hashes := map[string]int{}
	for i, t := range a.Tokens {
		key := fmt.Sprintf("auth.tokens[%d]", i)
		if !tokenNameRe.MatchString(t.Name) {
			p.add(key+".name", "%q must match [a-z0-9][a-z0-9_.-]{0,63}", t.Name)
		} else if j, dup := names[t.Name]; dup {
			p.add(key+".name", "%q is also the name of auth.tokens[%d]", t.Name, j)
		}
		names[t.Name] = i
		if !sha256Re.MatchString(t.SHA256) {
			p.add(key+".sha256", "must be 64 lower-case hex digits (the SHA-256 of the token; `osa token new` prints it)")
		} else if j, dup := hashes[t.SHA256]; dup {
			p.add(key+".sha256", "is also the hash of auth.tokens[%d]", j)
		}
		hashes[t.SHA256] = i
		if len(t.Scopes) == 0 {
			p.add(key+".scopes", "at least one of %s, %s, %s, %s is required", ScopeRecordsRead, ScopeRecordsWrite, ScopeSourcesRun, ScopeAdmin)
		}
		for j, s := range t.Scopes {
			if !slices.Contains([]string{ScopeAdmin, ScopeRecordsRead, ScopeRecordsWrite, ScopeSourcesRun}, s) {
				p.add(fmt.Sprintf("%s.scopes[%d]", key, j), "%q is not one of %s, %s, %s, %s", s, ScopeRecordsRead, ScopeRecordsWrite,
					ScopeSourcesRun, ScopeAdmin)
			}
		}
	}
}
