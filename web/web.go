// Package web is the archive's web interface, served by the same binary on the same port: a
// search page (/) for researchers, a page per record (/records/{id}) and a status page
// (/status) for operators. Pages are rendered on the server with html/template (contextual
// escaping; no template.HTML is ever built from record data) and work without JavaScript; the
// one stylesheet is embedded, with no CDN and no external font. Every answer carries a strict
// Content-Security-Policy and the other security headers (headers.go).
//
// The whole state of a page is in its URL (/?q=heart&organism=Mus+musculus&page=2), so a page
// can be shared, bookmarked and reached again with the back button.
package web

import (
	"context"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/osa-archive/osa/indexstate"
	"github.com/osa-archive/osa/jobs/admin"
	"github.com/osa-archive/osa/jobs/harvest"
	"github.com/osa-archive/osa/records"
	"github.com/osa-archive/osa/search"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Defaults of [Config].
const (
	TitleDefault = "Open Science Archive"
	AboutDefault = "Search the datasets this archive keeps, by meaning or by words, and narrow them by organism, platform and year."
)

// Config configures the interface (ui.*).
type Config struct {
	// Title is the archive's name, in every page's heading and title. Defaults to TitleDefault.
	Title string
	// About is a line under the search box. Defaults to AboutDefault.
	About string
	// RiverUI is the path River UI is served at, linked from the status page; "" when it is
	// not served.
	RiverUI string
}

// BackendStatus is one backend of the catalog as the status page shows it.
type BackendStatus struct {
	search.BackendInfo
	// State is the catalog's state (building, live); Generation its generation.
	State      string
	Generation int
	// BuildDone and BuildTotal are a building backend's progress; 0 otherwise. BuildStarted is
	// when its build started.
	BuildDone, BuildTotal int64
	BuildStarted          time.Time
	// Freshness is how soon the backend indexed what was published in the last
	// FreshnessWindow; zero Records when it indexed nothing then.
	Freshness indexstate.Freshness
}

// FreshnessWindow is the period the status page measures freshness over.
const FreshnessWindow = time.Hour

// BuildETA estimates how long the build has left from its pace so far; 0 when unknown.
func (b BackendStatus) BuildETA() time.Duration {
	if b.BuildDone <= 0 || b.BuildTotal <= b.BuildDone || b.BuildStarted.IsZero() {
		return 0
	}
	return time.Duration(float64(time.Since(b.BuildStarted)) * float64(b.BuildTotal-b.BuildDone) / float64(b.BuildDone))
}

// Status is what the status page shows.
type Status struct {
	Backends []BackendStatus
	Queues   []admin.QueueStats
	Harvests []harvest.Harvest
}

// Deps are what the pages read and do, provided by the server.
type Deps struct {
	// Search answers the search page and the similar records.
	Search *search.Service
	// Records reads records, their versions and their index status.
	Records *records.Store
	// Backends returns the names of the backends whose index status a record page shows.
	Backends func() []string
	// Status reads the status page's figures.
	Status func(ctx context.Context) (*Status, error)
	// RetryFailed retries a backend's failed records and returns how many.
	RetryFailed func(ctx context.Context, backend string) (int64, error)
	// Admin guards the status page and its retry: the admin scope when tokens are configured.
	Admin func(http.Handler) http.Handler
	// Logger logs what failed while a page was rendered.
	Logger *slog.Logger
}

// UI serves the pages.
type UI struct {
	cfg   Config
	deps  Deps
	pages map[string]*template.Template
	mux   *http.ServeMux
}

// New returns the interface over deps; it panics if a template does not parse (they are
// embedded, so a test catches it).
func New(cfg Config, deps Deps) *UI {
	if cfg.Title == "" {
		cfg.Title = TitleDefault
	}
	if cfg.About == "" {
		cfg.About = AboutDefault
	}
	u := &UI{cfg: cfg, deps: deps, pages: parsePages(), mux: http.NewServeMux()}
	static, _ := fs.Sub(staticFS, "static")
	u.mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	u.mux.HandleFunc("GET /{$}", u.searchPage)
	u.mux.HandleFunc("GET /records/{id}", u.recordPage)
	u.mux.Handle("GET /status", deps.Admin(http.HandlerFunc(u.statusPage)))
	u.mux.Handle("POST /status/retry", deps.Admin(http.HandlerFunc(u.retry)))
	return u
}

// Routes lists the patterns the interface serves, for the server's mux.
func Routes() []string {
	return []string{"GET /{$}", "GET /static/", "GET /records/{id}", "GET /status", "POST /status/retry"}
}

// ServeHTTP serves a page with the security headers.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	u.mux.ServeHTTP(w, r)
}

// parsePages parses each page with the layout.
func parsePages() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, page := range []string{"search", "record", "status", "error"} {
		out[page] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html",
			"templates/"+page+".html"))
	}
	return out
}

// render writes page with data, status code code; a template error is logged and answered 500.
func (u *UI) render(w http.ResponseWriter, r *http.Request, code int, page string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := u.pages[page].Execute(w, pageData{UI: u.cfg, Path: r.URL.Path, Data: data}); err != nil {
		u.deps.Logger.ErrorContext(r.Context(), "web: error rendering a page", "page", page, "error", err)
	}
}

// pageData is what every page's template gets: the archive's name and the page's own data.
type pageData struct {
	UI   Config
	Path string
	Data any
}

// errorPage renders an error page with code and message.
func (u *UI) errorPage(w http.ResponseWriter, r *http.Request, code int, message string) {
	u.render(w, r, code, "error", struct {
		Code    int
		Message string
	}{code, message})
}
