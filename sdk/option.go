package sdk

import (
	"net/http"
	"time"
)

// Defaults of a [Client], and their bounds.
const (
	// TimeoutDefault is how long one RPC may take, retries included (see [WithTimeout]).
	TimeoutDefault = 30 * time.Second

	// RetryAttemptsDefault is how often an idempotent call is tried in all when the server
	// answers Unavailable (see [WithRetry]).
	RetryAttemptsDefault = 4
	// RetryBackoffDefault is the wait before the first retry; it doubles for each further one.
	RetryBackoffDefault = 200 * time.Millisecond
	// RetryBackoffMax caps the wait between two attempts.
	RetryBackoffMax = 5 * time.Second

	// PollIntervalMinDefault is the first wait between two polls of [Client.WaitIndexed] and
	// [Client.WaitHarvest]; each wait is 1.5 times the previous one, up to
	// [PollIntervalMaxDefault] (see [WithPollInterval]).
	PollIntervalMinDefault = 25 * time.Millisecond
	// PollIntervalMaxDefault is the longest wait between two polls.
	PollIntervalMaxDefault = 2 * time.Second

	// PublishChunkMax is the most records [Client.PublishMany] sends in one PublishRecords
	// call, the server's default limit (records.max_batch).
	PublishChunkMax = 1000
)

// Protocol is the wire protocol a [Client] speaks. An OSA server answers all of them on one port.
type Protocol int

const (
	// ProtocolConnectProto is the Connect protocol with binary protobuf bodies over HTTP/1.1 or
	// HTTP/2: compact and fast. The default.
	ProtocolConnectProto Protocol = iota
	// ProtocolConnectJSON is the Connect protocol with JSON bodies, readable in a proxy's log.
	ProtocolConnectJSON
	// ProtocolGRPC is gRPC. It needs HTTP/2: over https:// it is negotiated, and over http://
	// the default HTTP client speaks HTTP/2 without TLS (h2c). A client given through
	// [WithHTTPClient] must do the same.
	ProtocolGRPC
	// ProtocolGRPCWeb is gRPC-Web, over HTTP/1.1 or HTTP/2.
	ProtocolGRPCWeb
)

// String returns the protocol's name: "connect+proto", "connect+json", "grpc" or "grpc-web".
func (p Protocol) String() string {
	switch p {
	case ProtocolConnectProto:
		return "connect+proto"
	case ProtocolConnectJSON:
		return "connect+json"
	case ProtocolGRPC:
		return "grpc"
	case ProtocolGRPCWeb:
		return "grpc-web"
	}
	return "unknown"
}

// An Option configures a [Client]. Options are made by the With… functions of this package.
type Option interface {
	apply(*config)
}

// config holds what the options set; New fills the defaults first.
type config struct {
	httpClient      *http.Client
	pollIntervalMax time.Duration
	pollIntervalMin time.Duration
	protocol        Protocol
	retryAttempts   int
	retryBackoff    time.Duration
	timeout         time.Duration
	token           string
	userAgent       string
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// WithHTTPClient makes the client send its requests through hc, for example one with a proxy,
// custom TLS or a test transport. For [ProtocolGRPC] over http://, hc must speak HTTP/2 without
// TLS (an [http.Transport] whose Protocols has SetUnencryptedHTTP2(true) and not HTTP/1). A nil
// hc keeps the default: a shared client with a pool of connections per server.
func WithHTTPClient(hc *http.Client) Option {
	return optionFunc(func(c *config) {
		if hc != nil {
			c.httpClient = hc
		}
	})
}

// WithPollInterval sets how [Client.WaitIndexed] and [Client.WaitHarvest] poll: first after min,
// then 1.5 times longer each time, never longer than max. Values ≤ 0 keep the defaults
// ([PollIntervalMinDefault], [PollIntervalMaxDefault]); a max below min is raised to min.
func WithPollInterval(minWait, maxWait time.Duration) Option {
	return optionFunc(func(c *config) {
		if minWait > 0 {
			c.pollIntervalMin = minWait
		}
		if maxWait > 0 {
			c.pollIntervalMax = maxWait
		}
		c.pollIntervalMax = max(c.pollIntervalMax, c.pollIntervalMin)
	})
}

// WithProtocol selects the wire protocol. Defaults to [ProtocolConnectProto].
func WithProtocol(p Protocol) Option {
	return optionFunc(func(c *config) { c.protocol = p })
}

// WithRetry sets how calls that are safe to repeat are retried when the server answers
// Unavailable (it cannot reach its database, or cannot be reached): up to attempts tries in all,
// waiting backoff before the second, twice as long before each further one (at most
// [RetryBackoffMax]), each wait jittered by up to half. attempts of 1 or less disables retries.
//
// Calls that are safe to repeat are the reads (Get, Records, Search, IndexStatus, Backends,
// QueueStats, Harvest, Sources) and publishes in which every record has Source and SourceID set
// (a repeated upsert of the same metadata changes nothing). Other writes are never retried: a
// connection lost after the server committed would publish twice.
//
// Defaults to [RetryAttemptsDefault] attempts and [RetryBackoffDefault]; a backoff ≤ 0 keeps
// the default.
func WithRetry(attempts int, backoff time.Duration) Option {
	return optionFunc(func(c *config) {
		c.retryAttempts = max(attempts, 1)
		if backoff > 0 {
			c.retryBackoff = backoff
		}
	})
}

// WithTimeout limits how long one call may take, retries included; a deadline of the caller's
// context that comes sooner wins. For [Client.PublishMany] it applies to each chunk, and for
// the Wait methods to each poll, not to the whole wait. A d ≤ 0 means no limit besides the
// context's. Defaults to [TimeoutDefault].
func WithTimeout(d time.Duration) Option {
	return optionFunc(func(c *config) { c.timeout = d })
}

// WithToken sends token as "Authorization: Bearer <token>" on every call (see `osa token new`).
// Without a token the server allows reads when auth.public_read is set, and writes only from
// its own machine when it has no tokens configured. An empty token sends none.
func WithToken(token string) Option {
	return optionFunc(func(c *config) { c.token = token })
}

// WithUserAgent puts ua in front of the client's User-Agent header, e.g.
// "my-harvester/1.2 osa-sdk-go/0.1", so server logs tell integrations apart. An empty ua keeps
// the default, "osa-sdk-go/<version>".
func WithUserAgent(ua string) Option {
	return optionFunc(func(c *config) { c.userAgent = ua })
}
