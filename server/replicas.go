package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/replicas"
)

// replicaConnectTimeout bounds opening a connection to a replica whose URL sets no
// connect_timeout: a replica that does not answer fails the read over to the primary in that
// time, rather than in the request's.
const replicaConnectTimeout = replicas.ProbeTimeout

// openReplicas opens a pool on every replica of database.replica_urls, without connecting (a
// replica that is down at start-up only leaves its reads to the primary), and returns the router
// of reads between them and the primary. A worker process serves no reads: it opens none.
func (s *Server) openReplicas() (*replicas.Router, error) {
	db := s.cfg.Database
	var reps []replicas.Replica
	if s.cfg.Node.Role != config.RoleWorker {
		for i, u := range db.ReplicaURLs {
			key := fmt.Sprintf("database.replica_urls[%d]", i)
			pc, err := vectorPoolConfig(db, u, key)
			if err != nil {
				closeReplicas(reps)
				return nil, err
			}
			pc.MaxConns = int32(db.MaxConns)
			if pc.ConnConfig.ConnectTimeout == 0 {
				pc.ConnConfig.ConnectTimeout = replicaConnectTimeout
			}
			pool, err := pgxpool.NewWithConfig(context.Background(), pc)
			if err != nil {
				closeReplicas(reps)
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			name := net.JoinHostPort(pc.ConnConfig.Host, strconv.Itoa(int(pc.ConnConfig.Port)))
			reps = append(reps, replicas.Replica{Name: name, Pool: pool})
		}
	}
	return replicas.New(s.pool, reps, replicas.Config{
		MaxLag:        db.MaxReplicaLag,
		ProbeInterval: db.ReplicaProbeInterval,
		OnRead:        s.metrics.observeRead,
		Logger:        s.logger,
	}), nil
}

// closeReplicas closes the pools of reps.
func closeReplicas(reps []replicas.Replica) {
	for _, r := range reps {
		r.Pool.Close()
	}
}

// replicaReads are the RPCs whose reads may go to a replica. The others read the primary: the
// admin and source reads (River's tables and harvests, read rarely), WatchEvents (see package
// replicas), and every write.
var replicaReads = map[string]bool{
	osav1connect.SearchServiceSearchProcedure:         true,
	osav1connect.SearchServiceSimilarRecordsProcedure: true,
	osav1connect.SearchServiceListBackendsProcedure:   true,
	osav1connect.RecordServiceGetRecordProcedure:      true,
	osav1connect.RecordServiceListRecordsProcedure:    true,
	osav1connect.RecordServiceGetIndexStatusProcedure: true,
	osav1connect.EventServiceListEventsProcedure:      true,
}

// readRouting pins the pool of each read RPC of replicaReads (replicas.Router.Read), and asks
// the primary again when the read fails on its replica (replicas.Router.Retry). It is
// the innermost interceptor, so it sees the handler's own errors and the request is authorized,
// limited and counted once. Streams pass through: they read the primary.
type readRouting struct{ router *replicas.Router }

var _ connect.Interceptor = readRouting{}

// WrapUnary implements connect.Interceptor.
func (i readRouting) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if req.Spec().IsClient || !replicaReads[req.Spec().Procedure] || !i.router.Enabled() {
			return next(ctx, req)
		}
		ctx = i.router.Read(ctx)
		resp, err := next(ctx, req)
		if failedToAnswer(err) {
			if retry, ok := i.router.Retry(ctx, err); ok {
				return next(retry, req)
			}
		}
		return resp, err
	}
}

// failedToAnswer reports whether err is a failure to answer, one a replica may be the cause of:
// not an answer of the domain (bad input, a missing record, a cancelled call) nor a Connect
// error a handler chose.
func failedToAnswer(err error) bool {
	var ce *connect.Error
	return err != nil && !isDomainError(err) && !errors.As(err, &ce)
}

// WrapStreamingClient implements connect.Interceptor: clients pass through.
func (readRouting) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements connect.Interceptor: streams read the primary.
func (readRouting) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// afterWriteCookie marks a browser that posted a form of the web interface: its pages read the
// primary until the cookie expires, database.max_replica_lag later, when every replica that
// takes reads has replayed the write.
const afterWriteCookie = "osa_after_write"

// webReads routes the reads of the web interface's pages. A POST (the status page's retry)
// sets the after-write cookie on its answer; the search and record pages read a replica unless
// the browser has that cookie, and a page that fails (5xx) on a replica is rendered again on
// the primary (it is buffered until then). The status page reads the primary: it shows River's
// queues, which only the primary has, beside the backends' counts.
func (s *Server) webReads(next http.Handler) http.Handler {
	if !s.router.Enabled() {
		return next
	}
	maxAge := int(math.Ceil(s.cfg.Database.MaxReplicaLag.Seconds()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost:
			http.SetCookie(w, &http.Cookie{Name: afterWriteCookie, Value: "1", Path: "/", MaxAge: maxAge, HttpOnly: true,
				SameSite: http.SameSiteLaxMode})
			next.ServeHTTP(w, r)
			return
		case r.Method != http.MethodGet || !(r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, "/records/")):
			next.ServeHTTP(w, r)
			return
		}
		if _, err := r.Cookie(afterWriteCookie); err == nil {
			next.ServeHTTP(w, r.WithContext(s.router.ReadPrimary(r.Context(), replicas.ReasonAfterWrite)))
			return
		}
		ctx := s.router.Read(r.Context())
		if s.router.ReplicaOf(ctx) == "" {
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		buf := &bufferedResponse{header: http.Header{}}
		next.ServeHTTP(buf, r.WithContext(ctx))
		if buf.code >= http.StatusInternalServerError && r.Context().Err() == nil {
			next.ServeHTTP(w, r.WithContext(s.router.ReadPrimary(r.Context(), replicas.ReasonRetry)))
			return
		}
		buf.writeTo(w)
	})
}

// bufferedResponse holds a page's answer until it is known to be sent.
type bufferedResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

// writeTo sends the held answer to w.
func (b *bufferedResponse) writeTo(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.code == 0 {
		b.code = http.StatusOK
	}
	w.WriteHeader(b.code)
	_, _ = w.Write(b.body.Bytes())
}
