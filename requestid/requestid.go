// Package requestid carries the id of an API request: in the X-Request-Id header of its answer,
// in every log line written with its context ([Handler]), and in the metadata of the River jobs
// it enqueued and of the jobs those enqueue in turn, so one record can be followed from its
// publish to its index writes.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
)

// Header is the HTTP header of a request's id: taken from the request when valid, else made.
const Header = "X-Request-Id"

// MetadataKey is the key of the id in a River job's metadata.
const MetadataKey = "request_id"

// maxLen bounds an id a client sends.
const maxLen = 128

type key struct{}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context { return context.WithValue(ctx, key{}, id) }

// From returns the id ctx carries, "" when none.
func From(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}

// New returns a new id: 16 random bytes in hex.
func New() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// Valid reports whether a client's id can be kept: 1..128 characters, each a letter, a digit or
// one of "-_.:".
func Valid(id string) bool {
	if id == "" || len(id) > maxLen {
		return false
	}
	for _, c := range id {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// Metadata returns the River job metadata that carries id ({"request_id": id}), nil for "".
func Metadata(id string) []byte {
	if id == "" {
		return nil
	}
	b, _ := json.Marshal(map[string]string{MetadataKey: id})
	return b
}

// FromMetadata returns the id a River job's metadata carries, "" when none.
func FromMetadata(metadata []byte) string {
	var m map[string]any
	if json.Unmarshal(metadata, &m) != nil {
		return ""
	}
	id, _ := m[MetadataKey].(string)
	return id
}

// Handler wraps h so that every record logged with a context carrying an id gets a request_id
// attribute.
func Handler(h slog.Handler) slog.Handler { return handler{h} }

type handler struct{ slog.Handler }

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	if id := From(ctx); id != "" {
		r.AddAttrs(slog.String(MetadataKey, id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return handler{h.Handler.WithAttrs(attrs)}
}

func (h handler) WithGroup(name string) slog.Handler { return handler{h.Handler.WithGroup(name)} }
