package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/records"
)

// cacheInterceptor says how the Connect GET answers of the read RPCs (idempotency_level
// NO_SIDE_EFFECTS) may be cached, following http.cache:
//
//   - every such answer carries a weak ETag, a hash of the response message (the same for its
//     gzip and identity encodings, hence weak), and a request whose If-None-Match matches it is
//     answered 304 Not Modified without a body;
//   - GetRecord of an SRN with an @version, whose metadata never changes, is
//     "max-age=<http.cache.version_max_age>, immutable";
//   - every other read is "max-age=<http.cache.max_age>", or "no-cache" (revalidate each time)
//     when that is 0;
//   - each is "public" when anyone may read it (auth.public_read, and not an admin RPC), else
//     "private", so that no shared cache hands an answer to a caller who may not read it;
//   - an error is "no-store".
//
// POSTs and streams get nothing. It is the outermost interceptor, so that a 304 is counted,
// logged and traced as the success it stands for, and it sees errors as the client will.
type cacheInterceptor struct {
	cfg        config.Cache
	publicRead bool
}

var _ connect.Interceptor = (*cacheInterceptor)(nil)

// WrapUnary implements connect.Interceptor: GETs are unary calls.
func (c *cacheInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		spec := req.Spec()
		if spec.IsClient || req.HTTPMethod() != http.MethodGet || spec.IdempotencyLevel != connect.IdempotencyNoSideEffects {
			return next(ctx, req)
		}
		resp, err := next(ctx, req)
		if err != nil {
			return nil, noStore(err)
		}
		msg, ok := resp.Any().(proto.Message)
		if !ok {
			return resp, nil
		}
		tag, err := etag(msg)
		if err != nil {
			return resp, nil // an answer that cannot be hashed goes out without a validator
		}
		resp.Header().Set("ETag", tag)
		resp.Header().Set("Cache-Control", c.cacheControl(spec.Procedure, req.Any()))
		if matches(req.Header().Get("If-None-Match"), tag) {
			h := make(http.Header)
			h.Set("ETag", tag)
			h.Set("Cache-Control", resp.Header().Get("Cache-Control"))
			return nil, connect.NewNotModifiedError(h)
		}
		return resp, nil
	}
}

// WrapStreamingClient implements connect.Interceptor: clients pass through.
func (c *cacheInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler implements connect.Interceptor: a stream is never a GET, nothing to do.
func (c *cacheInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return next
}

// cacheControl is the Cache-Control of a successful GET of procedure with request msg.
func (c *cacheInterceptor) cacheControl(procedure string, msg any) string {
	scope := "private"
	if c.publicRead && isRead(scopeOf(procedure)) {
		scope = "public"
	}
	if procedure == osav1connect.EventServiceListEventsProcedure {
		return scope + ", no-cache" // the head of the feed moves: revalidate each time
	}
	if r, ok := msg.(*osav1.GetRecordRequest); ok && c.cfg.VersionMaxAge > 0 {
		if srn, err := records.ParseSRN(r.GetSrn()); err == nil && srn.Version != 0 {
			return scope + ", max-age=" + seconds(c.cfg.VersionMaxAge) + ", immutable"
		}
	}
	if c.cfg.MaxAge > 0 {
		return scope + ", max-age=" + seconds(c.cfg.MaxAge)
	}
	return scope + ", no-cache"
}

// noStore marks err's answer "Cache-Control: no-store".
func noStore(err error) error {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		ce = connect.NewError(connect.CodeOf(err), err)
		err = ce
	}
	ce.Meta().Set("Cache-Control", "no-store")
	return err
}

// etag is the weak entity tag of msg: a hash of its deterministic binary encoding.
func etag(msg proto.Message) (string, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return `W/"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`, nil
}

// matches reports whether an If-None-Match header value names tag, by weak comparison
// (RFC 9110 13.1.2): "*", or one of a comma-separated list of entity tags, W/ or not.
func matches(ifNoneMatch, tag string) bool {
	if ifNoneMatch == "" {
		return false
	}
	bare := strings.TrimPrefix(tag, "W/")
	for candidate := range strings.SplitSeq(ifNoneMatch, ",") {
		candidate = strings.TrimSpace(candidate)
		if candidate == "*" || strings.TrimPrefix(candidate, "W/") == bare {
			return true
		}
	}
	return false
}

// seconds formats d as the whole seconds of a max-age.
func seconds(d time.Duration) string {
	return strconv.FormatInt(int64(d/time.Second), 10)
}
