package config

import (
	"time"

	"github.com/osa-archive/osa/events"
	"github.com/osa-archive/osa/jobs/eventprune"
)

// Defaults and bounds of the events section.
const (
	EventsRetentionDefault         = events.RetentionDefault
	EventsRetentionMin             = time.Hour
	EventsRetentionMax             = 3650 * 24 * time.Hour
	EventsPollIntervalDefault      = events.PollIntervalDefault
	EventsPollIntervalMin          = 5 * time.Millisecond
	EventsPollIntervalMax          = 10 * time.Second
	EventsKeepAliveIntervalDefault = events.KeepAliveIntervalDefault
	EventsKeepAliveIntervalMin     = 100 * time.Millisecond
	EventsKeepAliveIntervalMax     = 5 * time.Minute
	EventsPageLimitMaxDefault      = events.PageLimitMaxDefault
	EventsPageLimitMaxMin          = 1
	EventsPageLimitMaxMax          = 10000
	EventsPruneIntervalDefault     = eventprune.IntervalDefault
	EventsPruneIntervalMin         = time.Minute
	EventsPruneIntervalMax         = 7 * 24 * time.Hour
	EventsPruneBatchDefault        = events.PruneBatchDefault
	EventsPruneBatchMin            = 1
	EventsPruneBatchMax            = 100000
	EventsMaxWatchersDefault       = 256
	EventsMaxWatchersMin           = 1
	EventsMaxWatchersMax           = 100000
)

// Events configures the changefeed (EventService) and its retention.
type Events struct {
	// Retention is how long events are kept, 1h..87600h (10 years); a cursor older than the
	// events kept is refused with FailedPrecondition. Defaults to 720h (30 days).
	Retention time.Duration `koanf:"retention"`

	// PollInterval is how often a process reads the head of the feed for its WatchEvents
	// streams, 5ms..10s: one short statement for all of them, and a stream reads its own page
	// only when an event passed its cursor. The feed's latency is about half of it plus the
	// reads. Defaults to 20ms.
	PollInterval time.Duration `koanf:"poll_interval"`

	// KeepAliveInterval is how long a WatchEvents stream stays silent before it sends a message
	// with no events (and the cursor to resume after), 100ms..5m; proxies that close idle
	// streams need it below their idle timeout. Defaults to 15s.
	KeepAliveInterval time.Duration `koanf:"keep_alive_interval"`

	// PageLimitMax is the largest limit of a ListEvents page, 1..10000 (WatchEvents reads pages
	// of this size). Defaults to 1000.
	PageLimitMax int `koanf:"page_limit_max"`

	// MaxWatchers is how many WatchEvents streams a process keeps open at once, 1..100000; one
	// more is refused with ResourceExhausted. Streams do not count in http.max_in_flight; an idle
	// one costs no statement, and each reads a page when an event arrives. Defaults to 256.
	MaxWatchers int `koanf:"max_watchers"`

	// PruneInterval is how often the leader's periodic job deletes the events older than
	// retention, 1m..168h. Defaults to 1h.
	PruneInterval time.Duration `koanf:"prune_interval"`

	// PruneBatch is the most events one prune transaction deletes, 1..100000; each holds the
	// feed back while it runs, so keep batches short. Defaults to 1000.
	PruneBatch int `koanf:"prune_batch"`
}

func (e *Events) validate(p *problems) {
	durationRange(p, "events.retention", e.Retention, EventsRetentionMin, EventsRetentionMax)
	durationRange(p, "events.poll_interval", e.PollInterval, EventsPollIntervalMin, EventsPollIntervalMax)
	durationRange(p, "events.keep_alive_interval", e.KeepAliveInterval, EventsKeepAliveIntervalMin, EventsKeepAliveIntervalMax)
	p.intRange("events.page_limit_max", e.PageLimitMax, EventsPageLimitMaxMin, EventsPageLimitMaxMax)
	p.intRange("events.max_watchers", e.MaxWatchers, EventsMaxWatchersMin, EventsMaxWatchersMax)
	durationRange(p, "events.prune_interval", e.PruneInterval, EventsPruneIntervalMin, EventsPruneIntervalMax)
	p.intRange("events.prune_batch", e.PruneBatch, EventsPruneBatchMin, EventsPruneBatchMax)
}

// durationRange adds a problem when d is outside minimum..maximum.
func durationRange(p *problems, key string, d, minimum, maximum time.Duration) {
	if d < minimum || d > maximum {
		p.add(key, "%s is out of range (%s..%s)", formatDuration(d), formatDuration(minimum), formatDuration(maximum))
	}
}
