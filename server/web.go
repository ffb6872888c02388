package server

import (
	"context"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/catalog"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/indexstate"
	"github.com/osa-archive/osa/jobs/admin"
	"github.com/osa-archive/osa/jobs/harvest"
	"github.com/osa-archive/osa/jobs/reindex"
	"github.com/osa-archive/osa/search"
	"github.com/osa-archive/osa/web"
)

// webUI builds the web interface (ui.*) over the server's services: its pages are reads, and
// its status page and retry need the admin scope, as River UI does.
func (s *Server) webUI(auth *authorizer) http.Handler {
	riverUI := ""
	if s.ui != nil {
		riverUI = riverUIPrefix
	}
	ui := web.New(web.Config{Title: s.cfg.UI.Title, About: s.cfg.UI.About, RiverUI: riverUI}, web.Deps{
		Search:   s.search,
		Records:  s.store,
		Backends: s.view.names,
		Status:   s.webStatus,
		RetryFailed: func(ctx context.Context, backend string) (int64, error) {
			n, err := admin.RetryFailed(ctx, s.river.Client, s.pool, backend)
			return int64(n), err
		},
		Admin:  func(next http.Handler) http.Handler { return auth.page("The status page", config.ScopeAdmin, next) },
		Logger: s.logger,
	})
	return auth.page("The archive's pages", "read", s.webReads(ui))
}

// webStatus reads what the status page shows: the catalog's backends, the queues, the last
// harvest of every source.
func (s *Server) webStatus(ctx context.Context) (*web.Status, error) {
	bs, err := describeBackends(ctx, s.search, &s.view, s.pool)
	if err != nil {
		return nil, err
	}
	queues, err := admin.Stats(ctx, s.pool, s.queueNames())
	if err != nil {
		return nil, err
	}
	last, err := harvest.Last(ctx, s.pool, s.sources.Names())
	if err != nil {
		return nil, err
	}
	fresh, err := indexstate.FreshnessSince(ctx, s.pool, time.Now().Add(-web.FreshnessWindow))
	if err != nil {
		return nil, err
	}
	for i := range bs {
		bs[i].Freshness = fresh[bs[i].Name]
	}
	st := &web.Status{Backends: bs, Queues: queues}
	for _, name := range s.sources.Names() {
		if h, ok := last[name]; ok {
			st.Harvests = append(st.Harvests, h)
		}
	}
	return st, nil
}

// describeBackends lists every backend of the process's catalog view with its counts, health,
// catalog state and, while it is built, its progress: what ListBackends and the status page
// show.
func describeBackends(ctx context.Context, svc *search.Service, view *backendView, pool *pgxpool.Pool) ([]web.BackendStatus, error) {
	built := view.get()
	all := make([]backends.Searcher, len(built))
	for i, b := range built {
		all[i] = b.bc.Backend
	}
	infos, err := svc.Describe(ctx, all)
	if err != nil {
		return nil, err
	}
	out := make([]web.BackendStatus, len(infos))
	for i, info := range infos {
		out[i] = web.BackendStatus{BackendInfo: info, State: built[i].entry.State, Generation: built[i].entry.Generation}
		if built[i].entry.State == catalog.Building && pool != nil {
			r, ok, err := reindex.RunningFor(ctx, pool, info.Name)
			if err != nil {
				return nil, err
			}
			if ok {
				out[i].BuildDone, out[i].BuildTotal, out[i].BuildStarted = r.Done, r.Total, r.StartedAt
			}
		}
	}
	return out, nil
}
