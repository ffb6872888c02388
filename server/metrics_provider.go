package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/osa-archive/osa/backends/embed"
)

// providerCollector exports the state of the process's calls to each embedding provider
// ([embed.Providers]): the adaptive concurrency limit, the calls in flight, and the calls made
// and answered 429.
type providerCollector struct{}

var (
	providerLimitDesc = prometheus.NewDesc("osa_embed_provider_concurrency_limit",
		"The adaptive limit on concurrent calls this process makes to an embedding provider (embedder.max_concurrency is its ceiling).",
		[]string{"provider"}, nil)
	providerInFlightDesc = prometheus.NewDesc("osa_embed_provider_in_flight",
		"Calls to an embedding provider in flight.", []string{"provider"}, nil)
	providerCallsDesc = prometheus.NewDesc("osa_embed_provider_calls_total",
		"Calls made to an embedding provider, every answer counted.", []string{"provider"}, nil)
	providerRateLimitedDesc = prometheus.NewDesc("osa_embed_provider_rate_limited_total",
		"Calls to an embedding provider answered 429; their share of osa_embed_provider_calls_total is the 429 rate.",
		[]string{"provider"}, nil)
)

// Describe implements [prometheus.Collector].
func (providerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- providerLimitDesc
	ch <- providerInFlightDesc
	ch <- providerCallsDesc
	ch <- providerRateLimitedDesc
}

// Collect implements [prometheus.Collector].
func (providerCollector) Collect(ch chan<- prometheus.Metric) {
	for _, p := range embed.Providers() {
		ch <- prometheus.MustNewConstMetric(providerLimitDesc, prometheus.GaugeValue, float64(p.Limit), p.Provider)
		ch <- prometheus.MustNewConstMetric(providerInFlightDesc, prometheus.GaugeValue, float64(p.InFlight), p.Provider)
		ch <- prometheus.MustNewConstMetric(providerCallsDesc, prometheus.CounterValue, float64(p.Calls), p.Provider)
		ch <- prometheus.MustNewConstMetric(providerRateLimitedDesc, prometheus.CounterValue, float64(p.RateLimited), p.Provider)
	}
}
