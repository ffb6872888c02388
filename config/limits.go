package config

// Defaults and bounds of http.rate_limit and http.max_in_flight.
const (
	RateLimitBurstDefault = 20
	RateLimitBurstMax     = 100000
	RateLimitRPSMax       = 1000000
	MaxInFlightDefault    = 256
	MaxInFlightMax        = 100000
	WriteReserveDefault   = 0.25
	WriteReserveMax       = 0.9
)

// RateLimit bounds how many requests a caller makes, by its token, or by its address when it
// sends none. Over the limit, a call answers ResourceExhausted with Retry-After. Off by default;
// a sensible start for a public archive is anonymous_rps: 10, token_rps: 100.
type RateLimit struct {
	// TokenRPS is the requests per second each token may make, on average; 0 sets no limit.
	// Defaults to 0.
	TokenRPS float64 `koanf:"token_rps"`

	// AnonymousRPS is the requests per second each client address without a token may make,
	// on average; 0 sets no limit. Defaults to 0.
	AnonymousRPS float64 `koanf:"anonymous_rps"`

	// Burst is how many requests beyond the average a caller may make at once, 1..100000.
	// Defaults to 20.
	Burst int `koanf:"burst"`
}

func (r *RateLimit) validate(p *problems) {
	p.floatRange("http.rate_limit.token_rps", r.TokenRPS, 0, RateLimitRPSMax)
	p.floatRange("http.rate_limit.anonymous_rps", r.AnonymousRPS, 0, RateLimitRPSMax)
	p.intRange("http.rate_limit.burst", r.Burst, 1, RateLimitBurstMax)
}

// validateInFlight checks http.max_in_flight and http.write_reserve.
func (h *HTTP) validateInFlight(p *problems) {
	p.intRange("http.max_in_flight", h.MaxInFlight, 0, MaxInFlightMax)
	p.floatRange("http.write_reserve", h.WriteReserve, 0, WriteReserveMax)
}
