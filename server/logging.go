package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"

	"connectrpc.com/connect"
)

// logInterceptor logs every RPC at DEBUG with its procedure, code and duration; a steady state
// logs nothing at INFO. Errors the error interceptor saw as internal are logged there.
func logInterceptor(logger *slog.Logger) serverInterceptor {
	return func(ctx context.Context, call rpc, next func(context.Context) error) error {
		start := time.Now()
		err := next(ctx)
		if logger.Enabled(ctx, slog.LevelDebug) {
			logger.DebugContext(ctx, "server: rpc", "procedure", call.Spec.Procedure, "protocol", call.Peer.Protocol,
				"code", codeName(err), "duration", time.Since(start))
		}
		return err
	}
}

// codeName is the Connect code of err as the logs and metrics name it: "ok" for nil.
func codeName(err error) string {
	if err == nil {
		return "ok"
	}
	return connect.CodeOf(err).String()
}

// statusRecorder remembers the status code an HTTP handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer (flushing, deadlines).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// logRequests logs every HTTP request at DEBUG with method, path, status and duration.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !logger.Enabled(r.Context(), slog.LevelDebug) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		logger.DebugContext(r.Context(), "server: http", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"duration", time.Since(start))
	})
}

// NewLogger returns a logger writing to w at level ("debug", "info", "warn" or "error") in
// format "json" or "text". An unknown level means info; config validation rejects those earlier.
func NewLogger(level, format string, w io.Writer) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
