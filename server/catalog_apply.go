package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/catalog"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/jobs/reindex"
)

// Actions of a [backendChange].
const (
	actionAdded     = "added"
	actionChanged   = "changed"
	actionRemoved   = "removed"
	actionUnchanged = "unchanged"
)

// probeTimeout bounds the embedding call that checks an added backend's embedder.
const probeTimeout = 30 * time.Second

// backendChange is what applying a backends file does to one backend.
type backendChange struct {
	name         string
	action       string
	changes      []string
	needsRebuild bool
	index        int            // the backend's index in the file; -1 when removed
	desired      config.Backend // the file's settings; zero when removed
	current      *catalog.Entry // the catalog's entry; nil when added
	reindexID    int64
}

// ApplyBackends makes the catalog the document's set of backends (see the RPC's doc).
func (s *adminService) ApplyBackends(ctx context.Context, req *connect.Request[osav1.ApplyBackendsRequest]) (*connect.Response[osav1.ApplyBackendsResponse], error) {
	desired, err := config.ParseBackends([]byte(req.Msg.Document))
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			return nil, domainerr.Invalid("document", "%s: %s", ce.Key, ce.Problem)
		}
		return nil, domainerr.Invalid("document", "%v", err)
	}
	changes, applied, err := s.server.applyBackends(ctx, desired, req.Msg.AllowRemove, req.Msg.DryRun)
	if err != nil {
		return nil, err
	}
	out := &osav1.ApplyBackendsResponse{Applied: applied}
	for _, c := range changes {
		out.Changes = append(out.Changes, &osav1.BackendChange{Name: c.name, Action: c.action, Changes: c.changes,
			NeedsRebuild: c.needsRebuild, ReindexId: c.reindexID})
	}
	return connect.NewResponse(out), nil
}

// planBackends compares desired with the catalog's entries, by name.
func planBackends(entries []catalog.Entry, desired []config.Backend) ([]backendChange, error) {
	var out []backendChange
	for i, d := range desired {
		c := backendChange{name: d.Name, index: i, desired: d, action: actionAdded}
		if j := slices.IndexFunc(entries, func(e catalog.Entry) bool { return e.Name == d.Name }); j >= 0 {
			cur, err := config.DecodeBackend(entries[j].Settings)
			if err != nil {
				return nil, fmt.Errorf("backend %q of the catalog: %w", d.Name, err)
			}
			c.current = &entries[j]
			c.changes, c.needsRebuild = config.DiffBackend(cur, d)
			c.action = actionUnchanged
			if len(c.changes) > 0 {
				c.action = actionChanged
			}
		}
		out = append(out, c)
	}
	for i, e := range entries {
		if !slices.ContainsFunc(desired, func(d config.Backend) bool { return d.Name == e.Name }) {
			out = append(out, backendChange{name: e.Name, action: actionRemoved, index: -1, current: &entries[i]})
		}
	}
	slices.SortFunc(out, func(a, b backendChange) int { return cmpString(a.name, b.name) })
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// checkPlan refuses what this server cannot apply, naming the field.
func checkPlan(plan []backendChange, allowRemove bool) error {
	var removed []string
	for _, c := range plan {
		switch {
		case c.action == actionRemoved:
			removed = append(removed, c.name)
		case c.action == actionChanged && c.needsRebuild:
			return domainerr.New(domainerr.ErrFailedPrecondition, "document: backends[%d] (%s): %v needs the backend rebuilt "+
				"into a new generation, which this server does not do yet; add the new settings under a new name, "+
				"then remove the old backend", c.index, c.name, c.changes)
		}
	}
	if len(removed) > 0 && !allowRemove {
		return domainerr.Invalid("allow_remove", "the document leaves out backend(s) %v: set allow_remove "+
			"(osa backends apply --allow-remove) to remove them, or list them", removed)
	}
	return nil
}

// applyBackends plans desired against the catalog and, unless dryRun, applies the plan: added
// backends get their table and, in the transaction that adds them building, the rebuild that
// backfills them; changed ones their new settings; removed ones become retiring. The process
// then follows the new catalog at once; the others within catalog.poll_interval.
func (s *Server) applyBackends(ctx context.Context, desired []config.Backend, allowRemove, dryRun bool) ([]backendChange, bool, error) {
	entries, err := catalog.Load(ctx, s.pool)
	if err != nil {
		return nil, false, err
	}
	plan, err := planBackends(entries, desired)
	if err != nil {
		return nil, false, err
	}
	if err := checkPlan(plan, allowRemove); err != nil {
		return nil, false, err
	}
	built := map[string]backends.Backend{}
	for _, c := range plan {
		if c.action != actionAdded {
			continue
		}
		bc, err := buildBackendConfig(c.desired.WithSecretsOf(s.cfg.Backends), s.metrics.embedder)
		if err != nil {
			return nil, false, domainerr.Invalid(fmt.Sprintf("document: backends[%d]", c.index), "%v", err)
		}
		if err := probe(ctx, bc.Backend); err != nil {
			return nil, false, domainerr.Invalid(fmt.Sprintf("document: backends[%d].embedder", c.index), "%v", err)
		}
		built[c.name] = bc.Backend
	}
	if dryRun || !slices.ContainsFunc(plan, func(c backendChange) bool { return c.action != actionUnchanged }) {
		return plan, false, nil
	}
	for _, c := range plan {
		if b, ok := built[c.name]; ok {
			if err := b.Ensure(ctx, s.pool); err != nil {
				return nil, false, domainerr.Invalid(fmt.Sprintf("document: backends[%d]", c.index), "%v", err)
			}
		}
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := catalog.Lock(ctx, tx); err != nil {
			return err
		}
		now, err := catalog.Load(ctx, tx)
		if err != nil {
			return err
		}
		if !slices.EqualFunc(now, entries, sameEntry) {
			return domainerr.New(domainerr.ErrFailedPrecondition, "the backend catalog changed while this change was planned; apply again")
		}
		for i, c := range plan {
			switch c.action {
			case actionAdded:
				settings, err := config.EncodeBackend(c.desired)
				if err != nil {
					return err
				}
				gen, err := catalog.NextGeneration(ctx, tx, c.name)
				if err != nil {
					return err
				}
				if err := catalog.Put(ctx, tx, catalog.Entry{Name: c.name, Generation: gen, Kind: c.desired.Kind,
					Settings: settings, State: catalog.Building, Position: c.index}); err != nil {
					return err
				}
				r, err := reindex.StartTx(ctx, s.river.Client, tx, built[c.name])
				if err != nil {
					return fmt.Errorf("error starting the backfill of backend %q: %w", c.name, err)
				}
				plan[i].reindexID = r.ID
			case actionChanged:
				settings, err := config.EncodeBackend(c.desired)
				if err != nil {
					return err
				}
				e := *c.current
				e.Settings, e.Position = settings, c.index
				if err := catalog.Put(ctx, tx, e); err != nil {
					return err
				}
			case actionRemoved:
				if err := catalog.SetState(ctx, tx, c.name, catalog.Retiring); err != nil {
					return err
				}
			case actionUnchanged:
				if c.current.Position != c.index { // the file's order is the catalog's
					e := *c.current
					e.Position = c.index
					if err := catalog.Put(ctx, tx, e); err != nil {
						return err
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if err := s.reloadCatalog(ctx); err != nil {
		s.logger.WarnContext(ctx, "server: the catalog was changed, but this process could not follow it yet; it tries "+
			"again every catalog.poll_interval", "error", err)
	}
	return plan, true, nil
}

// probe checks that b can index a document: an added backend's embedder answers, with vectors
// of its dims.
func probe(ctx context.Context, b backends.Backend) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	doc := backends.Document{Metadata: map[string]any{"title": "OSA backend probe", "summary": "a text to check the embedder"}}
	if err := b.Prepare(ctx, []backends.Document{doc})[0]; err != nil {
		return fmt.Errorf("the backend could not prepare a probe text: %w", err)
	}
	return nil
}
