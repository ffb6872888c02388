package server

import (
	"encoding/json"
	"net/http"
	"strings"
)

// explainStatus gives a Connect-style JSON error body to the answers that otherwise have none or
// only a line of plain text (an unknown path, a method or a content type the API does not take),
// saying what to send instead. Other answers, River UI's pages among them, pass through
// unchanged.
func explainStatus(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ew := &explainingWriter{ResponseWriter: w}
		next.ServeHTTP(ew, r)
		if ew.held == 0 {
			return
		}
		code, message := explanation(ew.held, r)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Del("Content-Length")
		w.Header().Del("X-Content-Type-Options")
		w.WriteHeader(ew.held)
		_ = json.NewEncoder(w).Encode(struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		}{code, message})
	})
}

// explanation returns the Connect code and the message for status, an answer without a body.
func explanation(status int, r *http.Request) (code, message string) {
	switch status {
	case http.StatusNotFound:
		return "unimplemented", "no such path " + r.URL.Path + ": the API is POST /osa.v1.<Service>/<Method> " +
			"(grpcurl -plaintext HOST list shows them), plus /healthz, /readyz, /metrics and /riverui/"
	case http.StatusMethodNotAllowed:
		return "unimplemented", r.Method + " is not accepted here: call an RPC with POST (Content-Type: application/json); " +
			"read RPCs also answer GET with ?encoding=json&message=<the request as JSON, URL-encoded>"
	default: // http.StatusUnsupportedMediaType
		return "invalid_argument", "content type " + quoteOr(r.Header.Get("Content-Type"), "(none)") + " is not accepted: " +
			"send Content-Type: application/json (curl -H 'Content-Type: application/json' -d '{...}'), " +
			"application/proto, or gRPC; a GET of a read RPC needs ?encoding=json&message=..."
	}
}

func quoteOr(s, none string) string {
	if s == "" {
		return none
	}
	return `"` + s + `"`
}

// explainingWriter holds back a 404, 405 or 415 status until it knows whether a body follows.
type explainingWriter struct {
	http.ResponseWriter
	held    int  // the status held back; 0 when none
	written bool // the status has gone out
}

func (w *explainingWriter) WriteHeader(status int) {
	if w.written || w.held != 0 {
		return
	}
	switch status {
	case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusUnsupportedMediaType:
		w.held = status
		return
	}
	w.written = true
	w.ResponseWriter.WriteHeader(status)
}

func (w *explainingWriter) Write(b []byte) (int, error) {
	if w.held != 0 && !w.written {
		if strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
			return len(b), nil // http.Error's line: replaced by the explanation
		}
		w.written = true
		w.ResponseWriter.WriteHeader(w.held)
		w.held = 0
	}
	w.written = true
	return w.ResponseWriter.Write(b)
}

// Flush implements http.Flusher, for streaming answers.
func (w *explainingWriter) Flush() {
	if w.held != 0 && !w.written {
		return // an answer without a body yet: nothing to flush
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer (trailers, deadlines).
func (w *explainingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
