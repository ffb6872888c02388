package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"

	"connectrpc.com/connect"

	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/config"
)

// procedureScopes names the scope each procedure needs; every other OSA procedure is a read,
// open to all when auth.public_read is set and to any valid token otherwise. The changefeed
// and exports need records:read, which auth.public_read waives (see [authorizer.authorize]).
var procedureScopes = map[string]string{
	osav1connect.EventServiceListEventsProcedure:      config.ScopeRecordsRead,
	osav1connect.EventServiceWatchEventsProcedure:     config.ScopeRecordsRead,
	osav1connect.RecordServiceExportRecordsProcedure:  config.ScopeRecordsRead,
	osav1connect.RecordServiceImportRecordsProcedure:  config.ScopeAdmin,
	osav1connect.RecordServicePublishRecordProcedure:  config.ScopeRecordsWrite,
	osav1connect.RecordServicePublishRecordsProcedure: config.ScopeRecordsWrite,
	osav1connect.RecordServiceDeleteRecordProcedure:   config.ScopeRecordsWrite,
	osav1connect.SourceServiceStartHarvestProcedure:   config.ScopeSourcesRun,
}

// scopeOf returns the scope procedure needs, "" for a read open to any valid token.
func scopeOf(procedure string) string {
	if strings.HasPrefix(procedure, "/"+osav1connect.AdminServiceName+"/") {
		return config.ScopeAdmin
	}
	return procedureScopes[procedure]
}

// token is one accepted token: the SHA-256 of its secret, never the secret itself.
type token struct {
	name   string
	hash   []byte
	scopes []string
}

// authorizer decides who may call what. Tokens are compared by their SHA-256, in constant time,
// against every configured token; a token is never logged or echoed.
type authorizer struct {
	// open is set when no tokens are configured: loopback callers may then do anything.
	open       bool
	publicRead bool
	tokens     []token
}

func newAuthorizer(cfg config.Auth) *authorizer {
	a := &authorizer{open: len(cfg.Tokens) == 0, publicRead: cfg.PublicRead}
	for _, t := range cfg.Tokens {
		h, _ := hex.DecodeString(t.SHA256) // validated by config
		a.tokens = append(a.tokens, token{name: t.Name, hash: h, scopes: t.Scopes})
	}
	return a
}

// errNoTokens explains a refusal when no tokens are configured.
var errNoTokens = errors.New("no tokens are configured (auth.tokens), so only callers on this machine may do this; see `osa token new`")

// authorize checks a call that needs scope ("" for a read) from remoteAddr with the given
// bearer token ("" for none). It returns nil or a Connect error: Unauthenticated for a missing
// or unknown token, PermissionDenied for a token without the scope. With auth.public_read the
// records:read scope is waived: what anyone may read, any valid token may read too.
func (a *authorizer) authorize(secret, remoteAddr, scope string) error {
	if scope == config.ScopeRecordsRead && a.publicRead {
		scope = ""
	}
	if secret == "" {
		switch {
		case a.open && isLoopback(remoteAddr):
			return nil
		case scope == "" && a.publicRead:
			return nil
		case a.open:
			return connect.NewError(connect.CodeUnauthenticated, errNoTokens)
		}
		return connect.NewError(connect.CodeUnauthenticated, errors.New("a bearer token is required (Authorization: Bearer <token>)"))
	}
	t := a.lookup(secret)
	switch {
	case t == nil:
		return connect.NewError(connect.CodeUnauthenticated, errors.New("the bearer token is not valid"))
	case scope == "" || slices.Contains(t.scopes, scope) || slices.Contains(t.scopes, config.ScopeAdmin):
		return nil
	}
	return connect.NewError(connect.CodePermissionDenied, fmt.Errorf("token %q lacks the %s scope", t.name, scope))
}

// lookup returns the token whose hash matches secret's, comparing against every token.
func (a *authorizer) lookup(secret string) *token {
	sum := sha256.Sum256([]byte(secret))
	var found *token
	for i := range a.tokens {
		if subtle.ConstantTimeCompare(sum[:], a.tokens[i].hash) == 1 {
			found = &a.tokens[i]
		}
	}
	return found
}

// interceptor authorizes every OSA RPC, unary or streaming, before its handler runs.
func (a *authorizer) interceptor() serverInterceptor {
	return func(ctx context.Context, call rpc, next func(context.Context) error) error {
		if err := a.authorize(bearer(call.Header), call.Peer.Addr, scopeOf(call.Spec.Procedure)); err != nil {
			return err
		}
		return next(ctx)
	}
}

// riverUI guards River UI, which can cancel, retry and delete jobs: it needs the admin scope,
// as a bearer token or as the password of HTTP basic authentication (any user name), so a
// browser can log in.
func (a *authorizer) riverUI(next http.Handler) http.Handler {
	return a.page("River UI", config.ScopeAdmin, next)
}

// page guards next, a page or tool for browsers named what, with scope ("" or "read" for a
// read): the token may come as the basic-auth password (which a browser asks for) or a bearer
// token. A missing token gets a basic-auth challenge.
func (a *authorizer) page(what, scope string, next http.Handler) http.Handler {
	if scope == "read" {
		scope = ""
	}
	need := "a token"
	if scope != "" {
		need = "a token with the " + scope + " scope"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret := bearer(r.Header)
		if _, password, ok := r.BasicAuth(); ok && secret == "" {
			secret = password
		}
		err := a.authorize(secret, r.RemoteAddr, scope)
		switch connect.CodeOf(err) {
		case connect.CodeUnauthenticated:
			w.Header().Set("WWW-Authenticate", `Basic realm="OSA", charset="UTF-8"`)
			http.Error(w, what+" needs "+need+" (as the basic-auth password or a bearer token)", http.StatusUnauthorized)
			return
		case connect.CodePermissionDenied:
			http.Error(w, what+" needs "+need, http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearer returns the token of an "Authorization: Bearer <token>" header, or "".
func bearer(h http.Header) string {
	v := h.Get("Authorization")
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return ""
}

// isRead reports whether scope is that of a read: none, or records:read.
func isRead(scope string) bool { return scope == "" || scope == config.ScopeRecordsRead }

// isLoopback reports whether a remote address ("ip:port") is on this machine.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
