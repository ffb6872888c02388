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
	current      *catalog.Entry // the catalog's newest entry of the name; nil when added
	building     bool           // the catalog has a building generation of the name (a rebuild runs)
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
		if j := newest(entries, d.Name); j >= 0 {
			cur, err := config.DecodeBackend(entries[j].Settings)
			if err != nil {
				return nil, fmt.Errorf("backend %q of the catalog: %w", d.Name, err)
			}
			c.current, c.building = &entries[j], entries[j].State == catalog.Building
			c.changes, c.needsRebuild = config.DiffBackend(cur, d)
			c.action = actionUnchanged
			if len(c.changes) > 0 {
				c.action = actionChanged
			}
		}
		out = append(out, c)
	}
	for i, e := range entries {
		if !slices.ContainsFunc(desired, func(d config.Backend) bool { return d.Name == e.Name }) &&
			!slices.ContainsFunc(out, func(c backendChange) bool { return c.name == e.Name }) {
			building := slices.ContainsFunc(entries, func(o catalog.Entry) bool { return o.Name == e.Name && o.State == catalog.Building })
			out = append(out, backendChange{name: e.Name, action: actionRemoved, index: -1, current: &entries[i], building: building})
		}
	}
	slices.SortFunc(out, func(a, b backendChange) int { return cmpString(a.name, b.name) })
	return out, nil
}

// newest returns the index of the newest generation of backend name in entries, -1 when none.
func newest(entries []catalog.Entry, name string) int {
	j := -1
	for i, e := range entries {
		if e.Name == name && (j < 0 || e.Generation > entries[j].Generation) {
			j = i
		}
	}
	return j
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
		case c.action == actionRemoved && c.building:
			return domainerr.Invalid("document: backends", "backend %q is being built (a rebuild runs: osa backends "+
				"list); remove it once it is live", c.name)
		case c.action == actionRemoved:
			removed = append(removed, c.name)
		case c.action == actionChanged && c.building:
			return domainerr.Invalid(fmt.Sprintf("document: backends[%d]", c.index), "backend %q is being built (a rebuild "+
				"runs: osa backends list); change it once it is live", c.name)
		case c.action == actionChanged && c.desired.Kind != c.current.Kind:
			return domainerr.Invalid(fmt.Sprintf("document: backends[%d].kind", c.index), "a backend's kind cannot change "+
				"(%s to %s): add a backend of the new kind under a new name, then remove %q", c.current.Kind, c.desired.Kind, c.name)
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
	for _, c := range plan {
		if c.action != actionChanged || !c.needsRebuild {
			continue
		}
		if r, ok, err := reindex.RunningFor(ctx, s.pool, c.name); err != nil {
			return nil, false, err
		} else if ok {
			return nil, false, domainerr.Invalid(fmt.Sprintf("document: backends[%d]", c.index), "rebuild %d of backend %q "+
				"is running (osa reindex); apply the change once it has ended", r.ID, c.name)
		}
	}
	built := map[string]backends.Backend{}
	for _, c := range plan {
		if c.action != actionAdded && !(c.action == actionChanged && c.needsRebuild) {
			continue
		}
		bc, err := s.buildBackendConfig(c.desired.WithSecretsOf(s.cfg.Backends))
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
		if b, ok := built[c.name]; ok && c.action == actionAdded {
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
				if plan[i].reindexID, err = s.buildGeneration(ctx, tx, c, built[c.name]); err != nil {
					return err
				}
			case actionChanged:
				if c.needsRebuild {
					// The next generation, built beside the live one, which keeps serving and being
					// written until the rebuild swaps the new table in.
					if plan[i].reindexID, err = s.buildGeneration(ctx, tx, c, built[c.name]); err != nil {
						return err
					}
					continue
				}
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
				if err := s.retireBackend(ctx, tx, *c.current); err != nil {
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

// buildGeneration puts c's desired settings in tx as the backend's new building generation (its
// first, for an added backend) and starts the rebuild that fills it, returning the rebuild's id.
func (s *Server) buildGeneration(ctx context.Context, tx pgx.Tx, c backendChange, b backends.Backend) (int64, error) {
	settings, err := config.EncodeBackend(c.desired)
	if err != nil {
		return 0, err
	}
	gen, err := catalog.NextGeneration(ctx, tx, c.name)
	if err != nil {
		return 0, err
	}
	if err := catalog.Put(ctx, tx, catalog.Entry{Name: c.name, Generation: gen, Kind: c.desired.Kind,
		Settings: settings, State: catalog.Building, Position: c.index}); err != nil {
		return 0, err
	}
	r, err := reindex.StartTx(ctx, s.river.Client, tx, b, gen)
	if err != nil {
		return 0, fmt.Errorf("error starting the rebuild of backend %q: %w", c.name, err)
	}
	return r.ID, nil
}

// retireBackend makes removed backend e retiring in tx, its tables renamed out of the way of a
// later backend of the same name and kept for catalog.retire_after.
func (s *Server) retireBackend(ctx context.Context, tx pgx.Tx, e catalog.Entry) error {
	var b backends.Rebuilder
	if live, _ := s.view.lookup(e.Name); live != nil && live.entry.Generation == e.Generation {
		b = live.bc.Backend
	} else {
		cfg, err := config.DecodeBackend(e.Settings)
		if err != nil {
			return fmt.Errorf("backend %q of the catalog: %w", e.Name, err)
		}
		bc, err := s.buildBackendConfig(cfg.WithSecretsOf(s.cfg.Backends))
		if err != nil {
			return domainerr.Invalid("document: backends", "backend %q cannot be removed by this process, which cannot "+
				"run it (%v): apply the file through a process that runs it", e.Name, err)
		}
		b = bc.Backend
	}
	tables, err := b.Retire(ctx, tx, e.Generation)
	if err != nil {
		return err
	}
	return catalog.Retire(ctx, tx, e.Name, e.Generation, catalog.Retirement{After: s.cfg.Catalog.RetireAfter, Tables: tables})
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
