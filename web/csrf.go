package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
)

// csrfCookie holds the token a form of the status page must post back (the double-submit
// pattern: another site can make a browser send the cookie, but cannot read it to put it in the
// form). The cookie is SameSite=Strict and HttpOnly, and a post must also come from the page's
// own origin when the browser says where it comes from. Nothing is kept on the server, so any
// process of the archive checks a form another rendered.
const (
	csrfCookie = "osa_csrf"
	csrfField  = "csrf"
)

// csrfToken returns the request's token, setting a new one in a cookie when it has none.
func csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && validToken(c.Value) {
		return c.Value
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	t := hex.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: t, Path: "/status", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil})
	return t
}

// csrfValid reports whether a form post carries the token of its cookie and, when the browser
// names the page it comes from, comes from the archive's own origin.
func csrfValid(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	c, err := r.Cookie(csrfCookie)
	form := r.PostFormValue(csrfField)
	return err == nil && validToken(c.Value) && subtle.ConstantTimeCompare([]byte(c.Value), []byte(form)) == 1
}

// validToken reports whether t has the shape of a token.
func validToken(t string) bool {
	b, err := hex.DecodeString(t)
	return err == nil && len(b) == 16
}
