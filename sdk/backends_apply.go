package sdk

import (
	"context"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
)

// BackendChange is what [Client.ApplyBackends] does to one backend.
type BackendChange struct {
	// Name is the backend's name.
	Name string `json:"name"`
	// Action is "added", "changed", "removed" or "unchanged".
	Action string `json:"action"`
	// Changes are, for "changed", the keys that change, each as "key: old → new".
	Changes []string `json:"changes,omitempty"`
	// NeedsRebuild says the change needs the backend rebuilt into a new generation.
	NeedsRebuild bool `json:"needs_rebuild,omitempty"`
	// ReindexID is, for "added", the rebuild that backfills the backend (see [Client.ReindexJob]).
	ReindexID int64 `json:"reindex_id,omitempty"`

	pb *osav1.BackendChange // what it was read from, for Proto
}

// Proto returns the API message c was read from, so that a caller can print the API's own
// JSON form (protojson, as the Connect JSON API answers), as osa --json does. It is nil for a
// BackendChange not read from a server. The message is shared: do not modify it.
func (c *BackendChange) Proto() *osav1.BackendChange { return c.pb }

// ApplyOpts are the options of [Client.ApplyBackends].
type ApplyOpts struct {
	// AllowRemove allows removing the backends the document leaves out.
	AllowRemove bool
	// DryRun returns the plan and changes nothing.
	DryRun bool
}

// ApplyBackends makes the server's backend catalog the set of backends in document, a YAML (or
// JSON) document whose one key is backends, a list of the config file's shape. It returns the
// plan, by backend name, and whether it was applied. Needs a token with the admin scope.
// Errors: [ErrInvalidArgument] naming the field (document: backends[i].…, allow_remove),
// [ErrFailedPrecondition] when the catalog changed while the plan was made.
func (c *Client) ApplyBackends(ctx context.Context, document string, opts ApplyOpts) ([]BackendChange, bool, error) {
	res, err := unary(ctx, c, osav1connect.AdminServiceApplyBackendsProcedure, false,
		&osav1.ApplyBackendsRequest{Document: document, AllowRemove: opts.AllowRemove, DryRun: opts.DryRun}, c.admin.ApplyBackends)
	if err != nil {
		return nil, false, err
	}
	out := make([]BackendChange, len(res.Changes))
	for i, ch := range res.Changes {
		out[i] = BackendChange{Name: ch.Name, Action: ch.Action, Changes: ch.Changes, NeedsRebuild: ch.NeedsRebuild, ReindexID: ch.ReindexId, pb: ch}
	}
	return out, res.Applied, nil
}
