package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
)

// statusRefresh is how often the status page reloads itself when asked to, in seconds.
const statusRefresh = 10

// statusView is the status page's data.
type statusView struct {
	*Status
	CSRF    string
	RiverUI string
	// Refresh is how often the page reloads itself, 0 when it does not: it does when its URL
	// asks (?refresh=10), which the page links to, so that the reader decides (an automatic
	// reload the reader cannot stop fails WCAG 2.2.1). Every is the period it offers.
	Refresh, Every int
	Notice         string
}

// statusPage renders /status: the catalog's backends with their counts, health and build
// progress, the job queues, the harvests, and a retry form per backend.
func (u *UI) statusPage(w http.ResponseWriter, r *http.Request) {
	st, err := u.deps.Status(r.Context())
	if err != nil {
		u.failed(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	v := statusView{Status: st, CSRF: csrfToken(w, r), RiverUI: u.cfg.RiverUI, Every: statusRefresh, Notice: r.URL.Query().Get("notice")}
	if r.URL.Query().Get("refresh") != "" {
		v.Refresh = statusRefresh
	}
	u.render(w, r, http.StatusOK, "status", v)
}

// retry retries a backend's failed records, from the status page's form, and goes back to the
// page with what it did.
func (u *UI) retry(w http.ResponseWriter, r *http.Request) {
	if !csrfValid(r) {
		u.errorPage(w, r, http.StatusForbidden, "This form expired or was not sent from the status page: reload the status page and try again.")
		return
	}
	backend := r.PostFormValue("backend")
	if !slices.Contains(u.deps.Backends(), backend) {
		u.errorPage(w, r, http.StatusBadRequest, fmt.Sprintf("There is no backend %q.", backend))
		return
	}
	n, err := u.deps.RetryFailed(r.Context(), backend)
	if err != nil {
		u.failed(w, r, err)
		return
	}
	notice := fmt.Sprintf("Retrying %d failed records of %s.", n, backend)
	http.Redirect(w, r, "/status?notice="+url.QueryEscape(notice), http.StatusSeeOther)
}
