package suites

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// faultProxy is a TCP proxy on a loopback port in front of the suite's PostgreSQL server: a
// toxiproxy proxy run in this test process, whose toxics slow, throttle or swallow the traffic of
// every connection through it.
type faultProxy struct {
	t     *testing.T
	proxy *toxiproxy.Proxy

	mu     sync.Mutex
	resets []timeSpan // when reset cut the connections and listened again
}

// timeSpan is a span of time.
type timeSpan struct{ from, to time.Time }

// overlaps reports whether [from, to] overlaps the span.
func (s timeSpan) overlaps(from, to time.Time) bool { return !from.After(s.to) && !to.Before(s.from) }

// lingerToxic is the name of the reset_peer toxic every faultProxy carries with toxicity 0: it
// never fires, but toxiproxy sets SO_LINGER 0 on both sockets of every connection accepted while a
// reset_peer toxic is in the chain, so that closing them sends RST, not FIN. [faultProxy.reset]
// relies on it to cut connections the way a network failure does.
const lingerToxic = "linger0"

// newFaultProxy starts a proxy to the server of dbURL (a postgres:// URL with host:port) and
// stops it when t ends.
func newFaultProxy(t *testing.T, dbURL string) *faultProxy {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil || u.Port() == "" {
		t.Fatalf("fault proxy: %q is not a postgres:// URL with a host and port", dbURL)
	}
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	p := toxiproxy.NewProxy(srv, name, "127.0.0.1:0", u.Host)
	if err := p.Start(); err != nil {
		t.Fatalf("fault proxy: %v", err)
	}
	t.Cleanup(p.Stop)
	fp := &faultProxy{t: t, proxy: p}
	fp.add(lingerToxic, "reset_peer", "upstream", 0, map[string]any{"timeout": 0})
	return fp
}

// addr returns the proxy's host:port.
func (fp *faultProxy) addr() string {
	fp.proxy.Lock()
	defer fp.proxy.Unlock()
	return fp.proxy.Listen
}

// url returns dbURL with its host:port replaced by the proxy's, and application_name set to
// app, by which pg_stat_activity tells the connections through the proxy.
func (fp *faultProxy) url(dbURL, app string) string {
	fp.t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		fp.t.Fatal(err)
	}
	u.Host = fp.addr()
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	return u.String()
}

// add adds a toxic of kind (latency, bandwidth, timeout, reset_peer, …) to stream ("upstream":
// client to server, "downstream": server to client) with its attributes, at toxicity (the share
// of connections it acts on, 0..1).
func (fp *faultProxy) add(name, kind, stream string, toxicity float32, attrs map[string]any) {
	fp.t.Helper()
	body, err := json.Marshal(map[string]any{"name": name, "type": kind, "stream": stream, "toxicity": toxicity, "attributes": attrs})
	if err != nil {
		fp.t.Fatal(err)
	}
	if _, err := fp.proxy.Toxics.AddToxicJson(strings.NewReader(string(body))); err != nil {
		fp.t.Fatalf("fault proxy: adding toxic %s: %v", name, err)
	}
}

// addBoth adds a toxic of kind to both streams, named name_up and name_down.
func (fp *faultProxy) addBoth(name, kind string, attrs map[string]any) {
	fp.t.Helper()
	fp.add(name+"_up", kind, "upstream", 1, attrs)
	fp.add(name+"_down", kind, "downstream", 1, attrs)
}

// remove removes a toxic. Removing a timeout toxic closes the connections it held.
func (fp *faultProxy) remove(name string) {
	fp.t.Helper()
	if err := fp.proxy.Toxics.RemoveToxic(context.Background(), name); err != nil {
		fp.t.Fatalf("fault proxy: removing toxic %s: %v", name, err)
	}
}

// removeBoth removes the toxics addBoth added.
func (fp *faultProxy) removeBoth(name string) {
	fp.t.Helper()
	fp.remove(name + "_up")
	fp.remove(name + "_down")
}

// reset cuts every connection through the proxy with a TCP RST on both sides (see
// [lingerToxic]) and listens again on the same port at once: new connections are refused only
// for the moment between the two.
func (fp *faultProxy) reset() {
	fp.t.Helper()
	from := time.Now()
	fp.proxy.Stop()
	if err := fp.proxy.Start(); err != nil {
		fp.t.Fatalf("fault proxy: listening again on %s: %v", fp.addr(), err)
	}
	fp.mu.Lock()
	fp.resets = append(fp.resets, timeSpan{from, time.Now()})
	fp.mu.Unlock()
}

// resetDuring reports whether a reset overlapped [from, to].
func (fp *faultProxy) resetDuring(from, to time.Time) bool {
	fp.mu.Lock()
	defer fp.mu.Unlock()
	for _, r := range fp.resets {
		if r.overlaps(from, to) {
			return true
		}
	}
	return false
}
