package server

import (
	"net/http"
	"strings"
	"time"

	connectcors "connectrpc.com/cors"
	"github.com/rs/cors"

	"github.com/osa-archive/osa/config"
)

// withCORS lets the pages of cfg.AllowedOrigins (http.cors) call the API from a browser: it
// answers their preflights (OPTIONS with Access-Control-Request-Method) itself, before the
// explanation of a 405 could, and adds the CORS headers to their calls, in Connect, gRPC-Web
// or gRPC. The headers allowed and exposed are those Connect and gRPC-Web use, plus
// Authorization (bearer tokens) and ETag (cached reads); no cookies are involved, so
// credentials are never allowed. River UI is left alone: it is not meant to be embedded in
// other sites. With no allowed origins, next is returned as it is: rs/cors would read an
// empty list as "every origin".
func withCORS(cfg config.CORS, next http.Handler) http.Handler {
	if len(cfg.AllowedOrigins) == 0 {
		return next
	}
	c := cors.New(cors.Options{
		AllowedOrigins: cfg.AllowedOrigins,
		AllowedMethods: connectcors.AllowedMethods(),
		AllowedHeaders: append(connectcors.AllowedHeaders(), "Authorization"),
		ExposedHeaders: append(connectcors.ExposedHeaders(), "ETag"),
		MaxAge:         int(cfg.MaxAge / time.Second),
	})
	api := c.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, riverUIPrefix+"/") {
			next.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}
