package server

import (
	"compress/gzip"
	"net/http"

	"connectrpc.com/connect"
	"connectrpc.com/grpchealth"
	"connectrpc.com/grpcreflect"

	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/web"
)

// riverUIPrefix is where River UI is served.
const riverUIPrefix = "/riverui"

// handlerOptions are the options of every OSA service handler: the interceptors (the caching
// headers of GETs, tracing, metrics, logging, error mapping, auth, the rate and in-flight
// limits, then the routing of reads to replicas, outermost first), the read limit, compression
// and the strict JSON codec.
func (s *Server) handlerOptions(auth *authorizer) []connect.HandlerOption {
	interceptors := []connect.Interceptor{s.metrics.interceptor(), logInterceptor(s.logger), errorInterceptor(s.logger), auth.interceptor(),
		newLimiter(s.cfg.HTTP, auth).interceptor(), readRouting{router: s.router}}
	if s.tracing != nil {
		// The tracing interceptor is validated when tracing is set up; it cannot fail here.
		if ti, err := s.tracing.interceptor(); err == nil {
			interceptors = append([]connect.Interceptor{ti}, interceptors...)
		}
	}
	cache := &cacheInterceptor{cfg: s.cfg.HTTP.Cache, publicRead: s.cfg.Auth.PublicRead}
	interceptors = append([]connect.Interceptor{cache}, interceptors...)
	return []connect.HandlerOption{
		connect.WithInterceptors(interceptors...),
		connect.WithReadMaxBytes(int(s.cfg.HTTP.ReadMaxBytes)),
		connect.WithCompressMinBytes(s.cfg.HTTP.CompressMinBytes),
		connect.WithCompression("gzip", func() connect.Decompressor { return &gzip.Reader{} }, newGzipWriter),
		connect.WithCodec(strictJSON{}),
	}
}

// routes builds the mux for the process's role. Every role serves /healthz, /readyz and
// grpc.health.v1; the api and all roles add the five OSA services, gRPC reflection, River UI and
// the web interface (ui.enabled),
// the services and River UI behind the authorizer, and answer the browsers of http.cors's
// origins (cors.go).
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", serveHealthz)
	mux.HandleFunc("GET /readyz", s.ready.serveReadyz)
	mux.Handle(grpchealth.NewHandler(s.ready))
	mux.Handle("GET /metrics", s.metrics.handler())
	if s.cfg.Node.Role == config.RoleWorker {
		return mux
	}

	auth := newAuthorizer(s.cfg.Auth)
	opts := s.handlerOptions(auth)
	waiter := &indexWaiter{db: s.pool, live: s.view.liveNames, logger: s.logger, stopping: s.stopping,
		timeoutDefault: s.cfg.Records.WaitTimeoutDefault, timeoutMax: s.cfg.Records.WaitTimeoutMax}
	if s.router.Enabled() {
		waiter.replicas = s.router.Routable
	}
	imports := &importRunner{importer: s.importer, logger: s.logger, pool: s.pool, river: s.river.Client, view: &s.view}
	recordsPath, recordsHandler := osav1connect.NewRecordServiceHandler(&recordService{backends: s.view.names, exporter: s.exporter,
		imports: imports, parseWhere: s.search.ParseWhere, store: s.store, waiter: waiter}, opts...)
	mux.Handle(recordsPath, recordsHandler)
	// An export lasts as long as its client reads, an import as long as it sends.
	mux.Handle(osav1connect.RecordServiceExportRecordsProcedure, withoutDeadlines(recordsHandler))
	mux.Handle(osav1connect.RecordServiceImportRecordsProcedure, withoutDeadlines(recordsHandler))
	download := withoutDeadlines(auth.page("An export", config.ScopeRecordsRead,
		&exportDownload{exporter: s.exporter, parseWhere: s.search.ParseWhere, logger: s.logger}))
	for _, pattern := range exportRoutes {
		mux.Handle(pattern, download)
	}
	mux.Handle(osav1connect.NewSearchServiceHandler(&searchService{search: s.search, view: &s.view, reload: s.reloadCatalog, pool: s.pool}, opts...))
	mux.Handle(osav1connect.NewSourceServiceHandler(&sourceService{pool: s.pool, river: s.river.Client, sources: s.sources}, opts...))
	eventsPath, eventsHandler := osav1connect.NewEventServiceHandler(&eventService{domain: s.cfg.Node.Domain, feed: s.feed,
		watchers: make(chan struct{}, s.cfg.Events.MaxWatchers), stopping: s.stopping}, opts...)
	mux.Handle(eventsPath, eventsHandler)
	mux.Handle(osav1connect.EventServiceWatchEventsProcedure, withoutDeadlines(eventsHandler))
	mux.Handle(osav1connect.NewAdminServiceHandler(&adminService{server: s, pool: s.pool, queues: s.queueNames, river: s.river.Client,
		view: &s.view}, opts...))

	reflector := grpcreflect.NewStaticReflector(
		osav1connect.RecordServiceName,
		osav1connect.SearchServiceName,
		osav1connect.SourceServiceName,
		osav1connect.AdminServiceName,
		osav1connect.EventServiceName,
		grpchealth.HealthV1ServiceName,
		grpcreflect.ReflectV1ServiceName,
		grpcreflect.ReflectV1AlphaServiceName,
	)
	mux.Handle(grpcreflect.NewHandlerV1(reflector))
	mux.Handle(grpcreflect.NewHandlerV1Alpha(reflector))

	if s.ui != nil {
		mux.Handle(riverUIPrefix+"/", auth.riverUI(s.ui))
	}
	if s.cfg.UI.Enabled {
		ui := s.webUI(auth)
		for _, pattern := range web.Routes() {
			mux.Handle(pattern, ui)
		}
	}
	return withCORS(s.cfg.HTTP.CORS, explainStatus(limitBody(int64(s.cfg.HTTP.ReadMaxBytes), mux)))
}

// newGzipWriter is the compressor of responses: gzip at its fastest level. Connect's default,
// gzip's default level, spent 13 % of the process's CPU compressing PublishRecords responses in
// osa bench ingest. The price is about a fifth more bytes: 500 SciFact abstracts as JSON (760 KB)
// compress to 314 KB at this level, 264 KB at the default.
func newGzipWriter() connect.Compressor {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // the error is only for an invalid level
	return w
}
