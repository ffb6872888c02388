package server

import (
	"net/http"

	"github.com/osa-archive/osa/requestid"
)

// withRequestID gives every request an id: the client's X-Request-Id when it is valid
// (requestid.Valid), else a new one. The answer carries it in X-Request-Id, the request's
// context carries it to every log line written with it and to the River jobs it enqueues.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(requestid.Header)
		if !requestid.Valid(id) {
			id = requestid.New()
		}
		w.Header().Set(requestid.Header, id)
		next.ServeHTTP(w, r.WithContext(requestid.With(r.Context(), id)))
	})
}
