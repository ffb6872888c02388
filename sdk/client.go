package sdk

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"connectrpc.com/connect"

	"github.com/osa-archive/osa/api/osa/v1/osav1connect"
)

// Version is the version of this SDK, sent in the User-Agent header.
const Version = "0.1.0"

// Client calls one OSA server. It is safe for concurrent use; make one and share it.
type Client struct {
	admin   osav1connect.AdminServiceClient
	baseURL string
	cfg     config
	events  osav1connect.EventServiceClient
	records osav1connect.RecordServiceClient
	// recordsPlain asks for answers without compression: exports, unless asked otherwise.
	recordsPlain osav1connect.RecordServiceClient
	search       osav1connect.SearchServiceClient
	sources      osav1connect.SourceServiceClient
}

// New returns a client of the OSA server at baseURL, e.g. "http://localhost:8080" or
// "https://osa.example.org" (a path prefix is kept, for a server behind a proxy that mounts it
// below one). It checks the URL, not the server: the first call finds out whether the server
// answers. Without options it speaks [ProtocolConnectProto], sends no token, gives each call
// [TimeoutDefault] and retries idempotent calls as [WithRetry] describes.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("sdk: base URL %q: want http://host[:port] or https://host[:port]", baseURL)
	}
	cfg := config{
		pollIntervalMax: PollIntervalMaxDefault,
		pollIntervalMin: PollIntervalMinDefault,
		protocol:        ProtocolConnectProto,
		retryAttempts:   RetryAttemptsDefault,
		retryBackoff:    RetryBackoffDefault,
		timeout:         TimeoutDefault,
	}
	for _, o := range opts {
		o.apply(&cfg)
	}
	var copts []connect.ClientOption
	switch cfg.protocol {
	case ProtocolConnectProto:
	case ProtocolConnectJSON:
		copts = append(copts, connect.WithProtoJSON())
	case ProtocolGRPC:
		copts = append(copts, connect.WithGRPC())
	case ProtocolGRPCWeb:
		copts = append(copts, connect.WithGRPCWeb())
	default:
		return nil, fmt.Errorf("sdk: unknown protocol %d; use one of the Protocol constants", cfg.protocol)
	}
	if cfg.httpClient == nil {
		cfg.httpClient = sharedHTTPClient()
		if cfg.protocol == ProtocolGRPC {
			cfg.httpClient = sharedHTTP2Client()
		}
	}
	cfg.userAgent = strings.TrimSpace(cfg.userAgent + " osa-sdk-go/" + Version)
	base := strings.TrimSuffix(u.String(), "/")
	return &Client{
		admin:   osav1connect.NewAdminServiceClient(cfg.httpClient, base, copts...),
		baseURL: base,
		cfg:     cfg,
		events:  osav1connect.NewEventServiceClient(cfg.httpClient, base, copts...),
		records: osav1connect.NewRecordServiceClient(cfg.httpClient, base, copts...),
		recordsPlain: osav1connect.NewRecordServiceClient(cfg.httpClient, base,
			append(slices.Clip(copts), connect.WithAcceptCompression("gzip", nil, nil))...),
		search:  osav1connect.NewSearchServiceClient(cfg.httpClient, base, copts...),
		sources: osav1connect.NewSourceServiceClient(cfg.httpClient, base, copts...),
	}, nil
}

// BaseURL returns the server's URL as the client uses it, without a trailing slash.
func (c *Client) BaseURL() string { return c.baseURL }

// Protocol returns the wire protocol the client speaks.
func (c *Client) Protocol() Protocol { return c.cfg.protocol }

// unary calls one RPC through fn with the client's headers, timeout and, when retry is set,
// retries on Unavailable. Every error it returns is an *Error.
func unary[Req, Res any](ctx context.Context, c *Client, procedure string, retry bool, msg *Req,
	fn func(context.Context, *connect.Request[Req]) (*connect.Response[Res], error),
) (*Res, error) {
	return unaryLonger(ctx, c, 0, procedure, retry, msg, fn)
}

// unaryLonger is unary with the client's timeout (when it has one) extended by extra: the time
// the server is asked to wait before it answers (a publish's WaitTimeout).
func unaryLonger[Req, Res any](ctx context.Context, c *Client, extra time.Duration, procedure string, retry bool, msg *Req,
	fn func(context.Context, *connect.Request[Req]) (*connect.Response[Res], error),
) (*Res, error) {
	if c.cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.timeout+extra)
		defer cancel()
	}
	attempts := 1
	if retry {
		attempts = c.cfg.retryAttempts
	}
	backoff := c.cfg.retryBackoff
	for attempt := 1; ; attempt++ {
		req := connect.NewRequest(msg)
		c.setHeaders(req.Header())
		resp, err := fn(ctx, req)
		if err == nil {
			return resp.Msg, nil
		}
		if attempt >= attempts || connect.CodeOf(err) != connect.CodeUnavailable || ctx.Err() != nil {
			return nil, toError(procedure, err)
		}
		// Equal jitter: half the backoff for sure, the other half at random, so clients that
		// failed together do not come back together.
		wait := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, RetryBackoffMax)
		if !sleep(ctx, wait) {
			return nil, toError(procedure, err)
		}
	}
}

// setHeaders sets the client's headers of every call on h: its User-Agent and token.
func (c *Client) setHeaders(h http.Header) {
	h.Set("User-Agent", c.cfg.userAgent)
	if c.cfg.protocol == ProtocolGRPCWeb {
		h.Set("X-User-Agent", c.cfg.userAgent)
	}
	if c.cfg.token != "" {
		h.Set("Authorization", "Bearer "+c.cfg.token)
	}
}

// sleep waits for d or until ctx is done, and reports whether it waited the whole d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// poller spaces the polls of the Wait methods: min, then 1.5 times longer each time, up to max.
type poller struct {
	next, max time.Duration
}

func (c *Client) newPoller() *poller {
	return &poller{next: c.cfg.pollIntervalMin, max: c.cfg.pollIntervalMax}
}

// wait sleeps until the next poll; it returns ctx's error when ctx ends first.
func (p *poller) wait(ctx context.Context) error {
	if !sleep(ctx, p.next) {
		return ctx.Err()
	}
	p.next = min(p.next*3/2, p.max)
	return nil
}

// sharedHTTPClient is the default HTTP client of the Connect and gRPC-Web protocols. One
// transport serves every Client, so short-lived Clients do not each keep idle connections.
var sharedHTTPClient = sync.OnceValue(func() *http.Client {
	return &http.Client{Transport: newTransport(nil)}
})

// sharedHTTP2Client is the default HTTP client of gRPC: HTTP/2 over TLS for https:// and
// without TLS (h2c) for http://, as gRPC's -plaintext mode.
var sharedHTTP2Client = sync.OnceValue(func() *http.Client {
	var p http.Protocols
	p.SetHTTP2(true)
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: newTransport(&p)}
})

func newTransport(protocols *http.Protocols) *http.Transport {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   64, // the Wait methods and PublishMany callers poll in parallel
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		Protocols:             protocols,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
}
