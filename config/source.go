package config

import "time"

// Kinds of source, the values of sources[].kind.
const (
	SourceKindGeoEntrez = "geo_entrez" // NCBI GEO through Entrez E-utilities
)

// GEO record types, the values of sources[].geo.record_type.
const (
	GeoRecordTypeGDS = "gds" // curated GEO DataSets
	GeoRecordTypeGSE = "gse" // GEO series
)

// Defaults and bounds of a source.
const (
	SourceNameMaxLen      = 40
	SourceEnabledDefault  = true // of a source listed in a file
	GeoRecordTypeDefault  = GeoRecordTypeGSE
	GeoToolDefault        = "osa"
	GeoBaseURLDefault     = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/"
	GeoPageSizeDefault    = 100
	GeoPageSizeMin        = 1
	GeoPageSizeMax        = 500
	GeoTimeoutDefault     = 30 * time.Second
	GeoMaxSamplesDefault  = 100
	GeoMaxSamplesMax      = 10000
	SourceLimitDefault    = 0  // all records
	SourceScheduleDefault = "" // no scheduled harvests
	// SourceMaxUnfetchedIDsDefault is how many ids of documents a source could not return
	// one harvest keeps in its row; SourceMaxUnfetchedIDsMax bounds it.
	SourceMaxUnfetchedIDsDefault = 1000
	SourceMaxUnfetchedIDsMax     = 100000
)

// Source configures one source of records.
type Source struct {
	// Name identifies the source, matching [NamePattern], unique. Required.
	Name string `koanf:"name"`

	// Kind is "geo_entrez". Required.
	Kind string `koanf:"kind"`

	// Enabled allows harvests of the source. Defaults to true for a source
	// listed in a config file (false for the built-in "geo" source, which
	// needs an email first).
	Enabled bool `koanf:"enabled"`

	// Schedule is a cron expression (5 fields, or a descriptor like @daily)
	// for scheduled harvests; empty means none. Defaults to "".
	Schedule string `koanf:"schedule"`

	// Limit is the most records one scheduled harvest fetches; 0 means all.
	// Defaults to 0.
	Limit int `koanf:"limit"`

	// MaxUnfetchedIDs is how many ids of the documents the source could not
	// return (for GEO, uids esummary answered with an error) one harvest keeps
	// in its row; the count is always complete. -1 keeps none, 0 means the
	// default, at most 100000. Defaults to 1000.
	MaxUnfetchedIDs int `koanf:"max_unfetched_ids"`

	// Geo holds the settings of kind geo_entrez; required for that kind and
	// an error on any other.
	Geo *Geo `koanf:"geo,omitempty"`
}

// Geo configures a geo_entrez source (NCBI GEO through Entrez E-utilities).
type Geo struct {
	// RecordType is "gse" (series) or "gds" (DataSets). Defaults to "gse".
	RecordType string `koanf:"record_type"`

	// Email is the contact address sent to NCBI with every request; required
	// when the source is enabled. Defaults to "".
	Email string `koanf:"email"`

	// APIKey is the NCBI API key, which raises the rate limit from 3 to 10
	// requests per second. Secret: redacted by [Config.Redacted]. Defaults
	// to "".
	APIKey string `koanf:"api_key"`

	// Tool is the tool name sent to NCBI with every request. Defaults to
	// "osa".
	Tool string `koanf:"tool"`

	// BaseURL is the http(s) URL of E-utilities (a mirror, or a fake server in
	// tests). Defaults to "https://eutils.ncbi.nlm.nih.gov/entrez/eutils/".
	BaseURL string `koanf:"base_url"`

	// PageSize is the number of summaries fetched per request, 1..500.
	// Defaults to 100.
	PageSize int `koanf:"page_size"`

	// Timeout is the longest time one request may take. Defaults to 30s.
	Timeout time.Duration `koanf:"timeout"`

	// MaxSamples is how many sample accessions (GSM…) a record keeps in its
	// samples field, the first NCBI lists (sample_count counts them all);
	// -1 keeps none, 0 means the default, at most 10000. Defaults to 100.
	MaxSamples int `koanf:"max_samples"`
}

// DefaultSource returns the defaults that fill a source item listed in a
// config file: enabled, no schedule, no limit and, for kind geo_entrez, the
// default [Geo] settings.
func DefaultSource(name, kind string) Source {
	s := Source{
		Name:     name,
		Kind:     kind,
		Enabled:  SourceEnabledDefault,
		Schedule: SourceScheduleDefault,
		Limit:    SourceLimitDefault,

		MaxUnfetchedIDs: SourceMaxUnfetchedIDsDefault,
	}
	if kind == SourceKindGeoEntrez {
		s.Geo = &Geo{
			RecordType: GeoRecordTypeDefault,
			Tool:       GeoToolDefault,
			BaseURL:    GeoBaseURLDefault,
			PageSize:   GeoPageSizeDefault,
			Timeout:    GeoTimeoutDefault,
			MaxSamples: GeoMaxSamplesDefault,
		}
	}
	return s
}
