package search

import (
	"context"
	"time"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/indexstate"
)

// healthTimeout bounds one backend's health check.
const healthTimeout = 2 * time.Second

// BackendInfo describes one backend and where its records stand.
type BackendInfo struct {
	Name, Kind, Model string
	Dims              int
	// Indexed, Pending, Failed and Empty count records by their index_state in this backend
	// (Empty: no text the backend can index). A record counts as pending once its fan-out has
	// run.
	Indexed, Pending, Failed, Empty int64
	Healthy                         bool
	Queue                           string
}

// Backends lists the service's backends with their counts and health, in order.
func (s *Service) Backends(ctx context.Context) ([]BackendInfo, error) {
	return s.Describe(ctx, s.searchers())
}

// Describe lists bs with their counts and health, in order.
func (s *Service) Describe(ctx context.Context, bs []backends.Searcher) ([]BackendInfo, error) {
	counts, err := indexstate.Counts(ctx, s.readPool(ctx))
	if err != nil {
		return nil, err
	}
	out := make([]BackendInfo, len(bs))
	for i, b := range bs {
		hctx, cancel := context.WithTimeout(ctx, healthTimeout)
		healthy := b.Health(hctx, s.readPool(ctx)) == nil
		cancel()
		c := counts[b.Name()]
		out[i] = BackendInfo{Name: b.Name(), Kind: b.Kind(), Model: b.Model(), Dims: b.Dims(),
			Indexed: c.Indexed, Pending: c.Pending, Failed: c.Failed, Empty: c.Empty, Healthy: healthy, Queue: backends.Queue(b.Name())}
	}
	return out, nil
}
