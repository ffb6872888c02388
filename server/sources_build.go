package server

import (
	"fmt"
	"log/slog"

	"github.com/osa-archive/osa/config"
	"github.com/osa-archive/osa/sources"
	"github.com/osa-archive/osa/sources/geo"
)

// buildSources builds every configured source, enabled or not (a disabled one is listed by
// ListSources), into the registry. Field names in errors are the config keys.
func buildSources(cfg *config.Config, logger *slog.Logger) (*sources.Registry, error) {
	entries := make([]sources.Entry, 0, len(cfg.Sources))
	for i, sc := range cfg.Sources {
		e, err := buildSource(sc, logger)
		if err != nil {
			return nil, fmt.Errorf("sources[%d] (%s): %w", i, sc.Name, err)
		}
		entries = append(entries, e)
	}
	return sources.NewRegistry(entries)
}

func buildSource(sc config.Source, logger *slog.Logger) (sources.Entry, error) {
	switch sc.Kind {
	case config.SourceKindGeoEntrez:
		g := sc.Geo // validated: a geo_entrez source has its geo settings
		src, err := geo.New(geo.Config{
			Name:       sc.Name,
			RecordType: g.RecordType,
			Email:      g.Email,
			APIKey:     g.APIKey,
			Tool:       g.Tool,
			BaseURL:    g.BaseURL,
			PageSize:   g.PageSize,
			Timeout:    g.Timeout,
			MaxSamples: g.MaxSamples,
			Logger:     logger,
		})
		if err != nil {
			return sources.Entry{}, err
		}
		return sources.Entry{
			Source:          src,
			Kind:            sc.Kind,
			Enabled:         sc.Enabled,
			Schedule:        sc.Schedule,
			Limit:           sc.Limit,
			MaxUnfetchedIDs: sc.MaxUnfetchedIDs,
			PageSize:        src.PageSize(),
			MaxPageSize:     geo.PageSizeMax,
		}, nil
	default:
		return sources.Entry{}, fmt.Errorf("kind %q is not %s", sc.Kind, config.SourceKindGeoEntrez)
	}
}
