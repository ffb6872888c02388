package search

import (
	"context"
	"errors"
	"fmt"

	"github.com/osa-archive/osa/backends"
	"github.com/osa-archive/osa/domainerr"
	"github.com/osa-archive/osa/records"
)

// SimilarRequest asks for the records nearest to one record.
type SimilarRequest struct {
	// SRN is the record; its version, if any, is ignored: the vector is the latest indexed one.
	SRN records.SRN
	// Backend names the vector backend to ask; "" is the first.
	Backend string
	// Limit is the page size: 0 means 20, at most Config.MaxLimit.
	Limit int
	// Where, when not empty, is a filter expression every hit must match.
	Where string
}

// Similar returns the records nearest to req.SRN by the vector its vector backend stores for it,
// best first, never the record itself; no embedding call is made. A record of another domain, or
// one the backend holds no vector for (deleted, not indexed yet, or without text), is not found.
func (s *Service) Similar(ctx context.Context, req SimilarRequest) (*Result, error) {
	if req.SRN.Domain != s.cfg.Domain {
		return nil, domainerr.New(domainerr.ErrNotFound, "record not found: %s belongs to domain %q, and this archive's domain is %q (node.domain)",
			req.SRN, req.SRN.Domain, s.cfg.Domain)
	}
	switch {
	case req.Limit < 0 || req.Limit > s.cfg.MaxLimit:
		return nil, s.InvalidLimit(req.Limit)
	case req.Limit == 0:
		req.Limit = LimitDefault
	}
	cond, err := s.condition(req.Where)
	if err != nil {
		return nil, err
	}
	named, err := s.backendNamed(req.Backend)
	if err != nil {
		return nil, err
	}
	vec := s.pick(named, backends.KindPgvector)
	nb, ok := vec.(backends.Neighbours)
	switch {
	case named != nil && named != vec:
		return nil, domainerr.Invalid("backend", "%q is a %s backend; similar records need a vector backend", named.Name(), named.Kind())
	case vec == nil || !ok:
		return nil, domainerr.Invalid("backend", "similar records need a vector backend; configured: %v", names(s.searchers()))
	}
	found, err := nb.Similar(ctx, s.readPool(ctx), req.SRN.ID, backends.Query{Limit: req.Limit, Where: cond, EfSearch: s.cfg.EfSearch})
	if errors.Is(err, backends.ErrNoRow) {
		return nil, domainerr.New(domainerr.ErrNotFound, "record %s has no vector in backend %q: it is deleted, not indexed yet, "+
			"or has no text to embed (see GetIndexStatus)", req.SRN.WithVersion(0), vec.Name())
	}
	if err != nil {
		return nil, fmt.Errorf("backend %q: %w", vec.Name(), err)
	}
	return &Result{Mode: ModeVector, Backends: []string{vec.Name()}, Hits: s.hits(found, true)}, nil
}
