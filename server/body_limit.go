package server

import (
	"errors"
	"fmt"
	"net/http"

	"connectrpc.com/connect"
)

// limitBody answers a request whose declared body is over max bytes (http.read_max_bytes) with
// invalid_argument, in the request's own protocol (Connect, gRPC or gRPC-Web), naming the limit
// and its key, before the body is read. Connect's own limit answers resource_exhausted, which
// HTTP clients read as 429 and retry; no retry makes a body smaller. A body of unknown length
// (chunked) still meets Connect's limit as it is read.
func limitBody(max int64, next http.Handler) http.Handler {
	ew := connect.NewErrorWriter()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max && ew.IsSupported(r) {
			reason := fmt.Sprintf("the request body is %d bytes, over the limit of %d (http.read_max_bytes): send less "+
				"per call, such as fewer records per PublishRecords", r.ContentLength, max)
			_ = ew.Write(w, r, invalidArgument(errors.New(reason), "body", reason))
			return
		}
		next.ServeHTTP(w, r)
	})
}
