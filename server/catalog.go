package server

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/catalog"
	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/jobs/pipeline"
)

// builtBackend is one catalog entry as this process runs it.
type builtBackend struct {
	entry catalog.Entry
	cfg   config.Backend // decoded settings, with this process's secrets
	bc    pipeline.BackendConfig
}

// backendView is the process's backends as it last read the catalog: every building and live
// backend, by name. It is safe for concurrent use.
type backendView struct {
	mu    sync.RWMutex
	built []builtBackend
	// seen are the entries the view was built from, those this process could not build included
	// (a reload rebuilds only when they change).
	seen []catalog.Entry
}

func (v *backendView) set(bs []builtBackend, seen []catalog.Entry) {
	v.mu.Lock()
	v.built, v.seen = bs, seen
	v.mu.Unlock()
}

// unchanged reports whether entries are those the view was built from.
func (v *backendView) unchanged(entries []catalog.Entry) bool {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return slices.EqualFunc(entries, v.seen, sameEntry)
}

func (v *backendView) get() []builtBackend {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.built
}

// all returns the queue settings of every backend: what the process indexes, one per name. A
// backend whose next generation is being built beside its live one carries it as Next.
func (v *backendView) all() []pipeline.BackendConfig {
	return configs(v.get())
}

// configs groups bs by name into queue settings: the live generation (or the building one of a
// backend being added) with the building one as Next.
func configs(bs []builtBackend) []pipeline.BackendConfig {
	var out []pipeline.BackendConfig
	for _, b := range bs {
		i := slices.IndexFunc(out, func(c pipeline.BackendConfig) bool { return c.Backend.Name() == b.entry.Name })
		switch {
		case i < 0:
			out = append(out, b.bc)
		case b.entry.State == catalog.Building:
			out[i].Next, out[i].NextGeneration = b.bc.Backend, b.entry.Generation
		default: // the live generation listed after the building one
			next, gen := out[i].Backend, out[i].Generation
			out[i] = b.bc
			out[i].Next, out[i].NextGeneration = next, gen
		}
	}
	return out
}

// searchers returns the live backends: what searches use.
func (v *backendView) searchers() []backends.Searcher {
	var out []backends.Searcher
	for _, b := range v.get() {
		if b.entry.State == catalog.Live {
			out = append(out, b.bc.Backend)
		}
	}
	return out
}

// liveNames returns the names of the live backends: those searched, which a publish with
// wait_indexed waits for.
func (v *backendView) liveNames() []string {
	var out []string
	for _, b := range v.get() {
		if b.entry.State == catalog.Live {
			out = append(out, b.entry.Name)
		}
	}
	return out
}

// names returns the name of every backend, once.
func (v *backendView) names() []string {
	var out []string
	for _, b := range v.get() {
		if !slices.Contains(out, b.entry.Name) {
			out = append(out, b.entry.Name)
		}
	}
	return out
}

// lookup returns the generations of backend name: its live one (nil while it is first built)
// and its building one (nil unless it is being built).
func (v *backendView) lookup(name string) (live, building *builtBackend) {
	for _, b := range v.get() {
		if b.entry.Name != name {
			continue
		}
		if b.entry.State == catalog.Live {
			live = &b
		} else {
			building = &b
		}
	}
	return live, building
}

// seedCatalog fills an empty catalog from the configuration's backends (the first start of an
// archive), once their tables check out: a table that does not match its backend (a vector
// length or model the configuration no longer has) stops the start with the fix, and leaves the
// catalog empty for the corrected configuration. A catalog that has entries is never changed
// by a process's configuration.
func (s *Server) seedCatalog(ctx context.Context) error {
	existing, err := catalog.Load(ctx, s.pool)
	if err != nil || len(existing) > 0 {
		return err
	}
	entries := make([]catalog.Entry, len(s.cfg.Backends))
	for i, b := range s.cfg.Backends {
		bc, err := s.buildBackendConfig(b)
		if err != nil {
			return fmt.Errorf("backends[%d]: %w", i, err)
		}
		if err := bc.Backend.Ensure(ctx, s.pool); err != nil {
			return fmt.Errorf("backends[%d] (%s): %w", i, b.Name, err)
		}
		settings, err := config.EncodeBackend(b)
		if err != nil {
			return err
		}
		entries[i] = catalog.Entry{Name: b.Name, Generation: 1, Kind: b.Kind, Settings: settings}
	}
	seeded, err := catalog.Seed(ctx, s.pool, entries)
	if err != nil {
		return err
	}
	if seeded {
		s.logger.InfoContext(ctx, "server: backend catalog seeded from the configuration", "backends", len(entries))
	}
	return nil
}

// buildFromCatalog builds the backends of entries, reusing those of prev whose entry is
// unchanged, and checks the tables of the new ones. An entry this process cannot build (a
// secret it lacks) is left out with a WARN line: other processes take its jobs. A table that
// does not match its entry is an error.
func (s *Server) buildFromCatalog(ctx context.Context, entries []catalog.Entry, prev []builtBackend) ([]builtBackend, error) {
	out := make([]builtBackend, 0, len(entries))
	for _, e := range entries {
		if i := slices.IndexFunc(prev, func(b builtBackend) bool { return sameEntry(b.entry, e) }); i >= 0 {
			out = append(out, prev[i])
			continue
		}
		cfg, err := config.DecodeBackend(e.Settings)
		if err != nil {
			return nil, fmt.Errorf("backend %q of the catalog: %w", e.Name, err)
		}
		cfg = cfg.WithSecretsOf(s.cfg.Backends)
		bc, err := s.buildBackendConfig(cfg)
		if err != nil {
			s.logger.WarnContext(ctx, "server: a backend of the catalog cannot run on this process; its jobs are left to "+
				"processes that can run it", "backend", e.Name, "error", err)
			continue
		}
		// The next generation of a live backend has no table of its own until its rebuild swaps
		// its shadow in: the live table is the other generation's.
		next := e.State == catalog.Building && slices.ContainsFunc(entries, func(o catalog.Entry) bool {
			return o.Name == e.Name && o.State == catalog.Live
		})
		if !next {
			if err := bc.Backend.Ensure(ctx, s.pool); err != nil {
				return nil, fmt.Errorf("backend %q of the catalog: %w", e.Name, err)
			}
		}
		bc.Generation = e.Generation
		out = append(out, builtBackend{entry: e, cfg: cfg, bc: bc})
	}
	return out, nil
}

// sameEntry reports whether a and b are the same generation with the same settings, state and
// position.
func sameEntry(a, b catalog.Entry) bool {
	return a.Name == b.Name && a.Generation == b.Generation && a.State == b.State && a.Position == b.Position &&
		bytes.Equal(a.Settings, b.Settings)
}

// warnDrift logs one WARN line when the configuration's backends differ from the catalog's: the
// catalog wins, and the line names the differences and the command that applies the file.
func (s *Server) warnDrift(ctx context.Context, built []builtBackend) {
	var diffs []string
	for _, c := range s.cfg.Backends {
		// The newest generation is what the catalog asks for.
		i := slices.IndexFunc(built, func(b builtBackend) bool { return b.entry.Name == c.Name && b.entry.State == catalog.Building })
		if i < 0 {
			i = slices.IndexFunc(built, func(b builtBackend) bool { return b.entry.Name == c.Name })
		}
		if i < 0 {
			diffs = append(diffs, c.Name+" is not in the catalog")
			continue
		}
		if changes, _ := config.DiffBackend(built[i].cfg, c); len(changes) > 0 {
			diffs = append(diffs, fmt.Sprintf("%s differs (%s)", c.Name, strings.Join(changes, "; ")))
		}
	}
	for _, name := range (&backendView{built: built}).names() {
		if !slices.ContainsFunc(s.cfg.Backends, func(c config.Backend) bool { return c.Name == name }) {
			diffs = append(diffs, name+" is in the catalog only")
		}
	}
	if len(diffs) > 0 {
		s.logger.WarnContext(ctx, "server: the configuration's backends differ from the backend catalog, which every "+
			"process follows; to make the catalog the file's, run: osa backends apply FILE", "differences", strings.Join(diffs, ", "))
	}
}

// reloadCatalog reads the catalog and, when it changed, makes this process index, rebuild and
// search what it now says.
func (s *Server) reloadCatalog(ctx context.Context) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	entries, err := catalog.Load(ctx, s.pool)
	if err != nil {
		return err
	}
	if s.view.unchanged(entries) {
		return nil
	}
	built, err := s.buildFromCatalog(ctx, entries, s.view.get())
	if err != nil {
		return err
	}
	if err := s.river.SetBackends(ctx, configs(built)); err != nil {
		return err
	}
	s.view.set(built, entries)
	s.search.SetBackends(s.view.searchers())
	s.logger.InfoContext(ctx, "server: backends follow the catalog", "backends", strings.Join(describe(built), ", "))
	return nil
}

// describe lists bs as "name (state, generation g)".
func describe(bs []builtBackend) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = fmt.Sprintf("%s (%s, generation %d)", b.entry.Name, b.entry.State, b.entry.Generation)
	}
	return out
}

// followCatalog reloads the catalog every catalog.poll_interval until ctx ends, and drops the
// tables of retired generations whose catalog.retire_after has passed.
func (s *Server) followCatalog(ctx context.Context) {
	t := time.NewTicker(s.cfg.Catalog.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.reloadCatalog(ctx); err != nil && ctx.Err() == nil {
				s.logger.WarnContext(ctx, "server: error following the backend catalog; trying again", "error", err,
					"retry_in", s.cfg.Catalog.PollInterval)
			}
			s.dropRetired(ctx)
		}
	}
}

// dropRetired drops the tables of the retired generations that are due (catalog.DropRetired),
// logging each.
func (s *Server) dropRetired(ctx context.Context) {
	dropped, err := catalog.DropRetired(ctx, s.pool)
	if err != nil {
		if ctx.Err() == nil {
			s.logger.WarnContext(ctx, "server: error dropping retired backend tables; trying again", "error", err,
				"retry_in", s.cfg.Catalog.PollInterval)
		}
		return
	}
	for _, d := range dropped {
		s.logger.InfoContext(ctx, "server: retired generation dropped after catalog.retire_after", "backend", d.Name,
			"generation", d.Generation, "tables", strings.Join(d.Tables, ", "), "retire_after", s.cfg.Catalog.RetireAfter)
	}
}
