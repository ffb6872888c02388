package sdk

import (
	"context"
	"fmt"
	"math"

	osav1 "github.com/osa-archive/osa/api/osa/v1"
	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
)

// SearchMode is how a query is matched.
type SearchMode string

const (
	// SearchDefault lets the server choose: hybrid when it has both kinds of backend, else the
	// mode of the kind it has.
	SearchDefault SearchMode = ""
	// SearchVector is semantic search on a vector backend, scored by cosine similarity (-1..1).
	SearchVector SearchMode = "vector"
	// SearchKeyword is full-text search on a keyword backend: any of the words, scored by BM25.
	// The query is read as web search syntax: "quoted phrases", OR, -word.
	SearchKeyword SearchMode = "keyword"
	// SearchHybrid runs both and fuses their scores (search.fusion on the server).
	SearchHybrid SearchMode = "hybrid"
	// SearchBrowse lists the records meeting Where and Filter in Sort order, unranked: what a
	// search with an empty query and a Where, Filter, Sort or Facets does.
	SearchBrowse SearchMode = "browse"
)

var searchModes = map[SearchMode]osav1.SearchMode{
	SearchDefault: osav1.SearchMode_SEARCH_MODE_UNSPECIFIED,
	SearchVector:  osav1.SearchMode_SEARCH_MODE_VECTOR,
	SearchKeyword: osav1.SearchMode_SEARCH_MODE_KEYWORD,
	SearchHybrid:  osav1.SearchMode_SEARCH_MODE_HYBRID,
	SearchBrowse:  osav1.SearchMode_SEARCH_MODE_BROWSE,
}

// SearchOpts are the optional settings of [Client.Search]; nil means all defaults.
type SearchOpts struct {
	// Mode is how to match. Defaults to [SearchDefault].
	Mode SearchMode

	// Backend names the backend to query; it must be of the mode's kind. Defaults to the first
	// backend of that kind.
	Backend string

	// Limit is the most hits to return, 1..100. Defaults to the server's 20.
	Limit int

	// Offset is how many of the best hits to skip, 0..10000, to page through results.
	Offset int

	// Filter keeps only records whose metadata contains it, e.g. {"organism": "Danio rerio"}
	// (JSON containment: nested objects match parts, arrays match elements). Nil filters
	// nothing.
	Filter map[string]any

	// Where is a filter expression over the server's declared fields, e.g.
	// `organism = "Mus musculus" AND sample_count >= 10 AND pub_date >= 2022-01-01` (see the
	// README, "Filter expressions"). An invalid one is an [*Error] with Field "where" and the
	// position in its Message. Empty filters nothing.
	Where string

	// MinScore drops hits scoring below it, on the mode's scale; 0 keeps all.
	MinScore float64

	// Facets are declared fields with facets (see [Client.SearchFields]) whose values are
	// counted over the matches, e.g. {"organism", "pub_date"}: every record of a browse, a
	// query's best hits (the server's search.facet_depth, 1000). See [SearchResult].Facets.
	Facets []string

	// FacetLimit is how many values each facet lists, 1..100. Defaults to the server's 10.
	FacetLimit int

	// Sort orders the hits by declared fields, each "field", "field:asc" or "field:desc", e.g.
	// {"pub_date:desc"}; ties go by relevance, then SRN.
	Sort []string

	// PageToken continues a browse (an empty query) after the page whose NextPageToken it is.
	PageToken string

	// Highlight fills each hit's Highlights: title and summary, HTML-escaped, with the query's
	// words between HighlightPreTag and HighlightPostTag (defaults "<mark>" and "</mark>").
	Highlight                         bool
	HighlightPreTag, HighlightPostTag string
}

// SearchResult is the answer to one search.
type SearchResult struct {
	// Hits are the matching records, best first.
	Hits []Hit `json:"hits"`

	// Mode is the mode the server used, never [SearchDefault].
	Mode SearchMode `json:"mode"`

	// Backends are the backends queried: the vector one then the keyword one for hybrid.
	Backends []string `json:"backends"`

	// Facets are the counts of [SearchOpts].Facets, in that order, over FacetMatches matches.
	Facets       []Facet `json:"facets,omitempty"`
	FacetMatches int64   `json:"facet_matches,omitempty"`

	// NextPageToken continues a browse: pass it as [SearchOpts].PageToken for the next page.
	// Empty on the last page.
	NextPageToken string `json:"next_page_token,omitempty"`

	pb *osav1.SearchResponse // what it was read from, for Proto
}

// Facet is the counts of one field's values over a search's matches.
type Facet struct {
	// Field is the field's name, Type its type (keyword, number, date or boolean).
	Field string `json:"field"`
	Type  string `json:"type"`
	// Values are the most frequent values first (a date's years; a number's buckets, in
	// order).
	Values []FacetValue `json:"values"`
	// OtherValues is how many values were left out beyond the limit, OtherCount how many
	// matches they count.
	OtherValues int   `json:"other_values,omitempty"`
	OtherCount  int64 `json:"other_count,omitempty"`
	// Missing is how many matches have no value of the field's type.
	Missing int64 `json:"missing,omitempty"`
	// Min and Max are a number field's least and greatest values; nil otherwise.
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
}

// FacetValue is one value of a facet: a keyword, "true"/"false", a year, or a number bucket
// ("[10, 100)", with its bounds From ≤ n < To).
type FacetValue struct {
	Value string   `json:"value"`
	Count int64    `json:"count"`
	From  *float64 `json:"from,omitempty"`
	To    *float64 `json:"to,omitempty"`
}

// Proto returns the API message r was read from, so that a caller can print the API's own
// JSON form (protojson, as the Connect JSON API answers), as osa --json does. It is nil for a
// SearchResult not read from a server. The message is shared: do not modify it.
func (r *SearchResult) Proto() *osav1.SearchResponse { return r.pb }

// Hit is one record that matched.
type Hit struct {
	// SRN is the record's latest version.
	SRN string `json:"srn"`

	// Score is the relevance, higher is better; scores of different modes do not compare.
	Score float64 `json:"score"`

	// Metadata is the record's metadata.
	Metadata map[string]any `json:"metadata"`

	// VectorRank is the 1-based rank among the vector results; 0 when not among them.
	VectorRank int `json:"vector_rank,omitempty"`

	// KeywordRank is the 1-based rank among the keyword results; 0 when not among them.
	KeywordRank int `json:"keyword_rank,omitempty"`

	// Highlights, with [SearchOpts].Highlight, map "title" and "summary" to their HTML-escaped
	// text with the query's words between the tags.
	Highlights map[string]string `json:"highlights,omitempty"`

	// Source is the record's source; empty for a record published without one.
	Source string `json:"source,omitempty"`
}

// Search returns the records that best match query, best first; deleted records never match.
// With an empty query and a Where, Filter, Sort or Facets it browses: the records meeting the
// filters, in Sort order, paged by NextPageToken.
// A record is found once its backends indexed it (see [Client.WaitIndexed]). Errors:
// [ErrInvalidArgument] naming the field (query empty or over 1024 characters, limit, offset or
// mode out of range, no backend for the mode, backend of the wrong kind, filter), and
// [ErrNotFound] when Backend does not exist.
func (c *Client) Search(ctx context.Context, query string, opts *SearchOpts) (*SearchResult, error) {
	var o SearchOpts
	if opts != nil {
		o = *opts
	}
	mode, ok := searchModes[o.Mode]
	if !ok {
		return nil, &Error{Code: CodeInvalidArgument, Field: "mode",
			Message: fmt.Sprintf("mode: %q is not one of vector, keyword, hybrid, browse", o.Mode)}
	}
	filter, err := toStruct("filter", o.Filter)
	if err != nil {
		return nil, err
	}
	req := &osav1.SearchRequest{Query: query, Mode: mode, Backend: o.Backend, Offset: clamp32(o.Offset),
		Filter: filter, MinScore: o.MinScore, Where: o.Where, Facets: o.Facets, FacetLimit: clamp32(o.FacetLimit), Sort: o.Sort,
		PageToken: o.PageToken, Highlight: o.Highlight, HighlightPreTag: o.HighlightPreTag, HighlightPostTag: o.HighlightPostTag}
	if o.Limit != 0 {
		l := clamp32(o.Limit)
		req.Limit = &l
	}
	res, err := unary(ctx, c, osav1connect.SearchServiceSearchProcedure, true, req, c.search.Search)
	if err != nil {
		return nil, err
	}
	out := &SearchResult{Hits: make([]Hit, len(res.Hits)), Backends: res.Backends, FacetMatches: res.FacetMatches,
		NextPageToken: res.NextPageToken, pb: res}
	for _, f := range res.Facets {
		sf := Facet{Field: f.Field, Type: f.Type, OtherValues: int(f.OtherValues), OtherCount: f.OtherCount, Missing: f.Missing,
			Min: f.Min, Max: f.Max, Values: make([]FacetValue, len(f.Values))}
		for j, v := range f.Values {
			sf.Values[j] = FacetValue{Value: v.Value, Count: v.Count, From: v.From, To: v.To}
		}
		out.Facets = append(out.Facets, sf)
	}
	for m, pm := range searchModes {
		if pm == res.Mode {
			out.Mode = m
		}
	}
	out.Hits = hitsFrom(res.Hits)
	return out, nil
}

// hitsFrom converts the API's hits.
func hitsFrom(pb []*osav1.SearchHit) []Hit {
	out := make([]Hit, len(pb))
	for i, h := range pb {
		out[i] = Hit{SRN: h.Srn, Score: h.GetScore(), Metadata: fromStruct(h.Metadata),
			VectorRank: int(h.VectorRank), KeywordRank: int(h.KeywordRank), Highlights: h.Highlights, Source: h.Source}
	}
	return out
}

// SimilarOpts are the optional settings of [Client.Similar]; nil means all defaults.
type SimilarOpts struct {
	// Limit is the most records to return, 1..100. Defaults to the server's 20.
	Limit int
	// Where is a filter expression every record returned must match.
	Where string
	// Backend names the vector backend to use. Defaults to the first.
	Backend string
}

// SimilarResult is the answer to [Client.Similar].
type SimilarResult struct {
	// Hits are the records nearest first; Score is the cosine similarity.
	Hits []Hit `json:"hits"`
	// Backend is the vector backend whose vectors were compared.
	Backend string `json:"backend"`

	pb *osav1.SimilarRecordsResponse // what it was read from, for Proto
}

// Proto returns the API message r was read from (see [SearchResult.Proto]).
func (r *SimilarResult) Proto() *osav1.SimilarRecordsResponse { return r.pb }

// Similar returns the records nearest to the record srn ("more like this") by the vector the
// server stores for it, nearest first, never the record itself; no embedding call is made.
// Errors: [ErrNotFound] when the server holds no vector for the record (deleted, not indexed
// yet, or without text); [ErrInvalidArgument] naming the field.
func (c *Client) Similar(ctx context.Context, srn string, opts *SimilarOpts) (*SimilarResult, error) {
	var o SimilarOpts
	if opts != nil {
		o = *opts
	}
	req := &osav1.SimilarRecordsRequest{Srn: srn, Where: o.Where, Backend: o.Backend}
	if o.Limit != 0 {
		l := clamp32(o.Limit)
		req.Limit = &l
	}
	res, err := unary(ctx, c, osav1connect.SearchServiceSimilarRecordsProcedure, true, req, c.search.SimilarRecords)
	if err != nil {
		return nil, err
	}
	return &SimilarResult{Hits: hitsFrom(res.Hits), Backend: res.Backend, pb: res}, nil
}

// Backend is one configured search backend and its progress.
type Backend struct {
	// Name is the backend's name, as used in [SearchOpts].Backend and the admin calls.
	Name string `json:"name"`
	// Kind is "pgvector" or "keyword".
	Kind string `json:"kind"`
	// Model is the embedding model of a vector backend; empty for keyword backends.
	Model string `json:"model,omitempty"`
	// Dims is the embedding size of a vector backend; 0 for keyword backends.
	Dims int `json:"dims,omitempty"`
	// Indexed is the number of records whose latest version the backend holds.
	Indexed int64 `json:"indexed"`
	// Pending is the number of records with a version or delete queued for it.
	Pending int64 `json:"pending"`
	// Failed is the number of records whose indexing gave up.
	Failed int64 `json:"failed"`
	// Empty is the number of records with no text the backend can index (not a failure).
	Empty int64 `json:"empty,omitempty"`
	// Healthy is whether the backend can index and answer searches now.
	Healthy bool `json:"healthy"`
	// Queue is the job queue that feeds the backend (see [Client.QueueStats]).
	Queue string `json:"queue"`
	// State is the backend's state in the catalog: "building" while it is backfilled (records
	// are fanned out to it, searches do not use it yet) or "live".
	State string `json:"state"`
	// Generation is the backend's generation in the catalog, 1 for its first table.
	Generation int `json:"generation"`
	// BuildDone and BuildTotal are, for a building backend, the records its rebuild has copied
	// and how many it copies; 0 otherwise.
	BuildDone  int64 `json:"build_done,omitempty"`
	BuildTotal int64 `json:"build_total,omitempty"`

	pb *osav1.Backend // what it was read from, for Proto
}

// Proto returns the API message b was read from, so that a caller can print the API's own
// JSON form (protojson, as the Connect JSON API answers), as osa --json does. It is nil for a
// Backend not read from a server. The message is shared: do not modify it.
func (b *Backend) Proto() *osav1.Backend { return b.pb }

// Backends lists the configured search backends, in configuration order, with their counts.
func (c *Client) Backends(ctx context.Context) ([]Backend, error) {
	res, err := unary(ctx, c, osav1connect.SearchServiceListBackendsProcedure, true, &osav1.ListBackendsRequest{}, c.search.ListBackends)
	if err != nil {
		return nil, err
	}
	out := make([]Backend, len(res.Backends))
	for i, b := range res.Backends {
		out[i] = Backend{Name: b.Name, Kind: b.Kind, Model: b.Model, Dims: int(b.Dims), Indexed: b.Indexed,
			Pending: b.Pending, Failed: b.Failed, Empty: b.Empty, Healthy: b.Healthy, Queue: b.Queue, State: b.State, Generation: int(b.Generation),
			BuildDone: b.BuildDone, BuildTotal: b.BuildTotal, pb: b}
	}
	return out, nil
}

// SearchField is a field that [SearchOpts].Where, Sort and Facets can use.
type SearchField struct {
	// Name is the field's name ("." for nesting; "source" is the record's source).
	Name string `json:"name"`
	// Type is keyword, number, date or boolean.
	Type string `json:"type"`
	// Facet says whether its values can be counted ([SearchOpts].Facets).
	Facet bool `json:"facet"`
}

// SearchFields lists the server's declared search fields (search.fields), sorted by name.
func (c *Client) SearchFields(ctx context.Context) ([]SearchField, error) {
	res, err := unary(ctx, c, osav1connect.SearchServiceGetSearchFieldsProcedure, true, &osav1.GetSearchFieldsRequest{}, c.search.GetSearchFields)
	if err != nil {
		return nil, err
	}
	out := make([]SearchField, len(res.Fields))
	for i, f := range res.Fields {
		out[i] = SearchField{Name: f.Name, Type: f.Type, Facet: f.Facet}
	}
	return out, nil
}

// clamp32 converts n to int32, saturating, so an out-of-range value stays out of range for the
// server to reject instead of wrapping around into range.
func clamp32(n int) int32 {
	return int32(max(min(n, math.MaxInt32), math.MinInt32))
}
